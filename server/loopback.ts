/**
 * Is this address or name loopback, however it is spelled? Used twice: to decide whether the
 * DNS-rebinding guard applies (the address the server is bound to) and by the guard itself (the
 * request's Host header). Loopback here: `localhost`, 127.0.0.0/8 in any IPv4 spelling inet_aton
 * accepts (`127.1`, `0x7f.1`, `2130706433`), `::1` in any IPv6 spelling (`0:0:0:0:0:0:0:1`,
 * `[::1]`), and IPv4-mapped `::ffff:127.x.x.x`.
 */
import { isIP } from 'node:net';

/** One inet_aton part: decimal, octal (leading 0) or hex (0x); undefined when it is not a number. */
function ipv4Part(s: string): number | undefined {
  if (/^0x[0-9a-f]*$/i.test(s)) return s.length === 2 ? 0 : parseInt(s.slice(2), 16);
  if (/^0[0-7]*$/.test(s)) return parseInt(s, 8);
  if (/^[1-9]\d*$/.test(s)) return parseInt(s, 10);
  return undefined;
}

/**
 * The 32-bit value of an IPv4 address in any inet_aton spelling (a, a.b, a.b.c, a.b.c.d; each part
 * decimal, octal or hex), or undefined when `s` is not one. What getaddrinfo, and so `listen`, and
 * the WHATWG URL parser accept.
 */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length > 4 || parts.some((p) => p.length === 0 || p.length > 12)) return undefined;
  const nums = parts.map(ipv4Part);
  if (nums.some((n) => n === undefined)) return undefined;
  const n = nums as number[];
  const last = n.pop()!;
  if (n.some((x) => x > 255) || last >= 2 ** (8 * (4 - n.length))) return undefined;
  return n.reduce((acc, x, i) => acc + x * 2 ** (8 * (3 - i)), 0) + last;
}

/** The 8 16-bit groups of an IPv6 address (already checked by isIP), embedded IPv4 tail included. */
function ipv6Groups(s: string): number[] {
  let text = s;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = parseIPv4(v4[1]!)!;
    tail.push(n >>> 16, n & 0xffff);
    text = `${text.slice(0, -v4[1]!.length)}x`; // a placeholder group, dropped below
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (g: string) => (g === '' ? [] : g.split(':'));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const fill = rest === undefined ? 0 : 8 - tail.length - (h.length + r.length - (v4 ? 1 : 0));
  const all = [...h, ...new Array<string>(fill).fill('0'), ...r].filter((g) => g !== 'x').map((g) => parseInt(g, 16));
  return [...all, ...tail];
}

/**
 * True for a loopback address or name: `localhost` (a trailing dot allowed), 127.0.0.0/8 in any
 * inet_aton spelling, `::1` in any spelling (brackets and a zone index allowed), `::ffff:127.x.x.x`.
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === 'localhost') return true;
  const v4 = parseIPv4(h);
  if (v4 !== undefined) return v4 >>> 24 === 127;
  h = h.replace(/%[^%]*$/, ''); // zone index: fe80::1%eth0
  if (isIP(h) !== 6) return false;
  const g = ipv6Groups(h);
  if (g.length !== 8) return false;
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true; // ::1
  // IPv4-mapped ::ffff:a.b.c.d
  return g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff && g[6]! >>> 8 === 127;
}

/**
 * The host name of a Host header without its port: `name`, `name:port`, `[v6]`, `[v6]:port`; a bare
 * IPv6 address (invalid in a Host header, but sent by some clients) is taken whole.
 */
export function hostOfHeader(header: string): string {
  const h = header.trim();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colons = h.split(':').length - 1;
  if (colons === 1) return h.slice(0, h.indexOf(':'));
  return h;
}
