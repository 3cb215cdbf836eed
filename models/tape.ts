/**
 * One forward pass on the tape, several backward passes from it. `tf.grads` runs its function once
 * per call, so explaining a batch with two backward rules (the original gradient and the
 * backward-hook variant's; the plain ReLU gradient and DeepLift's Rescale rule) paid one forward
 * pass per rule. Here the forward pass runs once under the engine's tape and the tape is walked once
 * per rule; ops whose gradient depends on the rule read it when the walk reaches them.
 *
 * The walk is the engine's own (tfjs-core `gradients`: nodes that come from the sources and lead to
 * the output, inputs not depending on a source pruned, reverse order, contributions summed as they
 * arrive), so a walk gives the bits `tf.grads` gives. It uses the engine's tape state
 * (`startTape`/`endTape`/`state.activeTape`, tfjs-core 4.x, pinned by the lock file); the results
 * are checked against `tf.grads` in test/models/tape.test.ts. Saved tensors stay for every walk
 * (`retainingSaved`: our custom ops release them as the walk passes otherwise) and are freed after
 * the last one, also when a walk fails.
 */
import { retainingSaved, tf, type Tensor } from './tf.js';

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

interface EngineTape {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  tidy<T>(name: string, f: () => T): T;
}

/** The nodes of `tape` on a path from a source to `y`, each with only the inputs that depend on a source. */
function pathsFromSources(tape: readonly TapeNode[], sources: readonly Tensor[], y: Tensor): TapeNode[] {
  const fromSource = new Set<number>(sources.map((s) => s.id));
  const nodesFrom = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromSource.has(t.id))) {
      nodesFrom.add(node.id);
      for (const o of node.outputs) fromSource.add(o.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesTo = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      nodesTo.add(node.id);
      for (const t of Object.values(node.inputs)) toY.add(t.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFrom.has(node.id) || !nodesTo.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromSource.has(t.id)) inputs[name] = t;
    out.push({ ...node, inputs });
  }
  return out;
}

/** One walk back from `y` (gradient one) to `sources`. */
function walk(engine: EngineTape, nodes: readonly TapeNode[], sources: readonly Tensor[], y: Tensor): Tensor[] {
  return engine.tidy('backward', () => {
    const grads = new Map<number, Tensor>([[y.id, tf.onesLike(y)]]);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i]!;
      if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      const inputGrads = node.gradient(node.outputs.map((o) => grads.get(o.id) ?? null));
      for (const [name, x] of Object.entries(node.inputs)) {
        const f = inputGrads[name];
        if (!f) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}.`);
        const dx = engine.tidy(name, f);
        if (!tf.util.arraysEqual(dx.shape, x.shape)) throw new Error(`gradient of ${node.kernelName}'s input ${name} has shape ${dx.shape}, not ${x.shape}`);
        const before = grads.get(x.id);
        if (!before) grads.set(x.id, dx);
        else {
          grads.set(x.id, tf.add(before, dx));
          before.dispose();
        }
      }
    }
    return sources.map((s) => grads.get(s.id) ?? tf.zerosLike(s));
  });
}

/**
 * Runs `f` (a scalar of `sources`) once on the tape, then for each of `passes` calls `before(i)`
 * (which sets the rule the ops' gradients read) and walks the tape: the gradients of the scalar
 * with respect to `sources`, one array per pass. `after(i, grads)` takes each pass's gradients as
 * soon as they exist (what it makes from them stays; the gradients themselves are disposed when it
 * returns), so a pass's full-size gradients never outlive it. `f`'s result is disposed.
 */
export function walkTapeRepeatedly(f: () => Tensor, sources: readonly Tensor[], passes: number, before: (i: number) => void, after: (i: number, grads: Tensor[]) => void): void {
  const engine = tf.engine() as unknown as EngineTape;
  if (engine.state.gradientDepth !== 0) throw new Error('walkTapeRepeatedly cannot run inside another gradient computation');
  engine.startTape();
  let y: Tensor;
  try {
    y = engine.tidy('forward', f);
  } catch (err) {
    dropTape(engine);
    throw err;
  } finally {
    engine.endTape();
  }
  try {
    if (y.size !== 1) throw new Error(`the tape's output must be a scalar, got shape ${y.shape}`);
    const nodes = pathsFromSources(engine.state.activeTape ?? [], sources, y);
    if (!nodes.length) throw new Error('the output does not depend on the sources');
    for (let i = 0; i < passes; i++) {
      before(i);
      const grads = retainingSaved(() => walk(engine, nodes, sources, y));
      try {
        after(i, grads);
      } finally {
        for (const g of grads) g.dispose();
      }
    }
  } finally {
    y.dispose();
    dropTape(engine);
  }
}

/** Frees what the tape's ops saved for their backward passes, and the tape. */
function dropTape(engine: EngineTape): void {
  for (const node of engine.state.activeTape ?? []) for (const t of node.saved ?? []) t.dispose();
  engine.state.activeTape = null;
}
