/**
 * TorchScript archives (torch.jit.save of torch.jit.script / torch.jit.trace output), read without
 * running anything. The zip is torch.save's (opened by torch-pickle.ts); its data.pkl holds the
 * module tree: one `__torch__.<python class>` object per module whose state dict holds its
 * attributes (submodules, parameters, buffers, plain values), and each class's TorchScript source
 * under code/ lists which attributes are parameters and buffers. Walking the tree in PyTorch's order
 * (own parameters, own buffers, then submodules) gives exactly model.state_dict().
 *
 * sds runs only the architectures it implements, so the root class decides: a torchvision ResNet
 * becomes its state_dict (checked conv by conv against torchvision's geometry, see
 * torchscript-resnet.ts, because a changed stride keeps the state_dict and changes the network); a
 * frozen one (torch.jit.freeze, as WSInfer's zoo ships: no module tree, the weights are constants of
 * the graph) is rebuilt from its graph; any other class is refused with the one line of Python that
 * exports the archive to ONNX, which sds runs for any CNN.
 */
import { basename, dirname, extname, join } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { clip, formatBytes, WEIGHTS_LIMITS } from './limits.js';
import { PyGlobal, PyObject, TensorValue, type PyValue, type TorchArchive } from './torch-pickle.js';
import { checkResNetModules, FROZEN_RESNET_CLASSES, frozenResNet, RESNET_CLASSES, type ScriptModule } from './torchscript-resnet.js';
import type { StateDict } from './types.js';

export interface TorchScriptWeights {
  tensors: StateDict;
  /** `torchscript_class` (the root's Python class) and the archive's extra files (`_extra_files`, e.g. `sds_arch`). */
  metadata: Record<string, string>;
}

/** A TorchScript archive: data.pkl's root is a `__torch__.` object, or the zip has TorchScript code. */
export function isTorchScriptArchive(a: TorchArchive): boolean {
  if (a.root instanceof PyObject && a.root.global.module.startsWith('__torch__')) return true;
  for (const k of a.entries.keys()) if (k.startsWith(`${a.top}code/`)) return true;
  return false;
}

/** The Python class a pickled `__torch__` global names: `torchvision.models.resnet.ResNet` (TorchScript's `___torch_mangle_N` dropped). */
export function pythonClass(g: PyGlobal): string {
  const parts = g.path.split('.').filter((p) => !/^___torch_mangle_\d+$/.test(p));
  if (parts[0] === '__torch__') parts.shift();
  return parts.join('.');
}

/**
 * The line of Python that turns the archive at `path` into an ONNX file beside it (checked with
 * torch 1.13 on scripted, traced and frozen modules), and the --weights that then opens it.
 */
export function onnxExport(path: string): { python: string; onnx: string } {
  const stem = basename(path, extname(path)) || 'model';
  const dir = dirname(path);
  const onnx = dir === '.' && !path.startsWith('./') ? `${stem}.onnx` : join(dir, `${stem}.onnx`);
  const q = (s: string) => JSON.stringify(s); // a JSON string is a valid Python string literal
  return {
    python:
      `torch.onnx.export(torch.jit.load(${q(path)}), torch.zeros(1, 3, 224, 224), ${q(onnx)}, ` +
      `input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}}, opset_version=13)`,
    onnx,
  };
}

function exportHint(path: string): string {
  const e = onnxExport(path);
  return `export it to ONNX, which sds runs for any CNN, with one line of Python (import torch): ${e.python}  and then pass --weights ${e.onnx}`;
}

/** Largest code/ file read (a ResNet50's frozen graph is ~20 KB) and all of them together. */
const CODE_FILE_BYTES = 4 << 20;
const CODE_TOTAL_BYTES = WEIGHTS_LIMITS.pickleBytes;
/** extra/ files (torch.jit.save's _extra_files) read as metadata: small text only. */
const EXTRA_FILE_BYTES = 64 << 10;
const EXTRA_FILES = 64;

/** Reads the archive's TorchScript source, class by class (each file split into its classes once). */
class Sources {
  private readonly files = new Map<string, Map<string, string> | undefined>();
  private total = 0;

  constructor(
    private readonly a: TorchArchive,
    /** the remedy for messages: the ONNX export of this file */
    private readonly hint: string,
  ) {}

