/**
 * The architecture, checked: dependency-cruiser walks every source folder's imports (type-only
 * imports and the viewer's JSDoc imports included) and finds no cycles, and no import against the
 * one-way folder order in the FOLDERS table of .dependency-cruiser.cjs (e.g. models/ never imports
 * saliency/, slide input never imports map output). The same check from the command line:
 *
 *   npx depcruise --config .dependency-cruiser.cjs <folders...>
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const FOLDERS = (createRequire(import.meta.url)(CONFIG) as { FOLDERS: Record<string, string[]> }).FOLDERS;

const SOURCE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/** Top-level folders that hold source files: tracked, or new and not ignored by git. */
function sourceFolders(): string[] {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => existsSync(join(ROOT, f)));
  } catch {
    // no git (e.g. an unpacked tarball): every folder but node_modules, dot-folders and the folders .gitignore names
    const gitignore = existsSync(join(ROOT, '.gitignore')) ? readFileSync(join(ROOT, '.gitignore'), 'utf8') : '';
    const ignored = new Set(gitignore.split('\n').map((line) => line.trim().replace(/^\/|\/$/g, '')));
    files = readdirSync(ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'node_modules' && !d.name.startsWith('.') && !ignored.has(d.name))
      .flatMap((d) => readdirSync(join(ROOT, d.name), { recursive: true, encoding: 'utf8' }).map((f) => `${d.name}/${f}`));
  }
  const folders = files.filter((f) => SOURCE.test(f) && /[\\/]/.test(f)).map((f) => f.split(/[\\/]/)[0]!);
  return [...new Set(folders)].sort();
}

/** One line per violation; '⇢' marks an `import type` edge, '→' an import that also loads code. */
function describeViolation(v: IViolation): string {
  const arrow = (types: readonly string[] | undefined) => (types?.includes('type-only') ? ' ⇢ ' : ' → ');
  if (v.type === 'cycle' && v.cycle) {
    return `cycle: ${v.from}${v.cycle.map((step) => `${arrow(step.dependencyTypes)}${step.name}`).join('')}  [${v.rule.name}]`;
  }
  return `${v.from}${arrow(v.dependencyTypes)}${v.to}  [${v.rule.name}]`;
}

describe('folder dependencies (.dependency-cruiser.cjs)', () => {
  it('lists every top-level source folder in its FOLDERS table', () => {
    const missing = sourceFolders().filter((f) => !(f in FOLDERS));
    expect(missing, `top-level folders with source files but no entry in FOLDERS in .dependency-cruiser.cjs: ${missing.join(', ')}`).toEqual([]);
  });

  it('has a layered table: each folder may import only folders listed above it', () => {
    const order = Object.keys(FOLDERS);
    const problems = order.flatMap((folder, i) =>
      FOLDERS[folder]!.filter((dep) => dep !== '*')
        .filter((dep) => !order.slice(0, i).includes(dep))
        .map((dep) => `${folder} → ${dep} (${order.includes(dep) ? 'listed below it' : 'not in the table'})`),
    );
    expect(problems).toEqual([]);
  });

  it('finds no cycles and no import against the folder order', async () => {
    const folders = Object.keys(FOLDERS).filter((f) => existsSync(join(ROOT, f)));
    const options = await extractDepcruiseOptions(CONFIG);
    const tsConfig = extractTSConfig(join(ROOT, 'tsconfig.json'));
    const { output } = await cruise(
      folders,
      { ...options, baseDir: ROOT, tsConfig: { fileName: join(ROOT, 'tsconfig.json') } },
      {},
      { tsConfig },
    );
    const result = output as ICruiseResult;

    // a real check: the cruise saw the source (one folder's worth would be far fewer)
    expect(result.summary.totalCruised).toBeGreaterThan(100);

    const violations = result.summary.violations.map(describeViolation);
    expect(violations, `${violations.length} dependency violation(s) (⇢ = import type):\n  ${violations.join('\n  ')}\n`).toEqual([]);
  }, 60_000);
});
