/** A private redis-server for tests: loopback only, no persistence; a password, or TLS with `tls` files. */
import { spawn } from 'node:child_process';
import { freePort } from './free-port.js';

export interface TestRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startRedis(o: { password?: string; tls?: { cert: string; key: string; ca: string } } = {}): Promise<TestRedis> {
  const port = await freePort();
  const { tls, password } = o;
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no']
    : ['--port', String(port), ...(password ? ['--requirepass', password] : [])];
  const p = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 15_000);
    p.stdout!.on('data', (b: Buffer) => {
      log += b;
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(t);
        resolve();
      }
    });
    p.on('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${log}`)));
  });
  return {
    url: `${tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (p.exitCode !== null) return;
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    },
  };
}
