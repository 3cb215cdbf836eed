/** Options that several commands share, with one wording and one validation. */
import { NORMALIZATIONS } from '../models/index.js';
import { opt } from './args.js';

export const MODEL_OPTIONS = {
  weights: opt.required('FILE', 'model: .onnx (any CNN), .safetensors, torch.save()d state_dict or TorchScript archive (.pt/.pth), or a WSInfer model folder'),
  arch: opt.string('A', 'resnet18|34|50, monai-resnet18, unet-resnet18|34|50 (default: inferred from the keys)').optional(),
};

export const INPUT_OPTIONS = {
  input: opt.required('IN', 'image (PNG/JPEG/TIFF) or .safetensors with `input` (N,3,H,W), already normalized'),
  normalize: opt.enum(NORMALIZATIONS, 'N', "for images: imagenet|minus1to1|none (default: the model's own; imagenet, MONAI minus1to1)").optional(),
};

export const BACKEND_OPTION = {
  backend: opt.string('E', 'engine: node-gpu|webgpu|node|wasm|cpu (default: fastest available; env SDS_BACKEND)').optional(),
};
