/**
 * Models the server can run: `random-resnet18` (seeded, for trying the pipeline) and every
 * .safetensors / .pt / .pth / .onnx in the models folder (a `<stem>.surrogate.safetensors` beside one is its
 * surrogate). What a model offers (arch, classes, layers, each layer's pixels per map value) is read
 * through models/ `describeModel`, once per file version.
 */
import type { Dirent } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { ModelInfo, ModelSpec } from '../contracts/index.js';
import { describeModel, initEngine, isWsinferFolder } from '../models/index.js';
import { Fingerprint, walkFolder } from './folder-walk.js';
import { assignIds, idFromRelative } from './ids.js';
import { realOrUndefined, regularFileInside } from './safe-path.js';

export const RANDOM_MODEL_ID = 'random-resnet18';
const WEIGHT_EXTENSIONS = ['.safetensors', '.pt', '.pth', '.onnx'];

export interface ModelEntry {
  id: string;
  name: string;
  spec: ModelSpec;
  /** How manifests name the weights. */
  label: string;
  surrogatePath?: string;
  version: string;
}

export interface ModelDescription {
  info: ModelInfo;
  /** Input pixels per map value, per layer (4 for ResNet 1_x, 8 for 2_x, ...). */
  scales: ReadonlyMap<string, number>;
}

export class ModelCatalog {
  private entries = new Map<string, ModelEntry>();
  private readonly described = new Map<string, Promise<ModelDescription>>();
  private readonly fingerprint: Fingerprint;
  private scanned = false;
  private scanning?: Promise<void>;
  /** Models are built one at a time: each holds its weights in memory while it is measured. */
  private building: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: { folder?: string; rescanMs?: number; log?: (line: string) => void }) {
    this.fingerprint = new Fingerprint(options.rescanMs ?? 1000);
  }

  async list(): Promise<ModelEntry[]> {
    await this.fresh();
    return [...this.entries.values()];
  }

  async get(id: string): Promise<ModelEntry | undefined> {
    await this.fresh();
    return this.entries.get(id);
  }

  /** Arch, classes, layers and layer scales; cached per file version. */
  describe(entry: ModelEntry): Promise<ModelDescription> {
    const key = `${entry.id}@${entry.version}`;
    let d = this.described.get(key);
    if (!d) {
      const run = this.building.then(() => measure(entry));
      this.building = run.catch(() => undefined);
      d = run;
      // A failure is not cached: a fixed file is measured again.
      d.catch(() => this.described.delete(key));
      this.described.set(key, d);
    }
    return d;
  }

  private async fresh(): Promise<void> {
    if (this.scanned && !(await this.fingerprint.changed())) return;
    this.scanning ??= this.scan().finally(() => (this.scanning = undefined));
    await this.scanning;
  }

  private async scan(): Promise<void> {
    const random: ModelEntry = { id: RANDOM_MODEL_ID, name: 'random ResNet18 (seed 0, 2 classes)', spec: { kind: 'random', arch: 'resnet18', classes: 2, seed: 0 }, label: 'random:resnet18', version: '0' };
    const found: ModelEntry[] = [];
    const folder = this.options.folder;
    const rootReal = folder ? await realOrUndefined(folder) : undefined;
    if (folder && rootReal) {
      const isWeights = (n: string) => WEIGHT_EXTENSIONS.includes(extname(n).toLowerCase()) && !/\.(surrogate|ckpt)\.safetensors$/i.test(n);
      // a WSInfer model folder (config.json + weights) is one model, not a folder of weights files
      const claim = async (dirReal: string, entries: Dirent[]) => {
        const slides: string[] = [];
        for (const e of entries) if (e.isDirectory() && (await isWsinferFolder(join(dirReal, e.name)))) slides.push(join(dirReal, e.name));
        return { slides, owned: slides.map((p) => basename(p)) };
      };
      const { files, dirs } = await walkFolder(folder, { maxDepth: 2, wantFile: isWeights, claim });
      for (const f of files) {
        const folderModel = await isWsinferFolder(f.real);
        const stem = folderModel ? f.rel : f.rel.slice(0, f.rel.length - extname(f.rel).length);
        const surrogate = await regularFileInside(rootReal, join(rootReal, `${stem}.surrogate.safetensors`));
        found.push({ id: idFromRelative(stem), name: basename(f.path), spec: { kind: 'file', weights: f.real }, label: f.real, surrogatePath: surrogate?.real, version: `${f.mtimeMs}:${f.size}:${surrogate?.mtimeMs ?? ''}` });
      }
      this.fingerprint.record([...dirs, ...files], []);
    } else {
      this.fingerprint.record([], folder ? [folder] : []);
    }
    const ids = assignIds([random, ...found], (m) => m.id);
    this.entries = new Map([...ids].map(([id, m]) => [id, { ...m, id }]));
    this.scanned = true;
  }
}

async function measure(entry: ModelEntry): Promise<ModelDescription> {
  await initEngine({ announce: false });
  const d = await describeModel(entry.spec);
  const info = { id: entry.id, name: entry.name, arch: d.arch, classes: d.numClasses, surrogate: entry.surrogatePath !== undefined, layers: [...d.layers], defaultLayers: d.defaultLayers, ...(d.recommended ? { patch: d.recommended.patch } : {}) };
  return { info, scales: d.scales };
}
