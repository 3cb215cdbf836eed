import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { z } from 'zod';
import { benchForward, type BenchResult } from '../../bench/forward.js';
import { initEngine, tf } from '../../models/index.js';
import { defineCommand } from '../args.js';
import { printTable } from './predict.js';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'Measure speed on this machine: ms per patch for the standard workloads.',
  usage: 'sds bench [--batches N] [--json FILE] [--backend E]',
  options: {
    batches: { type: 'string', value: 'N', help: 'timed batches of 16 per workload (default 3)' },
    json: { type: 'string', value: 'FILE', help: 'also write the results as JSON {workload: ms per patch}' },
    backend: { type: 'string', value: 'E', help: 'engine: node-gpu|node|wasm|cpu' },
  },
  schema: z.object({
    batches: z.coerce.number().int().min(1).max(1000).default(3),
    json: z.string().optional(),
    backend: z.string().optional(),
  }),
  async run(o) {
    const engine = await initEngine({ engine: o.backend });
    process.stderr.write(`sds: benchmarking on ${os.cpus().length} core(s), ${o.batches} batch(es) of 16 per workload\n`);
    const results: BenchResult[] = [];
    results.push(await benchForward('resnet18', 256, 16, o.batches));
    printTable(
      ['workload', 'engine', 'ms/patch', 'patches/s', 'patches'],
      results.map((r) => [r.workload, engine, r.msPerPatch.toFixed(1), (1000 / r.msPerPatch).toFixed(1), String(r.patches)]),
    );
    process.stdout.write(`tensors alive after the run: ${tf.memory().numTensors}\n`);
    if (o.json) await writeFile(o.json, `${JSON.stringify(Object.fromEntries(results.map((r) => [r.workload, r.msPerPatch])), null, 1)}\n`);
    return 0;
  },
});
