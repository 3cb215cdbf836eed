/** Writing an analysis's manifest (contracts/manifest.ts): last and atomically, so its presence means the analysis is complete. */
import { join } from 'node:path';
import { MANIFEST_FILE, type Manifest } from '../contracts/index.js';
import { atomicWrite } from './journal.js';

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await atomicWrite(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
}