  private file(path: string): Map<string, string> | undefined {
    if (this.files.has(path)) return this.files.get(path);
    const entry = this.a.entries.get(path);
    let classes: Map<string, string> | undefined;
    if (entry) {
      if (entry.size > CODE_FILE_BYTES || this.total + entry.size > CODE_TOTAL_BYTES) {
        throw new SdsError('WEIGHTS_TOO_LARGE', `${this.a.name}: its TorchScript code ${clip(path)} is ${formatBytes(entry.size)}; sds reads at most ${formatBytes(CODE_FILE_BYTES)} a file and ${formatBytes(CODE_TOTAL_BYTES)} in all`, {
          suggestion: this.hint,
          context: { file: this.a.name },
        });
      }
      this.total += entry.size;
      const text = new TextDecoder().decode(this.a.read(entry));
      classes = new Map();
      // `class Name(Base):` at the start of a line opens a class; its body runs to the next one.
      for (const chunk of text.split(/\n(?=class )/)) {
        const m = /^class (\w+)\(/.exec(chunk);
        if (m && !classes.has(m[1]!)) classes.set(m[1]!, chunk);
      }
    }
    this.files.set(path, classes);
    return classes;
  }

  /** Source of the class a pickled global names (`class Name(...):` up to the next class), or undefined. */
  classBody(g: PyGlobal): string | undefined {
    return this.file(`${this.a.top}code/${g.module.replace(/\./g, '/')}.py`)?.get(g.name);
  }
}

/** `__parameters__ = ["weight", "bias", ]` and the like, from a class body. */
function nameList(body: string, field: '__parameters__' | '__buffers__'): string[] | undefined {
  const m = new RegExp(`^ {2}${field} = \\[([^\\]\\n]*)\\]`, 'm').exec(body);
  return m ? [...m[1]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]!) : undefined;
}

/** Whether a pickled object is a module (its class derives from Module), as far as the code says. */
function isModule(obj: PyObject, body: string | undefined): boolean {
  if (!obj.global.module.startsWith('__torch__')) return false;
  // Without source, any __torch__ object holding an attribute dict is taken for a module.
  return body === undefined ? obj.state instanceof Map : body.startsWith(`class ${obj.global.name}(Module)`);
}

interface Walked {
  /** state_dict keys in PyTorch's order, their tensors not yet decoded */
  tensors: Map<string, TensorValue>;
  modules: ScriptModule[];
}

/**
 * Modules visited and attributes looked at while walking the tree. A pickle can share one module
 * under several names (memo), so a small file can describe a tree of 2^depth paths: real models
 * have hundreds of modules (a ResNet50 ~150), far below these.
 */
const MAX_MODULES = 100_000;
const MAX_ATTRIBUTES = 4_000_000;

/** The module tree as model.state_dict() walks it: own parameters, own buffers, then each submodule. */
function walkModules(a: TorchArchive, sources: Sources, hint: string): Walked {
  const tensors = new Map<string, TensorValue>();
  const modules: ScriptModule[] = [];
  const ancestors = new Set<PyObject>();
  let attributes = 0;
  const visit = (obj: PyObject, path: string, depth: number): void => {
    const where = path || 'the root module';
    if (depth > WEIGHTS_LIMITS.pickleDepth) throw a.fail(`its modules are nested more than ${WEIGHTS_LIMITS.pickleDepth} deep`);
    if (ancestors.has(obj)) throw a.fail(`module ${clip(where)} contains itself`);
    const state = obj.state;
    if (!(state instanceof Map)) throw a.fail(`module ${clip(where)} (${clip(obj.global.path)}) has no attributes`);
    attributes += state.size;
    if (modules.length >= MAX_MODULES || attributes > MAX_ATTRIBUTES) {
      throw new SdsError('WEIGHTS_TOO_LARGE', `${a.name}: its module tree has more than ${modules.length >= MAX_MODULES ? `${MAX_MODULES} modules` : `${MAX_ATTRIBUTES} attributes`} (modules shared under many names?); real models have hundreds`, {
        suggestion: 'the archive is broken or hostile: get the model from a trusted source',
        context: { file: a.name },
      });
    }
    const body = sources.classBody(obj.global);
    modules.push({ path, cls: pythonClass(obj.global), body, state });
    const prefix = path ? `${path}.` : '';
    const params = body === undefined ? undefined : nameList(body, '__parameters__');
    const buffers = body === undefined ? undefined : nameList(body, '__buffers__');
    // Without the lists (no source), every tensor attribute counts: a plain tensor attribute would
    // then appear too, but a TorchScript module without source cannot be loaded by PyTorch either.
    const own = params && buffers ? [...params, ...buffers] : [...state.keys()].filter((k) => state.get(k) instanceof TensorValue).map(String);
    for (const n of own) {
      const v = state.get(n);
      if (v instanceof TensorValue) tensors.set(`${prefix}${n}`, v);
      else if (v instanceof PyObject) {
        throw new SdsError('WEIGHTS_UNSUPPORTED', `${a.name}: ${clip(`${prefix}${n}`)} is stored as ${clip(pythonClass(v.global))} (a packed or quantized parameter), which sds cannot read`, {
          suggestion: hint,
          context: { file: a.name },
        });
      } // None: an absent optional parameter (a conv without bias), as state_dict() skips it
    }
    ancestors.add(obj);
    for (const [k, v] of state) {
      if (v instanceof PyObject && isModule(v, sources.classBody(v.global))) visit(v, `${prefix}${String(k)}`, depth + 1);
    }
    ancestors.delete(obj);
  };
  visit(a.root as PyObject, '', 0);
  return { tensors, modules };
}

