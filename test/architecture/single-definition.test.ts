/**
 * Each fact stated once: the method and variant lists, the overlay key, the manifest's shape, the
 * analysis defaults and the list of slide extensions each have one definition in the source tree
 * (contracts/ or the folder that owns it). A second copy anywhere else (a re-typed list in the
 * viewer, a `?? 256` in a command) fails here with the file that has it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SKIP = new Set(['node_modules', 'test', '.git', 'demo-output', 'test-output', 'scratch', 'models-demo', 'docs']);

function sources(dir = ROOT): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') || SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.config.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

const files = sources().map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));

/** What is stated, how a copy of it looks, and the one file allowed to state it. */
const FACTS: { fact: string; pattern: RegExp; home: string }[] = [
  { fact: 'the method list', pattern: /['"]grad['"],\s*['"]deeplift['"],\s*['"]ig['"]/, home: 'contracts/names.ts' },
  { fact: 'the variant list', pattern: /['"]original['"],\s*['"]backward-hook['"],\s*['"]forward-hook['"]/, home: 'contracts/names.ts' },
  { fact: 'the overlay key', pattern: /`\$\{[\w.]*variant\}\/\$\{[\w.]*method\}\/\$\{[\w.]*layer\}`/, home: 'contracts/overlay-key.ts' },
  { fact: 'the manifest schema', pattern: /manifestSchema\s*=|interface Manifest\b|type Manifest\s*=/, home: 'contracts/manifest.ts' },
  { fact: 'the overlay entry', pattern: /overlayEntrySchema\s*=|interface OverlayEntry\b|type OverlayEntry\s*=/, home: 'contracts/manifest.ts' },
  { fact: 'the model spec', pattern: /kind:\s*['"]file['"];\s*weights|modelSpecSchema\s*=/, home: 'contracts/model-spec.ts' },
  { fact: 'the analysis defaults', pattern: /ANALYSIS_DEFAULTS\s*=|minTissue\s*\?\?\s*0\.5|patch:\s*256,\s*level:\s*0/, home: 'contracts/analysis.ts' },
  { fact: 'the default overlap (a quarter of the patch)', pattern: /Math\.floor\(\s*\w*[pP]atch\w*\s*\/\s*4/, home: 'contracts/analysis.ts' },
  { fact: 'the analysis request', pattern: /analysisRequestSchema\s*=/, home: 'contracts/api.ts' },
  // Each format states its own extensions (SlideFormat.extensions); slide/formats.ts derives SLIDE_EXTENSIONS from them.
  { fact: 'the TIFF family extensions', pattern: /['"]\.svs['"],\s*['"]\.tif['"]/, home: 'slide/tiff/format.ts' },
  { fact: 'softmax of logits', pattern: /1\s*\/\s*\(1\s*\+\s*Math\.exp\(-/, home: 'models/predict.ts' },
];

describe('each fact is stated once', () => {
  it('scans the source tree', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const { home } of FACTS) expect(files.map((f) => f.path)).toContain(home);
  });

  for (const { fact, pattern, home } of FACTS) {
    it(`${fact}: only in ${home}`, () => {
      const where = files.filter((f) => pattern.test(f.text)).map((f) => f.path);
      expect(where, `${fact} is stated in ${where.join(', ')}`).toEqual([home]);
    });
  }
});
