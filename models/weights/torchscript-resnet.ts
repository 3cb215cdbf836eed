/**
 * What makes a TorchScript archive equal to sds's native torchvision ResNet, read from its
 * TorchScript source as text (never run):
 *  - a scripted or traced ResNet: its state_dict is the module tree's, but a stride or padding set
 *    on a conv after construction (`model.conv1.stride = (1, 1)`, common for small patches) keeps
 *    every weight shape and changes the network, so each conv's call, the stem's max-pool and the
 *    BatchNorm eps are checked against torchvision's;
 *  - a frozen one (torch.jit.freeze: WSInfer's zoo): no module tree is left, the forward graph calls
 *    convs on constants with each BatchNorm folded into its conv's weight and bias. The graph is
 *    matched to the ResNet pattern (stem conv, max-pool, residual blocks ending in an add, global
 *    average pool, linear) by data flow and turned back into a state_dict whose BatchNorms are the
 *    identity plus the folded bias; anything that does not match is refused.
 */
import { SdsError } from '../../core/errors.js';
import { clip } from './limits.js';
import { PyTuple, TensorValue, type PyValue } from './torch-pickle.js';
import type { HostTensor, StateDict } from './types.js';

/** Root classes read as a torchvision ResNet from their module tree. */
export const RESNET_CLASSES: ReadonlySet<string> = new Set(['torchvision.models.resnet.ResNet']);
/** Root classes whose frozen graph is matched to the ResNet pattern (timm's ResNet has the same layout). */
export const FROZEN_RESNET_CLASSES: ReadonlySet<string> = new Set(['torchvision.models.resnet.ResNet', 'timm.models.resnet.ResNet']);

/** One module of a TorchScript module tree. */
export interface ScriptModule {
  /** dotted path from the root ('' for the root) */
  path: string;
  /** Python class, TorchScript's mangling dropped */
  cls: string;
  /** its class's TorchScript source, when the archive has it */
  body: string | undefined;
  state: Map<unknown, PyValue>;
}

interface Context {
  /** file name, for messages */
  name: string;
  /** the remedy: the ONNX export of this file */
  hint: string;
}

/** The native BatchNorm's eps (models/layers.ts), which torchvision's ResNet uses. */
const BN_EPS = 1e-5;

function refuse(ctx: Context, what: string): SdsError {
  return new SdsError('UNKNOWN_ARCHITECTURE', `${ctx.name}: ${what}, so it is not the torchvision ResNet sds builds natively`, {
    suggestion: ctx.hint,
    context: { file: ctx.name },
  });
}

// ---------------------------------------------------------------------------------------------
// Reading TorchScript calls

/** The arguments of the call whose '(' is at `open`, split at top-level commas (a trailing empty one dropped). */
function callArgs(text: string, open: number): string[] | undefined {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length && i < open + 4096; i++) {
    const c = text[i];
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') {
      depth--;
      if (depth === 0) {
        const last = text.slice(start, i).trim();
        if (last) args.push(last);
        return args;
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    } else if (c === '\n') return undefined;
  }
  return undefined;
}

/** `[2, 2]` -> [2, 2]; a bare int -> [n, n]. */
function ints(s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  if (/^\d+$/.test(s)) return [Number(s), Number(s)];
  const m = /^\[(\d+(?:, \d+)*)\]$/.exec(s);
  return m ? m[1]!.split(', ').map(Number) : undefined;
}

interface ConvCall {
  input: string;
  weight: string;
  bias: string;
  stride?: number[];
  padding?: number[];
  dilation?: number[];
  groups?: number;
  transposed: boolean;
}

/** torch.conv2d(x, w, b, stride=[1,1], padding=[0,0], dilation=[1,1], groups=1) or torch._convolution(x, w, b, stride, padding, dilation, transposed, output_padding, groups, ...). */
function convCall(fn: string, a: string[]): ConvCall | undefined {
  if (a.length < 3) return undefined;
  const base = { input: a[0]!, weight: a[1]!, bias: a[2]! };
  if (fn === 'conv2d') {
    return { ...base, stride: ints(a[3] ?? '[1, 1]'), padding: ints(a[4] ?? '[0, 0]'), dilation: ints(a[5] ?? '[1, 1]'), groups: Number(a[6] ?? 1), transposed: false };
  }
  if (fn === '_convolution' && a.length >= 9) {
    return { ...base, stride: ints(a[3]), padding: ints(a[4]), dilation: ints(a[5]), groups: Number(a[8]), transposed: a[6] !== 'False' };
  }
  return undefined;
}

