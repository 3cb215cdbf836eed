/**
 * PyTorch module paths from ONNX node names, and what sds needs from them: which ONNX tensor is a
 * module's output (a layer) and which Conv nodes are hook points (SPEC 2). torch.onnx names nodes
 * `/<scope>/<OpType>`, one scope component per module level, an indexed child as
 * `<parent component>.<index>`: the module path joins the last dot-separated part of each component
 * (`/features/features.4/features.4.1/block/Conv` -> `features.4.1.block`).
 */
import type { ConstTensor, OnnxGraph, OnnxNode } from './graph.js';
import { Attrs } from './graph.js';

/** The module path of every enclosing module, outermost first ([] for the model's own forward). */
export function moduleAncestors(nodeName: string): string[] {
  if (!nodeName.startsWith('/')) return [];
  const components = nodeName.split('/').slice(1, -1);
  const out: string[] = [];
  let path = '';
  for (const c of components) {
    if (!c) continue;
    const part = c.slice(c.lastIndexOf('.') + 1);
    path = path ? `${path}.${part}` : part;
    out.push(path);
  }
  return out;
}

/** The module a node belongs to ('' for the root). */
export function modulePath(nodeName: string): string {
  return moduleAncestors(nodeName).at(-1) ?? '';
}

export interface LayerInfo {
  /** Module path, or 'input'. */
  name: string;
  /** The ONNX tensor that equals the module's output. */
  tensor: string;
  /** The node producing it (undefined for 'input'). */
  node?: string;
}

/**
 * Every module of the graph with its output: the output of the last node inside the module's scope
 * whose value is used outside it (by a node outside the scope, or as a graph output). In forward
 * order ('input' first), an enclosing module before a nested one that ends on the same tensor.
 */
export function findLayers(g: OnnxGraph): LayerInfo[] {
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const ancestors = g.nodes.map((n) => new Set(moduleAncestors(n.name)));
  const modules = new Map<string, number>(); // path -> depth
  for (const n of g.nodes) moduleAncestors(n.name).forEach((m, d) => modules.set(m, d));
  const found: (LayerInfo & { at: number; depth: number })[] = [];
  for (const [m, depth] of modules) {
    const inside = (n: OnnxNode) => ancestors[n.index]!.has(m);
    let last: { node: OnnxNode; tensor: string } | undefined;
    for (const n of g.nodes) {
      if (!inside(n)) continue;
      const used = n.outputs.find((o) => o && (graphOutputs.has(o) || (consumers.get(o) ?? []).some((c) => !inside(c))));
      if (used) last = { node: n, tensor: used };
    }
    if (last) found.push({ name: m, tensor: last.tensor, node: last.node.name, at: last.node.index, depth });
  }
  found.sort((a, b) => a.at - b.at || a.depth - b.depth);
  const input = g.inputs[0]!.name;
  // no module scopes (a graph exported from a frozen TorchScript module, or written by another
  // tool): every node's output is a layer, named by the node
  if (!found.length) {
    const seen = new Set<string>();
    for (const n of g.nodes) {
      const name = nodeLayerName(n.name || n.outputs[0] || `node${n.index}`);
      if (n.outputs[0] && !seen.has(name)) {
        seen.add(name);
        found.push({ name, tensor: n.outputs[0], node: n.name, at: n.index, depth: 0 });
      }
    }
  }
  return [{ name: 'input', tensor: input }, ...found.map(({ name, tensor, node }) => ({ name, tensor, node }))];
}

/** A node name as a layer name (`/Relu_1` -> `Relu_1`, `/a/b/Conv` -> `a.b.Conv`): what `--layers` accepts. */
export function nodeLayerName(node: string): string {
  return node.replace(/^\/+/, '').replace(/\//g, '.').replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'node';
}

/** A stride-2 convolution (SPEC 2), in the terms of the sidecar JSON of the ONNX fixtures. */
export interface OnnxHookPoint {
  /** PyTorch module path. */
  module: string;
  node: string;
  output: string;
  input: string;
  weight: string;
  bias?: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /** ONNX pads: [top, left, bottom, right]. */
  pads: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

/** Conv attributes with ONNX defaults; undefined when the weight is not a constant of rank 4. */
export function convGeometry(
  g: OnnxGraph,
  n: OnnxNode,
  // weights are initializers, or Constant nodes (the export of a frozen TorchScript module)
  constant: (name: string) => ConstTensor | undefined = (name) => g.initializers.get(name),
): Omit<OnnxHookPoint, 'module' | 'node' | 'output' | 'input' | 'weight' | 'bias'> | undefined {
  const w = constant(n.inputs[1] ?? '');
  if (!w || w.dims.length !== 4) return undefined;
  const a = new Attrs(n);
  const [o, ig, kh, kw] = w.dims as [number, number, number, number];
  const groups = a.int('group', 1);
  const s = a.ints('strides', [1, 1]);
  const d = a.ints('dilations', [1, 1]);
  const p = a.ints('pads', [0, 0, 0, 0]);
  return {
    inChannels: ig * groups,
    outChannels: o,
    kernel: [kh, kw],
    stride: [s[0] ?? 1, s[1] ?? 1],
    pads: [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0],
    dilation: [d[0] ?? 1, d[1] ?? 1],
    groups,
  };
}

/**
 * The hook points: Conv nodes with strides [2, 2], in node order (for torch.onnx exports node
 * order follows module order; the fixtures' sidecars confirm it for every model there).
 */
export function findHookPoints(g: OnnxGraph): OnnxHookPoint[] {
  const out: OnnxHookPoint[] = [];
  for (const n of g.nodes) {
    if (n.opType !== 'Conv') continue;
    const geo = convGeometry(g, n);
    if (!geo || geo.stride[0] !== 2 || geo.stride[1] !== 2) continue;
    out.push({ module: modulePath(n.name) || n.name, node: n.name, output: n.outputs[0]!, input: n.inputs[0]!, weight: n.inputs[1]!, ...(n.inputs[2] ? { bias: n.inputs[2] } : {}), ...geo });
  }
  return out;
}
