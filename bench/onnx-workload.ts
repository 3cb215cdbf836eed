/**
 * The ONNX rows of `sds bench` (issue #16: an imported graph within 1.2x of the native model): the
 * native workload's network as torchvision builds it, exported by torch.onnx into a tmp dir
 * (bench/torch-onnx.ts), then timed on the same pool as the native row. Without PyTorch the row is
 * skipped with the reason. BatchNorm stays a node of its own, as in the native model, so both run
 * the same layers; `foldBn` measures torch.onnx's default eval export (BN folded into the convs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelSpec } from '../contracts/index.js';
import { exportTorchvisionOnnx, torchExportUnavailable } from './torch-onnx.js';
import type { PoolWorkload } from './workloads.js';

export type OnnxWorkloadModel = { spec: ModelSpec; dispose(): void } | { skipped: string };

const TORCHVISION = new Set(['resnet18', 'resnet34', 'resnet50']);

/** Exports the workload's network (2 classes, seeded weights: speed does not depend on them). */
export async function prepareOnnxWorkload(w: PoolWorkload, options: { foldBn?: boolean } = {}): Promise<OnnxWorkloadModel> {
  if (!TORCHVISION.has(w.arch)) return { skipped: `no torchvision export for ${w.arch}` };
  const why = torchExportUnavailable();
  if (why) return { skipped: why };
  const dir = mkdtempSync(join(tmpdir(), 'sds-bench-onnx-'));
  const dispose = () => rmSync(dir, { recursive: true, force: true });
  try {
    const out = join(dir, `${w.arch}_c2_${w.size}${options.foldBn ? '_folded' : ''}.onnx`);
    await exportTorchvisionOnnx({ out, arch: w.arch as 'resnet18', classes: 2, seed: 1, size: w.size, foldBn: options.foldBn });
    return { spec: { kind: 'file', weights: out }, dispose };
  } catch (err) {
    dispose();
    return { skipped: (err as Error).message };
  }
}