/** torch.jit.save's `_extra_files` (extra/<name>): small UTF-8 texts become metadata, e.g. `sds_arch`. */
function extraFiles(a: TorchArchive): Record<string, string> {
  const out: Record<string, string> = {};
  const prefix = `${a.top}extra/`;
  let n = 0;
  for (const [k, e] of a.entries) {
    if (!k.startsWith(prefix) || e.size > EXTRA_FILE_BYTES || n >= EXTRA_FILES) continue;
    const key = k.slice(prefix.length);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) continue;
    try {
      out[key] = new TextDecoder('utf-8', { fatal: true }).decode(a.read(e)).trim();
      n++;
    } catch {
      // binary extra files are not metadata
    }
  }
  return out;
}

/**
 * The state_dict of a TorchScript archive whose root sds can build natively (a torchvision ResNet,
 * scripted, traced or frozen); any other root is refused with the ONNX export that runs it instead.
 * `path` is the file as the user named it (for the export line in messages).
 */
export function readTorchScript(a: TorchArchive, path: string): TorchScriptWeights {
  const name = a.name;
  const root = a.root;
  if (!(root instanceof PyObject) || !root.global.module.startsWith('__torch__')) {
    throw new SdsError('NOT_A_WEIGHTS_FILE', `${name} has TorchScript code but its data.pkl holds no module (${clip(describeRoot(root))})`, {
      suggestion: 'the archive is damaged: save it again with torch.jit.save, or export the model to ONNX',
      context: { file: name },
    });
  }
  const cls = pythonClass(root.global);
  const hint = exportHint(path);
  // Frozen (torch.jit.freeze): no submodules or tensors left, the weights are constants of the graph.
  const state = root.state instanceof Map ? [...root.state.values()] : [];
  const frozen = !state.some((v) => v instanceof PyObject || v instanceof TensorValue) && [...a.entries.keys()].some((k) => k.startsWith(`${a.top}constants/`));
  const unknown = () =>
    new SdsError('UNKNOWN_ARCHITECTURE', `${name} is a TorchScript archive of ${clip(cls)}${frozen ? ' (frozen with torch.jit.freeze)' : ''}; sds reads TorchScript archives of torchvision ResNets only (it never runs their code)`, {
      suggestion: hint,
      context: { file: name, class: cls },
    });
  if (!RESNET_CLASSES.has(cls) && !FROZEN_RESNET_CLASSES.has(cls)) throw unknown();
  const sources = new Sources(a, hint);
  const metadata = { ...extraFiles(a), torchscript_class: cls };
  const walked = walkModules(a, sources, hint);
  const rootBody = walked.modules[0]?.body;
  if (walked.tensors.size === 0 && rootBody?.includes('CONSTANTS.c')) {
    // torch.jit.freeze: the weights are constants of the graph, BatchNorm folded into the convs.
    const constants = a.entries.get(`${a.top}constants.pkl`);
    if (!constants) throw a.fail('its frozen graph uses CONSTANTS but the zip has no constants.pkl');
    const tensors = frozenResNet(rootBody, a.unpickle(constants, 'constants'), (key, t) => a.tensor(key, t), { name, hint });
    return { tensors, metadata: { ...metadata, torchscript_frozen: 'true' } };
  }
  // timm's ResNet is read only frozen, where its graph is checked op by op.
  if (!RESNET_CLASSES.has(cls)) throw unknown();
  if (walked.tensors.size === 0) {
    throw new SdsError('WEIGHTS_UNSUPPORTED', `${name}: the TorchScript module ${clip(cls)} holds no parameters`, {
      suggestion: hint,
      context: { file: name },
    });
  }
  // Geometry first (cheap, from the code), then decode only what passed.
  checkResNetModules(walked.modules, walked.tensors, { name, hint });
  const tensors: StateDict = new Map();
  for (const [k, t] of walked.tensors) tensors.set(k, a.tensor(k, t));
  return { tensors, metadata };
}

function describeRoot(v: PyValue): string {
  if (v instanceof PyObject) return v.global.path;
  if (v instanceof Map) return 'a dict';
  return v === null ? 'None' : typeof v;
}
