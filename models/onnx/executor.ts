/**
 * Runs an ONNX graph on TensorFlow.js: `OnnxModel` compiles every node once (weights become tensors
 * it owns), then `forward` walks the nodes in order with NHWC activations, releasing each
 * intermediate after its last use (and everything on an error, through tf.tidy). Hooks see every
 * Conv, ReLU and MaxPool, and every named layer (a PyTorch module path, see scope.ts), so variants
 * and attribution methods can wrap the executor as they wrap the hand-written models.
 */
import { SdsError } from '../../core/errors.js';
import { nchwToNhwc, nhwcToNchw } from '../layout.js';
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { ConstTensor, OnnxGraph } from './graph.js';
import { compileNode, reluOp, runtimeInputs, type CompileContext, type CompiledNode, type OnnxConv, type OnnxMaxPool } from './ops.js';
import { unsupported } from './proto.js';
import { findHookPoints, findLayers, type LayerInfo, type OnnxHookPoint } from './scope.js';

/** Hook points of a pass, as models/hooks.ts's ForwardHooks but with the ONNX graph's own conv and pool descriptions. */
export interface OnnxHooks {
  /** Applies `conv` to `x`; `apply` is the node's own convolution. */
  conv?(conv: OnnxConv, x: Tensor4D, apply: (x: Tensor4D) => Tensor4D): Tensor4D;
  /** `name` is the ReLU node's name. */
  relu?(name: string, x: Tensor): Tensor;
  maxPool?(pool: OnnxMaxPool, x: Tensor4D, apply: (x: Tensor4D) => Tensor4D): Tensor4D;
  /** Sees, and may replace, a named layer's output (NHWC for rank 4). Keep a clone to keep it beyond the call. */
  layer?(name: string, y: Tensor): Tensor;
}

/** A host batch in PyTorch layout. */
export interface NchwBatch {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** What `run` returns: host arrays in PyTorch layout (NCHW for rank 4). */
export interface OnnxRunResult {
  logits: { data: Float32Array; shape: number[] };
  layers: Map<string, { data: Float32Array; shape: number[] }>;
}

interface Step {
  node: string;
  opType: string;
  compiled: Exclude<CompiledNode, { kind: 'const' }>;
  inputs: string[];
  output: string;
  /** Tensors whose last use is this step. */
  frees: string[];
}

export class OnnxModel {
  readonly file: string;
  readonly inputName: string;
  readonly outputName: string;
  /** Declared input dims (C, H, W); H and W may be symbolic. */
  readonly inputDims: readonly (number | string | undefined)[];
  readonly hookPoints: readonly OnnxHookPoint[];
  readonly convs: ReadonlyMap<string, OnnxConv>;
  private readonly layers: readonly LayerInfo[];
  private readonly layersByTensor = new Map<string, string[]>();
  private readonly steps: Step[] = [];
  private readonly owned: Tensor[] = [];

  constructor(graph: OnnxGraph) {
    this.file = graph.file;
    if (graph.inputs.length !== 1) throw unsupported(graph.file, `the graph has ${graph.inputs.length} inputs; sds needs one image input`);
    if (graph.outputs.length !== 1) throw unsupported(graph.file, `the graph has ${graph.outputs.length} outputs; sds needs one (the logits)`);
    const input = graph.inputs[0]!;
    if (input.dims.length !== 4) throw unsupported(graph.file, `input ${input.name} has rank ${input.dims.length}; sds needs an image batch (N, C, H, W)`);
    this.inputName = input.name;
    this.inputDims = input.dims.slice(1);
    this.outputName = graph.outputs[0]!.name;
    const constants = new Map<string, ConstTensor>(graph.initializers);
    const ctx: CompileContext = {
      graph,
      constant: (name) => constants.get(name),
      own: (t) => {
        this.owned.push(t);
        return t;
      },
    };
    const convs = new Map<string, OnnxConv>();
    try {
      const produced = new Set<string>([this.inputName, ...constants.keys()]);
      for (const n of graph.nodes) {
        for (const i of n.inputs) {
          if (i && !produced.has(i)) throw unsupported(graph.file, `node ${n.name} (${n.opType}) reads ${i}, which no earlier node or initializer provides`, 'the graph is not in topological order or is damaged; re-export it');
        }
        const compiled = compileNode(n, ctx);
        n.outputs.forEach((o) => o && produced.add(o));
        if (compiled.kind === 'const') {
          constants.set(n.outputs[0]!, compiled.value);
          continue;
        }
        if (n.outputs.filter(Boolean).length !== 1) throw unsupported(graph.file, `node ${n.name} (${n.opType}) has several outputs, which sds does not support`);
        if (compiled.kind === 'conv') convs.set(compiled.conv.node, compiled.conv);
        this.steps.push({ node: n.name, opType: n.opType, compiled, inputs: runtimeInputs(n, ctx), output: n.outputs[0]!, frees: [] });
      }
      if (!produced.has(this.outputName)) throw unsupported(graph.file, `no node produces the output ${this.outputName}`);
    } catch (err) {
      this.dispose();
      throw err;
    }
    this.convs = convs;
    // each tensor is released at the step that reads it last (never the output)
    const lastUse = new Map<string, number>();
    this.steps.forEach((s, i) => s.inputs.forEach((t) => lastUse.set(t, i)));
    for (const [t, i] of lastUse) if (t !== this.outputName) this.steps[i]!.frees.push(t);
    this.hookPoints = findHookPoints(graph);
    this.layers = findLayers(graph);
    for (const l of this.layers) this.layersByTensor.set(l.tensor, [...(this.layersByTensor.get(l.tensor) ?? []), l.name]);
  }

