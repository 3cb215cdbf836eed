/**
 * A torchvision ResNet exported to ONNX by PyTorch itself (test/support/torch-export.py run by the
 * Debian python3-torch at /usr/bin/python3): the ONNX row of `sds bench` and the test that the ONNX
 * import of ResNet18 equals the native one both need a graph made by torch.onnx, not by us.
 * Where PyTorch is missing, `torchExportUnavailable` says why, so callers skip with that reason.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The Debian interpreter with python3-torch / python3-torchvision (not a pyenv `python3` on PATH); SDS_TORCH_PYTHON names another. */
export const TORCH_PYTHON = process.env.SDS_TORCH_PYTHON || '/usr/bin/python3';
export const TORCH_EXPORT_SCRIPT = fileURLToPath(new URL('../test/support/torch-export.py', import.meta.url));

let unavailable: string | null | undefined;

/** Why PyTorch cannot export here (null: it can). Asked once per process. */
export function torchExportUnavailable(): string | null {
  if (unavailable !== undefined) return unavailable;
  if (!existsSync(TORCH_PYTHON)) unavailable = `${TORCH_PYTHON} is absent`;
  else if (!existsSync(TORCH_EXPORT_SCRIPT)) unavailable = `${TORCH_EXPORT_SCRIPT} is absent`;
  else {
    const r = spawnSync(TORCH_PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8', timeout: 60_000 });
    unavailable = r.status === 0 ? null : `${TORCH_PYTHON} cannot import torch and torchvision (apt install python3-torch python3-torchvision): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  }
  return unavailable;
}

export interface TorchExportOptions {
  out: string;
  arch?: 'resnet18' | 'resnet34' | 'resnet50';
  classes: number;
  /** safetensors state_dict; without it torchvision's initialisation seeded with `seed` */
  weights?: string;
  seed?: number;
  /** the input side declared in the graph (the batch axis is dynamic) */
  size: number;
  /** fold BatchNorm into the convs (torch.onnx's default eval export); default: BN nodes kept */
  foldBn?: boolean;
  /** a case .safetensors whose `input` PyTorch runs: its logits are returned */
  logitsFor?: string;
}

/** Runs the export; resolves with PyTorch's logits for `logitsFor`'s input when asked. */
export async function exportTorchvisionOnnx(o: TorchExportOptions): Promise<{ shape: number[]; logits: number[] } | undefined> {
  const args = [TORCH_EXPORT_SCRIPT, '--out', o.out, '--arch', o.arch ?? 'resnet18', '--classes', String(o.classes), '--size', String(o.size), '--seed', String(o.seed ?? 0)];
  if (o.weights) args.push('--weights', o.weights);
  if (o.foldBn) args.push('--fold-bn');
  if (o.logitsFor) args.push('--logits-for', o.logitsFor);
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(TORCH_PYTHON, args, { maxBuffer: 16 << 20, timeout: 300_000 }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    // the script's own last line says what is wrong (a state_dict of another shape, a missing file)
    throw new Error(`torch.onnx export of ${o.arch ?? 'resnet18'} to ${o.out} failed: ${(e.stderr || e.message).trim().split('\n').pop()}`, { cause: err });
  }
  return o.logitsFor ? (JSON.parse(stdout) as { shape: number[]; logits: number[] }) : undefined;
}
