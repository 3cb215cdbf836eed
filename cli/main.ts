/** Wires commands; each command lives in its own file under commands/. */
import { formatError } from '../core/errors.js';
import { commandHelp, parseCommandArgs, type CommandSpec } from './args.js';
import { analyzeCommand } from './commands/analyze.js';
import { attributeCommand } from './commands/attribute.js';
import { batchCommand } from './commands/batch.js';
import { statusCommand } from './commands/status.js';
import { workerCommand } from './commands/worker.js';
import { benchCommand } from './commands/bench.js';
import { demoCommand } from './commands/demo.js';
import { startCommand } from './commands/start.js';
import { evaluateCommand } from './commands/evaluate.js';
import { infoCommand } from './commands/info.js';
import { layersCommand } from './commands/layers.js';
import { regionCommand } from './commands/region.js';
import { sampleCommand } from './commands/sample.js';
import { regionsCommand } from './commands/regions.js';
import { exportCommand } from './commands/export.js';
import { seamsCommand } from './commands/seams.js';
import { serveCommand } from './commands/serve.js';
import { insdelCommand } from './commands/insdel.js';
import { predictCommand } from './commands/predict.js';
import { trainSurrogateCommand } from './commands/train-surrogate.js';
import { trainDemoCommand } from './commands/train-demo.js';
import { evaluateDemoCommand } from './commands/evaluate-demo.js';
import type { z } from 'zod';

const COMMANDS: CommandSpec<z.ZodType>[] = [startCommand, predictCommand, attributeCommand, insdelCommand, trainSurrogateCommand, trainDemoCommand, evaluateDemoCommand, evaluateCommand, analyzeCommand, batchCommand, workerCommand, statusCommand, infoCommand, layersCommand, regionCommand, regionsCommand, seamsCommand, exportCommand, sampleCommand, serveCommand, demoCommand, benchCommand] as CommandSpec<z.ZodType>[];

function mainHelp(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n');
  return `sds: smooth deep saliency for whole-slide pathology images

usage: sds <command> [options]

commands:
${rows}

Run \`sds <command> --help\` for a command's options.
Engine: TensorFlow.js (tfjs-node-gpu / tfjs-node when installed, else WASM, else CPU); --backend or SDS_BACKEND overrides.
`;
}

export async function run(argv: string[]): Promise<number> {
  // `sds info x | head`: the reader went away; stop quietly as Unix tools do, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`error: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    const { options, positionals, help } = parseCommandArgs(cmd, rest);
    if (help) {
      process.stdout.write(commandHelp(cmd));
      return 0;
    }
    return await cmd.run(options, positionals);
  } catch (err) {
    process.stderr.write(`${formatError(err)}\n`);
    if (process.env.SDS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
