import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { SdsError } from '../../core/errors.js';
import { formatBytes, WEIGHTS_LIMITS } from './limits.js';
import { looksLikeSafetensors, parseSafetensors } from './safetensors.js';
import { looksLikeZip, openTorchArchive, parseTorchZip, stateDictOf } from './torch-pickle.js';
import { isTorchScriptArchive, readTorchScript } from './torchscript.js';
import type { StateDict } from './types.js';

export interface LoadedWeights {
  tensors: StateDict;
  metadata: Record<string, string>;
  /** torch: a torch.save()d state_dict; torchscript: a torch.jit.save()d archive (see torchscript.ts). */
  format: 'safetensors' | 'torch' | 'torchscript';
  /** File name, for messages. */
  source: string;
}

/** `module.` (DataParallel) and `model.` (Lightning) wrappers say nothing about the architecture. */
export function stripPrefixes(sd: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [k, v] of sd) {
    let key = k;
    while (key.startsWith('module.') || key.startsWith('model.')) key = key.slice(key.indexOf('.') + 1);
    out.set(key, v);
  }
  return out;
}

/** Reads safetensors, a torch.save()d state_dict or a TorchScript archive, told apart by content, not extension. */
export async function loadWeights(path: string): Promise<LoadedWeights> {
  let bytes: Uint8Array;
  try {
    const size = (await stat(path)).size;
    if (size > WEIGHTS_LIMITS.fileBytes) {
      throw new SdsError('WEIGHTS_TOO_LARGE', `${basename(path)} is ${formatBytes(size)}; sds reads weights files up to ${formatBytes(WEIGHTS_LIMITS.fileBytes)}`, {
        suggestion: 'the models sds runs take well under 1 GB: check that this is the model\'s state_dict, saved as float32 or float16',
      });
    }
    bytes = await readFile(path);
  } catch (cause) {
    if (cause instanceof SdsError) throw cause;
    throw new SdsError('FILE_NOT_FOUND', `cannot read weights ${path}: ${(cause as Error).message}`, {
      suggestion: 'check the --weights path',
      cause,
    });
  }
  const source = basename(path);
  if (looksLikeSafetensors(bytes)) {
    const { tensors, metadata } = parseSafetensors(bytes, source);
    return { tensors: stripPrefixes(tensors), metadata, format: 'safetensors', source };
  }
  // zip: torch >= 1.6; a bare pickle (0x80 PROTO): legacy torch.save, which the parser explains
  if (looksLikeZip(bytes) || bytes[0] === 0x80) {
    const archive = openTorchArchive(bytes, source);
    // A TorchScript archive is told by its content (a __torch__ module in data.pkl, a code/ folder), not its name.
    if (isTorchScriptArchive(archive)) {
      const { tensors, metadata } = readTorchScript(archive, path);
      return { tensors, metadata, format: 'torchscript', source };
    }
    return { tensors: stripPrefixes(stateDictOf(archive)), metadata: {}, format: 'torch', source };
  }
  const ext = extname(path).toLowerCase();
  // Let the format-specific parser explain a cut-off or damaged file of its own kind.
  if (ext === '.safetensors') parseSafetensors(bytes, source);
  if (ext === '.pt' || ext === '.pth') parseTorchZip(bytes, source);
  throw new SdsError('NOT_A_WEIGHTS_FILE', `${source} is not a weights file (neither safetensors nor a torch.save zip)`, {
    suggestion: 'pass a .safetensors file or a state_dict saved with torch.save(model.state_dict(), path)',
  });
}
