/**
 * Runs an ONNX graph on TensorFlow.js: `OnnxModel` compiles every node once (weights become tensors
 * it owns), then `forward` walks the nodes in order with NHWC activations, releasing each
 * intermediate after its last use (and everything on an error, through tf.tidy). Hooks see every
 * Conv, ReLU and MaxPool, and every named layer (a PyTorch module path, see scope.ts), so variants
 * and attribution methods can wrap the executor as they wrap the hand-written models.
 */
import { SdsError } from '../../core/errors.js';
import { forgetRotations } from '../conv-gradients.js';
import type { ForwardHooks } from '../hooks.js';
import { nchwToNhwc, nhwcToNchw } from '../layout.js';
import type { LayerStart, Model, ModelKind, Normalization } from '../model.js';
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import type { ConstTensor, OnnxGraph } from './graph.js';
import { compileNode, reluOp, runtimeInputs, type CompileContext, type CompiledNode, type OnnxConv } from './ops.js';
import { unsupported } from './proto.js';
import { findLayers, type LayerInfo, type OnnxHookPoint } from './scope.js';

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

export interface OnnxModelOptions {
  /** The input normalization the model was trained with (ONNX files do not record it); default ImageNet's. */
  normalization?: Normalization;
}

/** Ops that are linear in their runtime input (or route it, like max-pool): DeepLift's Rescale rule needs only the ReLUs. */
const DEEPLIFT_TRANSPARENT = new Set([
  'Conv', 'BatchNormalization', 'Add', 'Sub', 'Gemm', 'MatMul', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze',
  'Concat', 'GlobalAveragePool', 'AveragePool', 'ReduceMean', 'Pad', 'Identity', 'Dropout', 'Constant', 'Shape', 'Gather',
  'Slice', 'Cast', 'ConstantOfShape', 'Expand', 'Resize', 'Upsample', 'Split', 'Relu', 'MaxPool',
]);

/**
 * An ONNX graph as a `Model` (models/model.ts): the variants and attribution methods wrap it as they
 * wrap the hand-written architectures. Layers are PyTorch module paths with a spatial output; hook
 * points are the stride-2 Conv nodes; a probe pass at the declared input size (224 px when it is
 * symbolic) finds which modules have a spatial output, the output's kind and the class count.
 */
export class OnnxModel implements Model {
  readonly arch = 'onnx' as const;
  readonly file: string;
  readonly kind: ModelKind;
  readonly numClasses: number;
  readonly normalization: Normalization;
  readonly inputName: string;
  readonly outputName: string;
  /** Declared input dims (C, H, W); H and W may be symbolic. */
  readonly inputDims: readonly (number | string | undefined)[];
  /**
   * 'input', then every module path whose output is an image-shaped tensor larger than 1x1, in
   * forward order (modules ending on the same tensor, like `layer1` and `layer1.1`, are all listed).
   */
  readonly layerNames: readonly string[];
  /** The stride-2 convolutions by conv name (module path), in node order. */
  readonly hookPoints: readonly string[];
  /** The hook points as the graph states them (node, tensors, geometry). */
  readonly hookPointNodes: readonly OnnxHookPoint[];
  readonly convs: ReadonlyMap<string, OnnxConv>;
  readonly deepLiftObstacle?: string;
  /** Every module of the graph with its output tensor, spatial or not ('input' first). */
  readonly modules: readonly LayerInfo[];
  private readonly layersByTensor = new Map<string, string[]>();
  private readonly steps: Step[] = [];
  /** Step index that produces each tensor (the graph input: -1). */
  private readonly producedAt = new Map<string, number>();
  private readonly lastUse = new Map<string, number>();
  private readonly owned: Tensor[] = [];