/** The first `torch.<fn>(...)` call in `body` for one of `fns`. */
function firstCall(body: string, fns: readonly string[]): { fn: string; args: string[] } | undefined {
  const re = new RegExp(`torch\\.(${fns.join('|')})\\(`, 'g');
  const m = re.exec(body);
  if (!m) return undefined;
  const args = callArgs(body, m.index + m[0].length - 1);
  return args ? { fn: m[1]!, args } : undefined;
}

// ---------------------------------------------------------------------------------------------
// torchvision's geometry

interface Want {
  kernel: number;
  stride: number;
  padding: number;
}

/** Kernel, stride and padding of the conv at `path` in torchvision's ResNet (stride in conv2 for Bottlenecks, v1.5). */
function expectedConv(path: string, bottleneck: boolean): Want | undefined {
  if (path === 'conv1') return { kernel: 7, stride: 2, padding: 3 };
  const m = /^layer([1-4])\.(\d+)\.(conv[123]|downsample\.0)$/.exec(path);
  if (!m) return undefined;
  const s = Number(m[1]) > 1 && m[2] === '0' ? 2 : 1;
  switch (m[3]) {
    case 'conv1': return bottleneck ? { kernel: 1, stride: 1, padding: 0 } : { kernel: 3, stride: s, padding: 1 };
    case 'conv2': return bottleneck ? { kernel: 3, stride: s, padding: 1 } : { kernel: 3, stride: 1, padding: 1 };
    case 'conv3': return { kernel: 1, stride: 1, padding: 0 };
    default: return { kernel: 1, stride: s, padding: 0 };
  }
}

const same = (v: number[] | undefined, n: number) => v !== undefined && v.length === 2 && v[0] === n && v[1] === n;
const show = (v: number[] | undefined) => (v ? `(${v.join(', ')})` : '(unreadable)');

function checkConv(ctx: Context, path: string, c: ConvCall, shape: readonly number[] | undefined, want: Want): void {
  const k = shape?.length === 4 ? [shape[2]!, shape[3]!] : undefined;
  const problems: string[] = [];
  if (!same(k, want.kernel)) problems.push(`kernel ${show(k)} instead of ${want.kernel}x${want.kernel}`);
  if (!same(c.stride, want.stride)) problems.push(`stride ${show(c.stride)} instead of (${want.stride}, ${want.stride})`);
  if (!same(c.padding, want.padding)) problems.push(`padding ${show(c.padding)} instead of (${want.padding}, ${want.padding})`);
  if (!same(c.dilation, 1)) problems.push(`dilation ${show(c.dilation)}`);
  if (c.groups !== 1) problems.push(`groups ${c.groups}`);
  if (c.transposed) problems.push('a transposed convolution');
  if (problems.length) throw refuse(ctx, `its conv ${clip(path)} has ${problems.join(', ')}`);
}

/** max_pool2d(x, [3, 3], [2, 2], [1, 1], ...): kernel, stride, padding as torchvision's stem. */
function stemPoolOk(args: string[] | undefined): boolean {
  return !!args && same(ints(args[1]), 3) && same(ints(args[2]), 2) && same(ints(args[3]), 1) && (args[4] === undefined || same(ints(args[4]), 1)) && (args[5] === undefined || args[5] === 'False');
}

function epsOk(eps: string | undefined): boolean {
  return eps === undefined || Math.abs(Number(eps) - BN_EPS) <= 1e-12;
}

/**
 * Checks a scripted or traced ResNet's module tree against torchvision's: every conv's kernel,
 * stride, padding, dilation and groups, the stem's 3x3/2 max-pool, the average pool, BatchNorm's eps.
 * Keys that torchvision's ResNet lacks are left to buildModel, which names them.
 */
