/**
 * dependency-cruiser configuration: the folder layering of this repository, and no cycles.
 *
 *   npx depcruise --config .dependency-cruiser.cjs <folders>     (test/architecture/dependencies.test.ts runs it on all of them)
 *
 * FOLDERS below is the whole architecture in one table, lowest layer first. Each top-level source
 * folder lists the other folders it may import from; importing from itself, from npm packages
 * (node_modules) and from node's built-ins is always allowed, except for the browser folders in
 * BROWSER. '*' means "any folder". Everything else is forbidden: the rules further down are
 * generated from this table, one per folder. A new top-level folder needs a line here: the test
 * fails while a folder with source files (.ts/.js) is missing from the table.
 */

// folder           may import from (besides itself, npm packages and node built-ins)
const FOLDERS = {
  core:             [],
  contracts:        ['core'],
  slide:            ['core', 'contracts'],                                  // slide input: reader, decoders, tissue, grid
  maps:             ['core', 'contracts'],                                  // map output: stitcher, float store, Deep Zoom, colormaps
  viz:              ['core', 'contracts', 'maps'],                          // plots, panels
  models:           ['core', 'contracts'],
  training:         ['core', 'contracts', 'models'],
  saliency:         ['core', 'contracts', 'models', 'training'],
  pool:             ['core', 'contracts', 'models', 'saliency'],
  pipeline:         ['core', 'contracts', 'slide', 'maps', 'models', 'saliency', 'pool'],
  results:          ['core', 'contracts', 'slide', 'maps', 'models', 'saliency'],   // reading finished analyses
  queue:            ['core', 'contracts', 'slide', 'maps', 'models', 'pipeline'],
  'slides-sample':  ['core', 'contracts', 'slide', 'maps', 'models'],
  demo:             ['core', 'contracts', 'models', 'training', 'saliency', 'slides-sample', 'slide'],
  server:           ['core', 'contracts', 'slide', 'maps', 'viz', 'models', 'saliency', 'pool', 'pipeline', 'results', 'queue'],
  bench:            ['core', 'contracts', 'slide', 'maps', 'viz', 'models', 'training', 'saliency', 'pool', 'pipeline', 'results', 'queue', 'slides-sample', 'demo', 'server'],
  cli:              ['core', 'contracts', 'slide', 'maps', 'viz', 'models', 'training', 'saliency', 'pool', 'pipeline', 'results', 'queue', 'slides-sample', 'demo', 'server', 'bench'],
  bin:              ['cli'],                                                // the `sds` launcher (bin/sds.js) starts cli/main.ts
  viewer:           ['contracts'],                                          // browser ES modules (plain .js): see BROWSER
  test:             ['*'],
};

// Folders that run in the browser: no node built-ins, and only these npm packages.
const BROWSER = {
  viewer: ['openseadragon'],
};

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const under = (folders) => `^(?:${folders.map(escape).join('|')})/`;

const NODE_MODULES = '(?:^|/)node_modules/';

// One rule per folder: from <folder>/ to anything outside <folder>/ and its allowed folders is an error.
const layerRules = Object.entries(FOLDERS)
  .filter(([, allowed]) => !allowed.includes('*'))
  .map(([folder, allowed]) => {
    const browser = BROWSER[folder];
    const folders = allowed.length ? allowed.join(', ') : 'nothing outside itself';
    const packages = browser ? `npm ${browser.join(', ')} (no node built-ins)` : 'npm packages, node built-ins';
    return {
      name: `${folder}/ imports only: ${folders}; ${packages}`,
      comment: `See FOLDERS${browser ? ' and BROWSER' : ''} in .dependency-cruiser.cjs.`,
      severity: 'error',
      from: { path: under([folder]) },
      to: {
        // npm packages are matched by their resolved path under node_modules/, node built-ins by
        // their dependency type ('core'); unresolvable imports are reported by 'not-to-unresolvable'
        pathNot: browser
          ? `${under([folder, ...allowed])}|${NODE_MODULES}(?:${browser.map(escape).join('|')})/`
          : `${under([folder, ...allowed])}|${NODE_MODULES}`,
        ...(browser ? {} : { dependencyTypesNot: ['core'] }),
        couldNotResolve: false,
      },
    };
  });

/** @type {import('dependency-cruiser').IConfiguration} */
const config = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No cycles between modules, type-only imports included: a cycle means two modules that cannot be understood (or loaded) apart.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file (or to an npm package that is not installed).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: NODE_MODULES },
    // `import type` counts: a type import is still a dependency between folders
    tsPreCompilationDeps: true,
    // the viewer's JSDoc `@typedef {import('./x.js').T}` count too
    detectJSDocImports: true,
    // NodeNext: './x.js' resolves to './x.ts'
    tsConfig: { fileName: 'tsconfig.json' },
    // npm packages' "exports" maps, as node (and TypeScript's NodeNext) read them
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
  },
};

module.exports = config;
// The table itself, for the test (not enumerable: dependency-cruiser validates the config's own keys).
Object.defineProperty(module.exports, 'FOLDERS', { value: FOLDERS, enumerable: false });
