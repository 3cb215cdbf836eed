#!/usr/bin/env node
// Launcher: runs the TypeScript CLI through tsx, in a Node started with the flags the WASM engine
// needs (--no-wasm-dynamic-tiering cannot be set through NODE_OPTIONS, so we re-exec once).
//
// The two processes live and die together. The launcher forwards SIGINT/SIGTERM/SIGHUP to the
// compute process over an IPC channel (a message, so the compute process can tell them from the
// same signal a terminal sends to both: cli/interrupt.ts), and exits with its status. When the
// launcher dies without a word (kill -9), the channel closes and the compute process exits too,
// instead of writing on as an orphan.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FLAGS = ['--no-wasm-dynamic-tiering'];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

if (FLAGS.every((f) => process.execArgv.includes(f))) {
  if (process.send) {
    // started by the launcher below
    process.on('disconnect', () => {
      process.stderr.write('sds: the launcher process is gone; stopping (finished work is kept)\n');
      process.exit(129);
    });
    process.on('message', (m) => {
      if (!m || m.sds !== 'signal' || !SIGNALS.includes(m.signal)) return;
      // a command that handles interruption counts forwarded signals apart (cli/interrupt.ts);
      // for the others it is as if the signal had come here
      if (process.listenerCount('sds:forwarded-signal')) process.emit('sds:forwarded-signal', m.signal);
      else if (process.listenerCount(m.signal)) process.emit(m.signal, m.signal);
      else process.kill(process.pid, m.signal);
    });
    // the channel must not keep this process alive once its work is done
    process.channel?.unref();
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { run } = await import(main);
  process.exitCode = await run(process.argv.slice(2));
} else {
  const child = spawn(process.execPath, [...FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  const forward = (sig) => {
    if (child.connected) child.send({ sds: 'signal', signal: sig }, (err) => err && child.kill(sig));
    else child.kill(sig);
  };
  for (const sig of SIGNALS) process.on(sig, forward);
  child.on('error', (err) => {
    process.stderr.write(`sds: cannot start ${process.execPath}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      // die of the same signal, so the shell sees what the compute process saw
      for (const sig of SIGNALS) process.off(sig, forward);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
}
