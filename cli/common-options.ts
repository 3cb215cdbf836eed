/** Options that several commands share, with one wording and one validation. */
import { z } from 'zod';
import { NORMALIZATIONS } from '../models/index.js';
import type { OptionSpec } from './args.js';

export const MODEL_OPTIONS = {
  weights: { type: 'string', value: 'FILE', help: 'model weights: .safetensors or torch.save()d state_dict (.pt/.pth)' },
  arch: { type: 'string', value: 'A', help: 'resnet18|34|50, monai-resnet18, unet-resnet18|34|50 (default: inferred from the keys)' },
} satisfies Record<string, OptionSpec>;

export const INPUT_OPTIONS = {
  input: { type: 'string', value: 'IN', help: 'image (PNG/JPEG/TIFF) or .safetensors with `input` (N,3,H,W), already normalized' },
  normalize: { type: 'string', value: 'N', help: "for images: imagenet|minus1to1|none (default: the model's own; imagenet, MONAI minus1to1)" },
} satisfies Record<string, OptionSpec>;

export const BACKEND_OPTION = {
  backend: { type: 'string', value: 'E', help: 'engine: node-gpu|node|wasm|cpu (default: fastest available; env SDS_BACKEND)' },
} satisfies Record<string, OptionSpec>;

export const MODEL_SCHEMA = {
  weights: z.string({ error: 'is required' }),
  arch: z.string().optional(),
  backend: z.string().optional(),
};

export const INPUT_SCHEMA = {
  input: z.string({ error: 'is required' }),
  normalize: z.enum(NORMALIZATIONS).optional(),
};
