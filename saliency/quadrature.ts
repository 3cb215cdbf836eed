/** Integration rules on [0,1] for Integrated Gradients, as Captum defines them. */

export const IG_RULES = ['gausslegendre', 'riemann_trapezoid'] as const;
export type IgRule = (typeof IG_RULES)[number];

/** Gauss-Legendre nodes and weights on [-1,1], ascending (numpy.polynomial.legendre.leggauss). */
export function legendreGauss(n: number): { nodes: number[]; weights: number[] } {
  if (!Number.isInteger(n) || n < 1) throw new Error(`need n >= 1 nodes, got ${n}`);
  if (n === 1) return { nodes: [0], weights: [2] };
  const nodes: number[] = new Array(n);
  const weights: number[] = new Array(n);
  for (let i = 0; i < Math.ceil(n / 2); i++) {
    let x = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5)); // Tricomi's initial guess
    let dp = 1;
    for (let it = 0; it < 100; it++) {
      // P_n(x) and P_{n-1}(x) by the three-term recurrence, then P_n'(x)
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      dp = (n * (x * p1 - p0)) / (x * x - 1);
      const dx = p1 / dp;
      x -= dx;
      if (Math.abs(dx) < 1e-16) break;
    }
    nodes[i] = -x;
    nodes[n - 1 - i] = x;
    weights[i] = weights[n - 1 - i] = 2 / ((1 - x * x) * dp * dp);
  }
  if (n % 2 === 1) nodes[(n - 1) / 2] = 0;
  return { nodes, weights };
}

/** Points t_k in [0,1] and step sizes w_k, so that integral_0^1 f ~ sum_k w_k f(t_k). */
export function igSteps(n: number, rule: IgRule = 'gausslegendre'): { alphas: number[]; weights: number[] } {
  if (rule === 'gausslegendre') {
    const { nodes, weights } = legendreGauss(n);
    return { alphas: nodes.map((x) => 0.5 * (1 + x)), weights: weights.map((w) => 0.5 * w) };
  }
  if (n < 2) throw new Error('riemann_trapezoid needs at least 2 steps');
  const alphas = Array.from({ length: n }, (_, k) => k / (n - 1));
  const weights = alphas.map((_, k) => (k === 0 || k === n - 1 ? 1 / (2 * (n - 1)) : 1 / (n - 1)));
  return { alphas, weights };
}
