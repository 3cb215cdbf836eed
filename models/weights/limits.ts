/**
 * Bounds every weights file is held to, so a hostile or broken file is refused with an SdsError
 * before it costs time or memory (issue #14). Each is far above what a real state_dict of the
 * architectures sds runs needs (a ResNet50 / U-Net-ResNet50 has ~320 tensors and ~130 MB of
 * float32); a file past one is refused with WEIGHTS_TOO_LARGE, naming the limit.
 */
const MiB = 1 << 20;

export const WEIGHTS_LIMITS = {
  /** Largest file read at all (Node reads at most 2 GiB into one buffer). */
  fileBytes: 2 ** 31 - 1,
  /**
   * safetensors JSON header: ~100 bytes a tensor, ~30 KB for a ResNet50. Parsing costs up to ~35x
   * its size in memory and ~0.5 s a MiB for the worst JSON, hence 2 MiB (~20,000 tensors).
   */
  safetensorsHeaderBytes: 2 * MiB,
  /** JSON nesting in a safetensors header (a tensor entry needs 3). */
  safetensorsHeaderDepth: 16,
  /**
   * What the deflated entries of one .pt may inflate to, in all: the larger of a floor and a
   * multiple of the file's size. Weights barely compress (~1.1x; torch.save never deflates), so
   * only a bomb gets near it.
   */
  inflateFloorBytes: 64 * MiB,
  inflateRatio: 16,
  /** Deflate cannot expand one byte into more than 1032 (258-byte matches of 2 bits each). */
  deflateMaxRatio: 1032,
  /** Entries in a zip directory (a .pt has one per storage, plus four). */
  zipEntries: 65_536,
  /** data.pkl: ~200 bytes a tensor (a ResNet50's is ~60 KB). */
  pickleBytes: 32 * MiB,
  /** Estimated JS memory the pickle VM may build (objects, strings, stack and memo slots). */
  pickleObjectBytes: 64 * MiB,
  /** MARK nesting and nested tensor subclasses (a state_dict needs < 10). */
  pickleDepth: 1_000,
  /** LONG1/LONG4 integers: 8 bytes hold any int64, 9 any uint64; a state_dict needs no more. */
  pickleIntBytes: 16,
  /** Largest view that repeats stored elements (stride 0, overlapping strides) that is materialized. */
  repeatedViewElements: 1 << 20,
  /**
   * Elements decoded across all tensors, beyond twice their storages' elements: tensors that view
   * the same storage (tied weights, slices) decode it again; a file that multiplies it is refused.
   */
  sharedViewSlackElements: 1 << 20,
} as const;

export type WeightsLimits = typeof WEIGHTS_LIMITS;

/**
 * Bounds on an ONNX file (models/onnx), checked on the protobuf wire before anything is decoded and
 * while initializers are decoded: a hostile file fails with WEIGHTS_TOO_LARGE (a count or size
 * limit) or WEIGHTS_UNSUPPORTED (a rank) naming the limit, before it costs memory. The largest CNN
 * exports have ~5,000 nodes (EfficientNet-B7) and ~1,000 initializers; weights of the models sds
 * runs fit the engine's 4 GiB WASM heap, so 1 GiB of float32 weights is already far beyond them.
 */
export const ONNX_LIMITS = {
  /** Nodes of the main graph. */
  nodes: 100_000,
  /** Initializers of the main graph. */
  initializers: 100_000,
  /** Initializer and tensor-attribute values decoded to float32 or numbers, in all (bytes at 4 a value). */
  initializerBytes: 1 << 30,
  /** Elements of one initializer or tensor attribute, by its dims (before its data is read). */
  tensorElements: 1 << 28,
  /** Rank of an initializer, tensor attribute or any value the executor computes. */
  rank: 8,
  /**
   * Values a tensor keeps in typed protobuf fields (float_data, int64_data, ...), which decode to
   * JS numbers at ~8 bytes each plus the array (raw_data stays a view): exporters put anything
   * large in raw_data.
   */
  typedFieldBytes: 64 * MiB,
  /** Graphs inside attributes inside graphs (If/Loop bodies; sds runs none, but reads past them). */
  subgraphDepth: 8,
  /** Entries of one attribute list (ints, floats, strings, tensors); a pads or perm list has < 16. */
  attributeElements: 1 << 16,
  /**
   * Elements of a value computed on the host: constant folding at load time and the integer shape
   * values read at run time (a shape has < 10 entries; folded weights are the initializers' size).
   */
  hostElements: 1 << 26,
  /** Elements of a float tensor whose size comes from the file's data (Resize, Expand, ConstantOfShape). */
  valueElements: 1 << 28,
} as const;

export type OnnxLimits = { readonly [K in keyof typeof ONNX_LIMITS]: number };

/** Bytes for people: 536870912 -> "512 MiB". */
export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${+(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= MiB) return `${+(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** A name from the file, for a message: control characters escaped, at most `max` characters. */
export function clip(s: string, max = 120): string {
  const safe = s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return safe.length <= max ? safe : `${safe.slice(0, max)}…(${safe.length} characters)`;
}
