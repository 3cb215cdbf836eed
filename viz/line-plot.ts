/** Minimal SVG line charts: a metric against layers, one line per series (the paper's figs 4-6). */
import sharp from 'sharp';
import { writeFile } from 'node:fs/promises';

export interface Series {
  name: string;
  /** One value per x label; NaN leaves a gap. */
  values: number[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function lineChartSvg(title: string, xLabels: string[], series: Series[], yLabel: string): string {
  const W = 640;
  const H = 380;
  const m = { l: 64, r: 150, t: 36, b: 48 };
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (!all.length) [lo, hi] = [0, 1];
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const x = (i: number) => m.l + (xLabels.length === 1 ? 0.5 : i / (xLabels.length - 1)) * (W - m.l - m.r);
  const y = (v: number) => m.t + (1 - (v - lo) / (hi - lo)) * (H - m.t - m.b);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`;
  svg += `<rect width="${W}" height="${H}" fill="#fff"/>`;
  svg += `<text x="${W / 2 - m.r / 2}" y="20" text-anchor="middle" font-size="15">${esc(title)}</text>`;
  for (const t of niceTicks(lo, hi)) {
    svg += `<line x1="${m.l}" x2="${W - m.r}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`;
    svg += `<text x="${m.l - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`;
  }
  xLabels.forEach((l, i) => (svg += `<text x="${x(i)}" y="${H - m.b + 18}" text-anchor="middle">${esc(l)}</text>`));
  svg += `<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">layer</text>`;
  svg += `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  svg += `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#888"/>`;
  series.forEach((s, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      svg += `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${colour}"/>`;
    });
    svg += `<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`;
    const ly = m.t + 10 + k * 18;
    svg += `<line x1="${W - m.r + 12}" x2="${W - m.r + 32}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"/><text x="${W - m.r + 38}" y="${ly + 4}">${esc(s.name)}</text>`;
  });
  return `${svg}</svg>`;
}

/** Writes `<base>.svg` and `<base>.png`. */
export async function writeLineChart(base: string, title: string, xLabels: string[], series: Series[], yLabel: string): Promise<void> {
  const svg = lineChartSvg(title, xLabels, series, yLabel);
  await writeFile(`${base}.svg`, svg);
  await sharp(Buffer.from(svg)).png().toFile(`${base}.png`);
}
