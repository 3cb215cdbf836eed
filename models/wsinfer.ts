/**
 * WSInfer model folders (issue #16): `config.json`, wsinfer-zoo's model configuration (spec_version
 * 1.0, wsinfer_zoo/schemas/model-config.schema.json), beside the weights (`torchscript_model.pt` in
 * the zoo). The config says how WSInfer feeds the model: square patches of patch_size_pixels at
 * spacing_um_px micrometres per pixel, resized (Resize), scaled to [0, 1] (ToTensor), normalized
 * per channel (Normalize), and what its outputs are called. This reads and checks the folder; it
 * opens no weights: the caller opens `weightsPath` as it opens any --weights.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { describeIssues } from '../contracts/index.js';
import { SdsError } from '../core/errors.js';

/** One step of WSInfer's preprocessing, as config.json lists it. */
const transformSchema = z.strictObject({
  // Any name parses here so that an unknown one gets its own message (see TRANSFORMS).
  name: z.string(),
  arguments: z.record(z.string(), z.unknown()).optional(),
});

/**
 * wsinfer-zoo's model-config.schema.json in zod: the same required fields and bounds (extra
 * top-level fields allowed, none in a transform), except that spacing_um_px must be positive
 * (the JSON schema allows 0, which places no patch).
 */
export const wsinferConfigSchema = z.object({
  spec_version: z.literal('1.0'),
  architecture: z.string().min(1),
  num_classes: z.number().int().min(1),
  class_names: z.array(z.string()).refine((names) => new Set(names).size === names.length, 'class names must be unique'),
  patch_size_pixels: z.number().int().min(1),
  spacing_um_px: z.number().positive(),
  transform: z.array(transformSchema),
});
export type WsinferConfig = z.output<typeof wsinferConfigSchema>;

/** The transforms of spec 1.0, the only ones WSInfer applies. */
const TRANSFORMS = ['Resize', 'ToTensor', 'Normalize'] as const;

const side = z.number().int().positive();
const resizeArgs = z.strictObject({
  // torchvision: an int resizes the shorter side, [h, w] both; patches are square, so both mean a side.
  size: z.union([side, z.tuple([side]), z.tuple([side, side])]),
  interpolation: z.union([z.literal('bilinear'), z.literal('BILINEAR'), z.literal(2)]).optional(),
  antialias: z.boolean().nullable().optional(),
  max_size: z.null().optional(),
});
const channel3 = (what: string, bound: z.ZodNumber) => z.tuple([bound, bound, bound], { error: `${what} needs 3 values (R, G, B)` });
const normalizeArgs = z.strictObject({
  mean: channel3('mean', z.number()),
  std: channel3('std', z.number().positive()),
  inplace: z.boolean().optional(),
});

/** What sds needs from a WSInfer model folder. */
export interface WsinferModel {
  /** The weights file to open (safetensors / torch.save / ONNX / TorchScript). */
  weightsPath: string;
  /** The config's architecture (timm's names, e.g. "resnet34"): informative, the weights decide. */
  architecture: string;
  numClasses: number;
  /** Names of the model's outputs, in output order. */
  classNames: string[];
  /** Side of the square patch WSInfer cuts, in pixels at `spacing`. */
  patchSize: number;
  /** Micrometres per pixel of those patches. */
  spacing: number;
  /** Side the patch is resized to before the model (Resize), or undefined when it is fed as cut. */
  resize: number | undefined;
  /** Per channel, for values in [0, 1] (RGB / 255, ToTensor): the model sees (value - mean) / std. */
  normalization: { mean: [number, number, number]; std: [number, number, number] };
  /** The folder, for messages and labels. */
  source: string;
}

export const WSINFER_CONFIG = 'config.json';
/** Largest config.json read (a real one is ~500 bytes). */
const CONFIG_BYTES = 1 << 20;
/**
 * Weights in the order they are preferred: state_dicts first (sds builds the model natively with
 * every BatchNorm), then an ONNX file (what a user exports when sds refuses the TorchScript), then
 * the zoo's TorchScript (frozen: BatchNorms folded into the convs).
 */
const WEIGHTS_ORDER: { match: (file: string) => boolean; what: string }[] = [
  { match: (f) => extname(f).toLowerCase() === '.safetensors', what: '*.safetensors' },
  { match: (f) => f === 'model.pt', what: 'model.pt' },
  { match: (f) => f === 'pytorch_model.bin', what: 'pytorch_model.bin' },
  { match: (f) => extname(f).toLowerCase() === '.onnx', what: '*.onnx' },
  { match: (f) => f === 'torchscript_model.pt', what: 'torchscript_model.pt' },
];
const WEIGHTS_HINT = `put the model's weights beside config.json: ${WEIGHTS_ORDER.map((w) => w.what).join(', ')}`;

/** Whether `path` is a folder with a config.json (a WSInfer model folder, to be read by readWsinferFolder). */
export async function isWsinferFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory() && (await stat(join(path, WSINFER_CONFIG))).isFile();
  } catch {
    return false;
  }
}

/** Reads and checks a WSInfer model folder: its config.json and which weights file to open. */
export async function readWsinferFolder(dir: string): Promise<WsinferModel> {
  const configPath = join(dir, WSINFER_CONFIG);
  const config = parseWsinferConfig(await readConfig(dir, configPath), configPath);
  const pre = preprocessing(config, configPath);
  return {
    weightsPath: await findWeights(dir),
    architecture: config.architecture,
    numClasses: config.num_classes,
    classNames: config.class_names,
    patchSize: config.patch_size_pixels,
    spacing: config.spacing_um_px,
    ...pre,
    source: dir,
  };
}