export function checkResNetModules(modules: readonly ScriptModule[], tensors: ReadonlyMap<string, TensorValue>, ctx: Context): void {
  const bottleneck = tensors.has('layer1.0.conv3.weight');
  const byPath = new Map(modules.map((m) => [m.path, m]));
  for (const m of modules) {
    const base = m.cls.slice(m.cls.lastIndexOf('.') + 1);
    if (base === 'Conv2d') {
      const want = expectedConv(m.path, bottleneck);
      if (!want) continue;
      const call = m.body === undefined ? undefined : firstCall(m.body, ['conv2d', '_convolution']);
      const c = call && convCall(call.fn, call.args);
      if (!c) throw refuse(ctx, `the stride and padding of its conv ${clip(m.path)} cannot be read from its TorchScript code`);
      checkConv(ctx, m.path, c, tensors.get(`${m.path}.weight`)?.shape, want);
    } else if (base === 'BatchNorm2d' && m.body !== undefined) {
      const eps = /^ {2}eps : Final\[float\] = (\S+)$/m.exec(m.body)?.[1] ?? firstCall(m.body, ['batch_norm'])?.args[7];
      if (!epsOk(eps)) throw refuse(ctx, `its BatchNorm ${clip(m.path)} has eps ${clip(eps ?? '?')} (sds's is 1e-5)`);
    }
  }
  const pool = byPath.get('maxpool');
  const poolArgs = pool?.body === undefined ? undefined : /\(\s*\w+,\s*\[\d+, \d+\],[^\n]*/.exec(pool.body.slice(pool.body.indexOf('def forward')));
  if (!pool || !pool.cls.endsWith('.MaxPool2d') || !stemPoolOk(poolArgs ? callArgs(poolArgs[0], 0) : undefined)) {
    throw refuse(ctx, `its maxpool is ${pool ? clip(pool.cls) : 'missing'}${pool?.cls.endsWith('.MaxPool2d') ? ' with another kernel, stride or padding than 3, 2, 1' : ''}`);
  }
  const avg = byPath.get('avgpool');
  if (!avg || !avg.cls.endsWith('.AdaptiveAvgPool2d') || (avg.body !== undefined && !avg.body.includes('[1, 1]'))) {
    throw refuse(ctx, `its avgpool is ${avg ? clip(avg.cls) : 'missing'}, not AdaptiveAvgPool2d((1, 1))`);
  }
}

// ---------------------------------------------------------------------------------------------
// Frozen graphs

interface Op {
  out: string;
  fn: string;
  args: string[];
}

/** The forward method's input name and its `name = torch.fn(args)` statements, in order. */
function parseForward(body: string, ctx: Context): { input: string; ops: Op[]; result?: string } {
  const at = body.indexOf('  def forward(');
  const sig = at < 0 ? null : /def forward\(self[^,)]*,\s*(\w+): Tensor\)/.exec(body.slice(at));
  if (!sig) throw refuse(ctx, 'its frozen graph has no forward(self, x: Tensor) to read');
  const lines = body.slice(at).split('\n');
  const ops: Op[] = [];
  let result: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^ {2}def /.test(line)) break; // the next method
    const m = /^\s+(\w+) = torch\.(\w+)\(/.exec(line);
    if (m) {
      const args = callArgs(line, m[0].length - 1);
      if (args) ops.push({ out: m[1]!, fn: m[2]!, args });
      continue;
    }
    const r = /^\s+return (\w+)$/.exec(line);
    if (r) result = r[1];
  }
  return { input: sig[1]!, ops, result };
}

const CONSTANT = /^CONSTANTS\.c(\d+)$/;

interface Conv {
  op: Op;
  call: ConvCall;
  /** BatchNorm applied right after it (a graph frozen without folding), or undefined */
  bn?: Op;
  /** the value after conv (and BatchNorm) */
  out: string;
}

interface Block {
  convs: Conv[];
  downsample?: Conv;
  input: string;
  /** relu(add) */
  output: string;
}

/**
 * The state_dict of a frozen ResNet graph (`body`: the root class's source; `constants`: the
 * unpickled constants.pkl). BatchNorms become identity maps (weight 1, mean 0, variance 1 - eps:
 * exactly 1/sqrt(var + eps) = 1 in float32) carrying the folded bias.
 */