  /** 'input', then every module path of the graph in forward order. */
  layerNames(): readonly string[] {
    return this.layers.map((l) => l.name);
  }

  /** The ONNX tensor holding a layer's output. */
  layerTensor(name: string): string {
    const l = this.layers.find((x) => x.name === name);
    if (!l) throw new SdsError('BAD_ARGUMENT', `unknown layer "${name}" for ${this.file}`, { suggestion: `layers are module paths such as ${this.layers.slice(1, 4).map((x) => x.name).join(', ')}` });
    return l.tensor;
  }

  /**
   * Logits for an NHWC batch (or an NCHW host batch). With `until`, stops once that layer is
   * produced and returns it instead (NHWC for rank 4). Only the returned tensor survives, and it is
   * always a new tensor (a clone where the layer is the input itself).
   */
  forward(x: Tensor4D | NchwBatch, hooks: OnnxHooks = {}, until?: string): Tensor {
    const stopAt = until === undefined ? undefined : this.layerTensor(until);
    return tf.tidy(() => {
      // tensor ids grow: what existed before this pass (the input, a hook's replacement value)
      // belongs to the caller and is never released here
      const mark = tf.scalar(0);
      const firstId = mark.id;
      mark.dispose();
      const input = x instanceof tf.Tensor ? x : this.toNhwc(x);
      const values = new Map<string, Tensor>();
      const release = (name: string) => {
        const t = values.get(name);
        values.delete(name);
        if (t && t.id > firstId && ![...values.values()].includes(t)) t.dispose();
      };
      const named = (tensor: string, y: Tensor) => {
        for (const name of this.layersByTensor.get(tensor) ?? []) if (hooks.layer) y = hooks.layer(name, y);
        return y;
      };
      // the caller owns what is returned: never its own input or a hook's value
      const owned = (t: Tensor) => (t.id > firstId ? t : tf.clone(t));
      values.set(this.inputName, named(this.inputName, input));
      if (stopAt === this.inputName) return owned(values.get(this.inputName)!);
      for (const s of this.steps) {
        const xs = s.inputs.map((i) => values.get(i)!);
        values.set(s.output, named(s.output, this.runStep(s, xs, hooks)));
        if (s.output === stopAt) return owned(values.get(s.output)!);
        for (const t of s.frees) release(t);
      }
      return owned(values.get(this.outputName)!);
    });
  }

  private runStep(s: Step, xs: Tensor[], hooks: OnnxHooks): Tensor {
    const c = s.compiled;
    switch (c.kind) {
      case 'conv': {
        const x = xs[0] as Tensor4D;
        if (x.rank !== 4) throw unsupported(this.file, `node ${s.node} (Conv) got a tensor of rank ${x.rank}`);
        return hooks.conv ? hooks.conv(c.conv, x, c.conv.apply) : c.conv.apply(x);
      }
      case 'relu':
        return hooks.relu ? hooks.relu(s.node, xs[0]!) : reluOp(xs[0] as Tensor4D);
      case 'maxPool': {
        const x = xs[0] as Tensor4D;
        return hooks.maxPool ? hooks.maxPool(c.pool, x, c.pool.apply) : c.pool.apply(x);
      }
      case 'op':
        return c.run(xs);
    }
  }

  private toNhwc(b: NchwBatch): Tensor4D {
    const [n, c, h, w] = b.shape;
    if (b.data.length !== n * c * h * w) throw new SdsError('BAD_INPUT', `input of ${b.data.length} values does not match shape ${b.shape.join('x')}`);
    const want = this.inputDims[0];
    if (typeof want === 'number' && c !== want) throw new SdsError('BAD_INPUT', `${this.file} takes ${want} input channels, the input has ${c}`);
    return tf.tensor4d(nchwToNhwc(b.data, n, c, h, w), [n, h, w, c]);
  }

  /** Host convenience: logits and the named layers' outputs of an NCHW batch, in PyTorch layout. */
  run(x: NchwBatch, capture: readonly string[] = []): OnnxRunResult {
    for (const l of capture) this.layerTensor(l); // unknown names fail before any work
    const kept = new Map<string, Tensor>();
    let logits: Tensor | undefined;
    try {
      logits = this.forward(x, {
        layer: (name, y) => {
          if (capture.includes(name) && !kept.has(name)) kept.set(name, tf.keep(tf.clone(y)));
          return y;
        },
      });
      const layers = new Map<string, { data: Float32Array; shape: number[] }>();
      for (const name of capture) layers.set(name, toHost(kept.get(name)!));
      return { logits: toHost(logits), layers };
    } finally {
      logits?.dispose();
      for (const t of kept.values()) t.dispose();
    }
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
}

/** A tensor as a host array, NHWC rank-4 tensors back to NCHW. */
function toHost(t: Tensor): { data: Float32Array; shape: number[] } {
  const data = t.dataSync() as Float32Array;
  if (t.rank !== 4) return { data: Float32Array.from(data), shape: [...t.shape] };
  const [n, h, w, c] = t.shape as [number, number, number, number];
  return { data: nhwcToNchw(data, n, h, w, c), shape: [n, c, h, w] };
}