async function readConfig(dir: string, configPath: string): Promise<string> {
  let size: number;
  try {
    const s = await stat(configPath);
    if (!s.isFile()) throw new Error('not a file');
    size = s.size;
  } catch (cause) {
    const folder = await stat(dir).then((s) => (s.isDirectory() ? 'folder' : 'file'), () => 'missing');
    const why = folder === 'folder' ? `${dir} has no ${WSINFER_CONFIG}, so it is not a WSInfer model folder` : `cannot read the WSInfer model folder ${dir}: ${folder === 'file' ? 'it is a file, not a folder' : 'it does not exist'}`;
    throw new SdsError('FILE_NOT_FOUND', why, {
      suggestion: 'a WSInfer model folder holds config.json (the wsinfer-zoo model config) and the weights, as downloaded from the zoo',
      cause,
    });
  }
  if (size > CONFIG_BYTES) {
    throw new SdsError('BAD_INPUT', `${configPath} is ${size} bytes; a WSInfer config is a few hundred`, {
      suggestion: 'check that this is the wsinfer-zoo model config (spec_version 1.0)',
    });
  }
  return readFile(configPath, 'utf8');
}

/** Parses config.json's text: JSON, the schema, then the rules the schema cannot state. */
export function parseWsinferConfig(text: string, configPath: string): WsinferConfig {
  const fix = 'write config.json as wsinfer-zoo\'s model-config.schema.json describes (spec_version "1.0", architecture, num_classes, class_names, patch_size_pixels, spacing_um_px, transform)';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new SdsError('BAD_INPUT', `${configPath} is not valid JSON (${(cause as Error).message})`, { suggestion: fix, cause });
  }
  const r = wsinferConfigSchema.safeParse(json);
  if (!r.success) throw new SdsError('BAD_INPUT', `${describeIssues(r.error, configPath)}`, { suggestion: fix });
  const c = r.data;
  if (c.class_names.length !== c.num_classes) {
    throw new SdsError('BAD_INPUT', `${configPath}: class_names has ${c.class_names.length} names but num_classes is ${c.num_classes}`, {
      suggestion: 'give one name per model output, in output order',
    });
  }
  return c;
}

/** Resize, ToTensor and Normalize folded into a resize side and one per-channel normalization. */
function preprocessing(c: WsinferConfig, configPath: string): Pick<WsinferModel, 'resize' | 'normalization'> {
  let resize: number | undefined;
  let normalization: WsinferModel['normalization'] | undefined;
  let toTensor = false;
  const unsupported = (i: number, why: string) =>
    new SdsError('WEIGHTS_UNSUPPORTED', `${configPath}: transform[${i}] (${c.transform[i]!.name}) ${why}`, {
      suggestion: 'sds applies what WSInfer 1.0 does: one Resize (square), one ToTensor, then at most one Normalize (3 means, 3 positive stds)',
    });
  const args = <S extends z.ZodType>(i: number, schema: S): z.output<S> => {
    const r = schema.safeParse(c.transform[i]!.arguments ?? {});
    if (!r.success) throw unsupported(i, `has arguments sds cannot apply: ${r.error.issues.map((x) => `${x.path.length ? `${x.path.join('.')}: ` : ''}${x.message}`).join('; ')}`);
    return r.data;
  };
  c.transform.forEach((t, i) => {
    if (!(TRANSFORMS as readonly string[]).includes(t.name)) throw unsupported(i, `is not a transform of the WSInfer config spec 1.0 (${TRANSFORMS.join(', ')})`);
    if (t.name === 'Resize') {
      if (resize !== undefined) throw unsupported(i, 'is a second Resize');
      const size = args(i, resizeArgs).size;
      const [h, w] = typeof size === 'number' ? [size, size] : [size[0], size[1] ?? size[0]];
      if (h !== w) throw unsupported(i, `resizes to ${h}x${w}, which is not square`);
      resize = h;
    } else if (t.name === 'ToTensor') {
      if (toTensor) throw unsupported(i, 'is a second ToTensor');
      args(i, z.strictObject({}));
      toTensor = true;
    } else {
      if (!toTensor) throw unsupported(i, 'comes before ToTensor (torchvision normalizes tensors, so WSInfer would fail too)');
      if (normalization) throw unsupported(i, 'is a second Normalize');
      const a = args(i, normalizeArgs);
      normalization = { mean: a.mean, std: a.std };
    }
  });
  if (!toTensor) {
    throw new SdsError('WEIGHTS_UNSUPPORTED', `${configPath}: transform has no ToTensor, so WSInfer would not give the model a tensor`, {
      suggestion: 'list ToTensor (and Normalize after it, if the model was trained normalized)',
    });
  }
  return { resize, normalization: normalization ?? { mean: [0, 0, 0], std: [1, 1, 1] } };
}

/** The folder's weights file, by WEIGHTS_ORDER; two of the same kind are ambiguous. */
async function findWeights(dir: string): Promise<string> {
  const files = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  for (const kind of WEIGHTS_ORDER) {
    const found = files.filter(kind.match);
    if (found.length > 1) {
      throw new SdsError('BAD_INPUT', `${dir} has ${found.length} weights files of one kind (${found.join(', ')}), so which one the model is is unclear`, {
        suggestion: 'keep one of them in the folder',
      });
    }
    if (found.length === 1) return join(dir, found[0]!);
  }
  const shown = files.filter((f) => f !== WSINFER_CONFIG);
  throw new SdsError('FILE_NOT_FOUND', `${dir} has no weights file beside config.json${shown.length ? ` (it holds ${shown.slice(0, 8).join(', ')}${shown.length > 8 ? ', …' : ''})` : ''}`, {
    suggestion: WEIGHTS_HINT,
  });
}

