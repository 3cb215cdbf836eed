/** HTTP requests sent byte for byte (no URL normalisation, any method, headers and body), and raw socket writes. */
import { request } from 'node:http';
import { connect } from 'node:net';

export interface RawReply {
  status: number;
  type: string;
  body: Buffer;
}

/** One request to 127.0.0.1:`port` with `path` exactly as given. */
export function rawRequest(port: number, o: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: o.path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

/** Writes `bytes` to a fresh connection and returns everything the server sends before it closes (5 s at most). */
export function rawSocket(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    s.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    s.write(bytes);
  });
}
