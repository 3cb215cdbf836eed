/**
 * The DNS-rebinding guard (server/app.ts, server/loopback.ts): it applies whenever the server is
 * bound to a loopback address however --host spelled it, and it accepts Host headers that are
 * loopback in any spelling (with a port, IPv6 in brackets) and nothing else.
 */
import { createServer as createHttpServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createServer } from '../../server/index.js';
import { hostOfHeader, isLoopbackHost, parseIPv4 } from '../../server/loopback.js';

/** GET `path` from 127.0.0.1 / ::1 : `port` with this Host header; the status. */
function getWithHost(address: string, port: number, host: string | undefined, path = '/api/config'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, headers: host === undefined ? {} : { host }, setHost: host === undefined ? false : undefined }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** True when this machine can bind ::1 (some containers have no IPv6 loopback). */
async function hasIPv6Loopback(): Promise<boolean> {
  const s = createHttpServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

const LOOPBACK_HOSTS = [
  'localhost', 'LOCALHOST', 'localhost.', '127.0.0.1', '127.1', '127.0.1', '127.255.255.254', '127.000.000.001', '0177.0.0.1', '0x7f.0.0.1', '0x7F000001', '2130706433', '127.0.0.1.',
  '::1', '[::1]', '0:0:0:0:0:0:0:1', '[0:0:0:0:0:0:0:1]', '0000:0000:0000:0000:0000:0000:0000:0001', '::0:1', '0::1', '::1%lo', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]', '::ffff:7f00:1', '0:0:0:0:0:ffff:127.1.2.3', '::FFFF:7F00:0001',
];
const OTHER_HOSTS = [
  '', 'evil.example', 'localhost.evil.example', 'evil-localhost', 'mylocalhost', '127.0.0.1.nip.io', '127.0.0.1.evil.example', '0.0.0.0', '0', '128.0.0.1', '126.255.255.255', '10.0.0.1', '192.168.1.1', '1.127.0.0',
  '127.0.0.256', '127.0.0.1.1', '127..1', '08.0.0.1', '0x', '::', '::2', '1::1', '::127.0.0.1', '::ffff:128.0.0.1', '::ffff:0.0.0.0', 'fe80::1', '[::1', '::1]', '[evil.example]', '::1::1', '0:0:0:0:0:0:0:0:1',
];

describe('loopback, however spelled', () => {
  it('recognises every loopback spelling and nothing else', () => {
    for (const h of LOOPBACK_HOSTS) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of OTHER_HOSTS) expect(isLoopbackHost(h), h).toBe(false);
  });

  it('parses IPv4 the way inet_aton (and so listen) does', () => {
    expect(parseIPv4('127.1')).toBe(0x7f000001);
    expect(parseIPv4('127.0.1')).toBe(0x7f000001);
    expect(parseIPv4('0x7f.1')).toBe(0x7f000001);
    expect(parseIPv4('017700000001')).toBe(0x7f000001);
    expect(parseIPv4('4294967295')).toBe(0xffffffff);
    expect(parseIPv4('4294967296')).toBeUndefined();
    expect(parseIPv4('1.2.3.4.5')).toBeUndefined();
    expect(parseIPv4('1.2.65536')).toBeUndefined();
    expect(parseIPv4('1.2.65535')).toBe(0x0102ffff);
  });

  it('takes the port off a Host header', () => {
    expect(hostOfHeader('localhost:3000')).toBe('localhost');
    expect(hostOfHeader('127.1:80')).toBe('127.1');
    expect(hostOfHeader('[::1]:3000')).toBe('[::1]');
    expect(hostOfHeader('[::1]')).toBe('[::1]');
    expect(hostOfHeader('::1')).toBe('::1');
    expect(hostOfHeader('evil.example')).toBe('evil.example');
  });
});

describe('the DNS-rebinding guard', () => {
  /** Starts a server bound to `host`, runs `f` with the address it listens on, closes it. */
  async function withServer(host: string, f: (address: string, port: number) => Promise<void>, allowedHosts: string[] = []): Promise<void> {
    const s = createServer({ host, port: 0, rescanMs: 60_000, allowedHosts }, () => undefined);
    const l = await s.listen();
    try {
      await f(l.host, l.port);
    } finally {
      await s.close();
    }
  }

  const expectGuarded = async (address: string, port: number) => {
    for (const h of ['evil.example', `evil.example:${port}`, '127.0.0.1.evil.example', 'localhost.evil.example', '0.0.0.0', `[fe80::1]:${port}`, '[::2]', '::1.evil.example']) {
      const r = await getWithHost(address, port, h);
      expect(r.status, `Host: ${h}`).toBe(403);
      expect(r.type, h).toMatch(/application\/json/);
      expect(JSON.parse(r.body).error.code, h).toBe('FORBIDDEN_HOST');
    }
    for (const h of ['localhost', `localhost:${port}`, `127.0.0.1:${port}`, '127.1', `127.1:${port}`, '127.5.6.7', '0x7f.1', '[::1]', `[::1]:${port}`, `[0:0:0:0:0:0:0:1]:${port}`, '[::ffff:127.0.0.1]', 'LocalHost.']) {
      expect((await getWithHost(address, port, h)).status, `Host: ${h}`).toBe(200);
    }
  };

  for (const host of ['127.0.0.1', '127.1', '127.0.0.2', '0x7f.0.0.1', 'localhost']) {
    it(`guards a server started with --host ${host}`, async () => {
      await withServer(host, async (address, port) => {
        expect(isLoopbackHost(address)).toBe(true);
        await expectGuarded(address, port);
      });
    });
  }

  it.each(['::1', '0:0:0:0:0:0:0:1', '0000::0001', '::ffff:127.0.0.1'])('guards a server started with --host %s (IPv6)', async (host) => {
    if (!(await hasIPv6Loopback())) return; // no IPv6 loopback in this container
    await withServer(host, async (address, port) => {
      expect(isLoopbackHost(address)).toBe(true);
      await expectGuarded(address.includes(':') && !address.startsWith('::ffff:') ? address : '127.0.0.1', port);
    });
  });

  it('accepts the extra names of allowedHosts, and only those', async () => {
    await withServer('127.1', async (address, port) => {
      expect((await getWithHost(address, port, `lab-viewer:${port}`)).status).toBe(200);
      expect((await getWithHost(address, port, 'LAB-VIEWER')).status).toBe(200);
      expect((await getWithHost(address, port, 'other-viewer')).status).toBe(403);
    }, ['lab-viewer']);
  });

  it('does not guard a server whose host is not loopback (it answers every Host)', async () => {
    // configured for a non-loopback address, but mounted on a loopback socket by hand (no public bind in tests)
    const s = createServer({ host: '192.0.2.1', port: 0, rescanMs: 60_000 }, () => undefined);
    const http = createHttpServer(s.app);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const port = (http.address() as AddressInfo).port;
      expect((await getWithHost('127.0.0.1', port, 'viewer.lab.example')).status).toBe(200);
    } finally {
      await new Promise((r) => http.close(r));
      await s.close();
    }
  });
});