  constructor(graph: OnnxGraph, options: OnnxModelOptions = {}) {
    this.file = graph.file;
    this.normalization = options.normalization ?? 'imagenet';
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
    // nodes DeepLift's rules do not cover, by output tensor; shape arithmetic (int32) is dropped after the probe
    const obstacles: { tensor: string; text: string }[] = [];
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
        if (compiled.kind === 'conv') convs.set(compiled.conv.name, compiled.conv);
        const inputs = runtimeInputs(n, ctx);
        const gate = (n.opType === 'Mul' || n.opType === 'Div') && inputs.length > 1;
        if (gate || !DEEPLIFT_TRANSPARENT.has(n.opType)) obstacles.push({ tensor: n.outputs[0]!, text: `node ${n.name} (${n.opType}${gate ? ' of two computed tensors' : ''})` });
        this.producedAt.set(n.outputs[0]!, this.steps.length);
        this.steps.push({ node: n.name, opType: n.opType, compiled, inputs, output: n.outputs[0]!, frees: [] });
      }
      if (!produced.has(this.outputName)) throw unsupported(graph.file, `no node produces the output ${this.outputName}`);
    } catch (err) {
      this.dispose();
      throw err;
    }
    this.producedAt.set(this.inputName, -1);
    this.convs = convs;
    // each tensor is released at the step that reads it last (never the output)
    this.steps.forEach((s, i) => s.inputs.forEach((t) => this.lastUse.set(t, i)));
    for (const [t, i] of this.lastUse) if (t !== this.outputName) this.steps[i]!.frees.push(t);
    // SPEC 2: the stride-2 convolutions, in node order (for torch.onnx exports, module order)
    this.hookPointNodes = this.steps.flatMap((s): OnnxHookPoint[] => {
      if (s.compiled.kind !== 'conv' || s.compiled.conv.stride[0] !== 2 || s.compiled.conv.stride[1] !== 2) return [];
      const { module, node, weight, bias, inChannels, outChannels, kernel, stride, pads, dilation, groups } = s.compiled.conv;
      return [{ module, node, output: s.output, input: s.inputs[0]!, weight, ...(bias ? { bias } : {}), inChannels, outChannels, kernel, stride, pads, dilation, groups }];
    });
    const byNode = new Map([...convs.values()].map((c) => [c.node, c.name]));
    this.hookPoints = this.hookPointNodes.map((h) => byNode.get(h.node)!);
    this.modules = findLayers(graph);
    for (const l of this.modules) this.layersByTensor.set(l.tensor, [...(this.layersByTensor.get(l.tensor) ?? []), l.name]);
    try {
      const probe = this.probe();
      this.kind = probe.kind;
      this.numClasses = probe.numClasses;
      this.layerNames = probe.layers;
      const obstacle = obstacles.find((o) => probe.dtypes.get(o.tensor) !== 'int32');
      if (obstacle) this.deepLiftObstacle = obstacle.text;
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /** One pass at the declared size: which modules are spatial, and what the output is. */
  private probe(): { kind: ModelKind; numClasses: number; layers: string[]; dtypes: Map<string, string> } {
    const [c, h, w] = this.inputDims.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 3 : 224));
    const spatial = new Set<string>(['input']);
    const dtypes = new Map<string, string>();
    let shape: number[] = [];
    tf.tidy(() => {
      const hooks: ForwardHooks = {
        layer: (name, y) => {
          if (y.rank === 4 && (y.shape[1]! > 1 || y.shape[2]! > 1 || h! * w! <= 32 * 32)) spatial.add(name);
          return y;
        },
      };
      const out = this.execute(new Map([[this.inputName, tf.zeros([1, h!, w!, c!])]]), 0, hooks, undefined, (tensor, t) => dtypes.set(tensor, t.dtype));
      shape = out.shape;
    });
    let kind: ModelKind;
    let numClasses: number;
    if (shape.length === 2) [kind, numClasses] = ['classifier', shape[1]!];
    else if (shape.length === 4) [kind, numClasses] = ['segmentation', shape[3]!];
    else throw unsupported(this.file, `the output ${this.outputName} has shape (${shape.join(', ')}); sds explains classifiers (N, K) and segmentation models (N, K, H, W)`);
    return { kind, numClasses, layers: this.modules.map((l) => l.name).filter((l) => spatial.has(l)), dtypes };
  }

  /** The square input side the file declares (its export size), when it declares numbers. */
  declaredSide(): number | undefined {
    const [, h, w] = this.inputDims;
    return typeof h === 'number' && h === w && h > 0 ? h : undefined;
  }

  /** The ONNX tensor holding a module's output (any module, spatial or not). */
  layerTensor(name: string): string {
    const l = this.modules.find((x) => x.name === name);
    if (!l) throw new SdsError('BAD_ARGUMENT', `unknown layer "${name}" for ${this.file}`, { suggestion: `layers are module paths such as ${this.layerNames.slice(1, 4).join(', ')}` });
    return l.tensor;
  }

  private assertLayer(layer: string): void {
    if (!this.layerNames.includes(layer)) {
      throw new SdsError('BAD_ARGUMENT', `unknown layer "${layer}" for ${this.file}`, { suggestion: `use one of: ${this.layerNames.join(', ')}` });
    }
  }

  /** Classifier: logits (N,K). Segmentation: logits (N,H,W,K). */
  forward(x: Tensor4D | NchwBatch, hooks: ForwardHooks = {}): Tensor {
    const input = x instanceof tf.Tensor ? x : undefined;
    if (input) return this.execute(new Map([[this.inputName, input]]), 0, hooks);
    return tf.tidy(() => this.execute(new Map([[this.inputName, this.toNhwc(x as NchwBatch)]]), 0, hooks));
  }

  forwardTo(layer: string, x: Tensor4D, hooks: ForwardHooks = {}): Tensor4D {
    this.assertLayer(layer);
    return this.execute(new Map([[this.inputName, x]]), 0, hooks, this.layerTensor(layer)) as Tensor4D;
  }

  prepareFrom(layer: string, x: Tensor4D, hooks: ForwardHooks = {}): LayerStart {
    this.assertLayer(layer);
    const tensor = this.layerTensor(layer);
    const at = this.producedAt.get(tensor)!;
    // what the steps after the layer read besides it: made below it, so fixed by x (U-Net skips)
    const live = [...this.producedAt].filter(([t, i]) => i <= at && t !== tensor && (this.lastUse.get(t) ?? -1) > at).map(([t]) => t);
    const kept = new Map<string, Tensor>();
    let value: Tensor4D | undefined;
    try {
      this.execute(new Map([[this.inputName, x]]), 0, hooks, tensor, (name, t) => {
        if (name === tensor) value = tf.keep(tf.clone(t)) as Tensor4D;
        else if (live.includes(name)) kept.set(name, tf.keep(tf.clone(t)));
      }).dispose();
    } catch (err) {
      value?.dispose();
      for (const t of kept.values()) t.dispose();
      throw err;
    }
    const tiled = new Map<number, Map<string, Tensor>>([[x.shape[0], kept]]);
    // integer shape values (a batch size read by Shape) cannot be tiled: they are recomputed
    const shapes = [...kept.values()].some((t) => t.dtype === 'int32');
    const forBatch = (n: number) => {
      let m = tiled.get(n);
      if (!m) {
        const k = n / x.shape[0];
        if (!shapes) m = new Map([...kept].map(([name, t]) => [name, tf.keep(tf.tile(t, [k, ...Array(t.rank - 1).fill(1)]))]));
        else {
          const again = new Map<string, Tensor>();
          m = again;
          tf.tidy(() => {
            const xs = tf.tile(x, [k, 1, 1, 1]) as Tensor4D;
            this.execute(new Map([[this.inputName, xs]]), 0, hooks, tensor, (name, t) => {
              if (live.includes(name)) again.set(name, tf.keep(tf.clone(t)));
            });
          });
        }
        tiled.set(n, m);
      }
      return m;
    };
    return {
      value: value!,
      run: (v, h = {}) => this.execute(new Map([...forBatch(v.shape[0]), [tensor, v]]), at + 1, h),
      dispose: () => {
        value!.dispose();
        for (const m of tiled.values()) for (const t of m.values()) t.dispose();
      },
    };
  }

  /**
   * Runs steps `from`.. with `initial` values (the caller's: never released here) and returns the
   * output, or the tensor `until` as soon as it is made (always a new tensor the caller owns).
   * `see` is shown every value as it is made (after the layer hooks).
   */
  private execute(initial: Map<string, Tensor>, from: number, hooks: ForwardHooks, until?: string, see?: (tensor: string, t: Tensor) => void): Tensor {
    return tf.tidy(() => {
      // tensor ids grow: what existed before this pass (the inputs, kept values, a hook's own
      // replacement value) belongs to the caller and is never released here
      const mark = tf.scalar(0);
      const firstId = mark.id;
      mark.dispose();
      const values = new Map(initial);
      const release = (name: string) => {
        const t = values.get(name);
        values.delete(name);
        if (t && t.id > firstId && ![...values.values()].includes(t)) t.dispose();
      };
      const named = (tensor: string, y: Tensor) => {
        if (hooks.layer && y.rank === 4) for (const name of this.layersByTensor.get(tensor) ?? []) y = hooks.layer(name, y as Tensor4D);
        see?.(tensor, y);
        return y;
      };
      // the caller owns what is returned: never one of its own tensors
      const owned = (t: Tensor) => (t.id > firstId ? t : tf.clone(t));
      if (from === 0) {
        values.set(this.inputName, named(this.inputName, values.get(this.inputName)!));
        if (until === this.inputName) return owned(values.get(this.inputName)!);
      }
      for (let i = from; i < this.steps.length; i++) {
        const s = this.steps[i]!;
        const xs = s.inputs.map((name) => {
          const v = values.get(name);
          if (!v) throw new Error(`${this.file}: ${name} is not computed before step ${s.node}`);
          return v;
        });
        const y = named(s.output, this.runStep(s, xs, hooks));
        values.set(s.output, y);
        if (s.output === until) return owned(y);
        for (const t of s.frees) release(t);
      }
      return owned(values.get(this.outputName)!);
    });
  }

  private runStep(s: Step, xs: Tensor[], hooks: ForwardHooks): Tensor {
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
        return hooks.maxPool ? hooks.maxPool(s.node, x, c.pool.apply, c.pool.geometry) : c.pool.apply(x);
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

  /** Host convenience: logits and the named modules' outputs of an NCHW batch, in PyTorch layout. */
  run(x: NchwBatch, capture: readonly string[] = []): OnnxRunResult {
    const tensors = new Map(capture.map((l) => [this.layerTensor(l), l])); // unknown names fail before any work
    const kept = new Map<string, Tensor>();
    let logits: Tensor | undefined;
    try {
      logits = tf.tidy(() =>
        this.execute(new Map([[this.inputName, this.toNhwc(x)]]), 0, {}, undefined, (tensor, t) => {
          if (tensors.has(tensor) && !kept.has(tensor)) kept.set(tensor, tf.keep(tf.clone(t)));
        }),
      );
      const layers = new Map<string, { data: Float32Array; shape: number[] }>();
      for (const name of capture) layers.set(name, toHost(kept.get(this.layerTensor(name))!));
      return { logits: toHost(logits), layers };
    } finally {
      logits?.dispose();
      for (const t of kept.values()) t.dispose();
    }
  }

  dispose(): void {
    for (const t of this.owned) {
      if (t.rank === 4) forgetRotations(t as Tensor4D);
      t.dispose();
    }
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
