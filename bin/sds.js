#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx, in a Node started with the flags the WASM engine
// needs (--no-wasm-dynamic-tiering cannot be set through NODE_OPTIONS, so we re-exec once).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FLAGS = ['--no-wasm-dynamic-tiering'];
const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

if (FLAGS.every((f) => process.execArgv.includes(f))) {
  const { register } = await import('tsx/esm/api');
  register();
  const { run } = await import(main);
  process.exitCode = await run(process.argv.slice(2));
} else {
  const child = spawn(process.execPath, [...FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