export function frozenResNet(body: string, constants: PyValue, decode: (key: string, t: TensorValue) => HostTensor, ctx: Context): StateDict {
  const { input, ops, result } = parseForward(body, ctx);
  const consts = constants instanceof PyTuple ? constants.items : [];
  const producer = new Map<string, Op>();
  for (const op of ops) producer.set(op.out, op);

  const convs = new Map<Op, Conv>();
  for (const op of ops) {
    if (op.fn !== 'conv2d' && op.fn !== '_convolution') continue;
    const call = convCall(op.fn, op.args);
    if (!call || !CONSTANT.test(call.weight)) throw refuse(ctx, `its frozen graph has a convolution sds cannot read (${clip(op.out)} = torch.${op.fn}(...))`);
    convs.set(op, { op, call, out: op.out });
  }
  for (const op of ops) {
    if (op.fn !== 'batch_norm') continue;
    const c = convs.get(producer.get(op.args[0]!)!);
    if (!c || c.bn) throw refuse(ctx, `its frozen graph has a BatchNorm (${clip(op.out)}) that does not follow a convolution`);
    if (!epsOk(op.args[7])) throw refuse(ctx, `its frozen graph has a BatchNorm with eps ${clip(op.args[7] ?? '?')} (sds's is 1e-5)`);
    c.bn = op;
    c.out = op.out;
  }
  /** The conv (with its BatchNorm) whose output is `v`. */
  const convOf = (v: string): Conv | undefined => {
    const p = producer.get(v);
    if (!p) return undefined;
    const c = convs.get(p) ?? (p.fn === 'batch_norm' ? convs.get(producer.get(p.args[0]!)!) : undefined);
    return c && c.out === v ? c : undefined;
  };
  const reluIn = (v: string): string | undefined => {
    const p = producer.get(v);
    return p && (p.fn === 'relu' || p.fn === 'relu_') ? p.args[0] : undefined;
  };
  const reluAfter = new Map<string, string>();
  for (const o of ops) if ((o.fn === 'relu' || o.fn === 'relu_') && o.args[0] !== undefined && !reluAfter.has(o.args[0])) reluAfter.set(o.args[0], o.out);
  const reluOf = (v: string): string | undefined => reluAfter.get(v);
  /** conv -> relu -> conv ... back from `v` to the first value no conv of the chain produced. */
  const chain = (v: string): { convs: Conv[]; input: string } => {
    const found: Conv[] = [];
    let cur = v;
    for (;;) {
      const c = convOf(cur);
      if (!c || found.length >= 4) return { convs: found, input: cur };
      found.unshift(c);
      const r = reluIn(c.call.input);
      if (r !== undefined && convOf(r)) cur = r;
      else return { convs: found, input: c.call.input };
    }
  };

  // Stem: conv(x) -> relu -> max_pool2d(3, 2, 1)
  const stem = [...convs.values()][0];
  if (!stem || stem.call.input !== input) throw refuse(ctx, 'its frozen graph does not start with a convolution of the input');
  const stemRelu = reluOf(stem.out);
  const pool = ops.find((o) => o.fn === 'max_pool2d' && o.args[0] === stemRelu);
  if (!stemRelu || !pool || !stemPoolOk(pool.args)) throw refuse(ctx, 'its frozen graph has no ReLU and 3x3 stride-2 max-pool after the first convolution');

  // Residual blocks: one per add, in order, each starting where the previous one ended.
  const blocks: Block[] = [];
  let at = pool.out;
  for (const add of ops.filter((o) => o.fn === 'add' || o.fn === 'add_')) {
    const where = `the residual add ${clip(add.out)}`;
    if (add.args.length < 2 || (add.args[2] !== undefined && add.args[2] !== '1' && add.args[2] !== 'alpha=1')) throw refuse(ctx, `its frozen graph has an add sds cannot read (${where})`);
    const [a, b] = [chain(add.args[0]!), chain(add.args[1]!)];
    const [main, other] = a.convs.length >= b.convs.length ? [a, b] : [b, a];
    if (main.convs.length < 2 || main.convs.length > 3 || other.convs.length > 1 || other.input !== main.input) {
      throw refuse(ctx, `its frozen graph's ${where} does not join a block of 2-3 convolutions with its input or a 1x1 downsample`);
    }
    if (main.input !== at) throw refuse(ctx, `its frozen graph's ${where} does not continue from the block before it`);
    const output = reluOf(add.out);
    if (!output) throw refuse(ctx, `its frozen graph has no ReLU after ${where}`);
    blocks.push({ convs: main.convs, downsample: other.convs[0], input: main.input, output });
    at = output;
  }
  const bottleneck = blocks[0]?.convs.length === 3;
  if (!blocks.length || blocks.some((b) => b.convs.length !== (bottleneck ? 3 : 2))) throw refuse(ctx, 'its frozen graph mixes residual blocks of different kinds');

  // Head: global average pool -> flatten -> linear
  const gap = ops.find((o) => o.args[0] === at && ((o.fn === 'adaptive_avg_pool2d' && same(ints(o.args[1]), 1)) || (o.fn === 'mean' && /^\[(-1, -2|-2, -1|2, 3|3, 2)\]$/.test(o.args[1] ?? ''))));
  const flat = gap && (gap.fn === 'mean' && gap.args[2] !== 'True' ? gap : ops.find((o) => o.fn === 'flatten' && o.args[0] === gap.out && (o.args[1] ?? '0') === '1'));
  const linear = flat && ops.find((o) => o.fn === 'linear' && o.args[0] === flat.out);
  if (!linear || !CONSTANT.test(linear.args[1] ?? '') || linear.out !== result) {
    throw refuse(ctx, 'its frozen graph does not end in global average pooling, flatten and one linear layer returning the logits');
  }
  const used = new Set<Conv>([stem, ...blocks.flatMap((b) => [...b.convs, ...(b.downsample ? [b.downsample] : [])])]);
  if (used.size !== convs.size) throw refuse(ctx, `its frozen graph has ${convs.size - used.size} convolution(s) outside the ResNet pattern`);

  // Names: a block with a downsample (and the first) opens a stage.
  const named: [string, Conv][] = [['conv1', stem]];
  let stage = 0;
  let index = 0;
  for (const [i, b] of blocks.entries()) {
    if (i === 0 || b.downsample) {
      stage++;
      index = 0;
    }
    const p = `layer${stage}.${index++}`;
    b.convs.forEach((c, j) => named.push([`${p}.conv${j + 1}`, c]));
    if (b.downsample) named.push([`${p}.downsample.0`, b.downsample]);
  }
  if (stage !== 4) throw refuse(ctx, `its frozen graph has ${stage} stages of residual blocks, not 4`);

  // Tensors, each constant decoded once.
  const cache = new Map<string, HostTensor>();
  const constant = (ref: string, key: string): HostTensor => {
    const n = CONSTANT.exec(ref);
    const v = n ? consts[Number(n[1])] : undefined;
    if (!(v instanceof TensorValue)) throw refuse(ctx, `its frozen graph's ${clip(ref)} (for ${key}) is not a tensor of constants.pkl`);
    let t = cache.get(ref);
    if (!t) cache.set(ref, (t = decode(key, v)));
    return t;
  };
  const vector = (n: number, f: (i: number) => number): HostTensor => ({ dtype: 'F32', shape: [n], data: Float32Array.from({ length: n }, (_, i) => f(i)) });
  const sd: StateDict = new Map();
  for (const [path, c] of named) {
    const want = expectedConv(path, bottleneck)!;
    const w = constant(c.call.weight, `${path}.weight`);
    checkConv(ctx, path, c.call, w.shape, want);
    sd.set(`${path}.weight`, w);
    const out = w.shape[0]!;
    const bias = c.call.bias === 'None' ? undefined : constant(c.call.bias, `${path} bias`);
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== out)) throw refuse(ctx, `its frozen graph's bias of ${path} has shape [${bias.shape.join(',')}]`);
    const bn = path.endsWith('downsample.0') ? `${path.slice(0, -1)}1` : path.replace(/conv(\d?)$/, 'bn$1');
    const b = (i: number) => (bias ? (bias.data as Float32Array)[i]! : 0);
    if (c.bn) {
      const [weight, beta, mean, variance] = [1, 2, 3, 4].map((j) => constant(c.bn!.args[j]!, `${bn} (BatchNorm argument ${j})`));
      for (const t of [weight, beta, mean, variance]) if (t!.shape.length !== 1 || t!.shape[0] !== out) throw refuse(ctx, `its frozen graph's BatchNorm after ${path} has a tensor of shape [${t!.shape.join(',')}]`);
      sd.set(`${bn}.weight`, weight!);
      sd.set(`${bn}.bias`, beta!);
      // a conv bias before BatchNorm shifts its mean: BN(x + b) = BN'(x) with mean - b
      sd.set(`${bn}.running_mean`, bias ? vector(out, (i) => (mean!.data as Float32Array)[i]! - b(i)) : mean!);
      sd.set(`${bn}.running_var`, variance!);
    } else {
      sd.set(`${bn}.weight`, vector(out, () => 1));
      sd.set(`${bn}.bias`, vector(out, b));
      sd.set(`${bn}.running_mean`, vector(out, () => 0));
      sd.set(`${bn}.running_var`, vector(out, () => 1 - BN_EPS));
    }
  }
  sd.set('fc.weight', constant(linear.args[1]!, 'fc.weight'));
  const fcOut = sd.get('fc.weight')!.shape[0]!;
  sd.set('fc.bias', linear.args[2] === undefined || linear.args[2] === 'None' ? vector(fcOut, () => 0) : constant(linear.args[2], 'fc.bias'));
  return sd;
}
