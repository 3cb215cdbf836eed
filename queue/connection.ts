/**
 * Where the Redis behind a distributed queue is and how to reach it: `redis://` or `rediss://`
 * (TLS) URLs, the password from the URL or SDS_REDIS_PASSWORD (so it stays out of `ps`), a
 * private CA from SDS_REDIS_CA. `checkRedis` answers within a few seconds with an error that says
 * what is wrong, instead of the endless reconnecting that queue clients do by design.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { SdsError } from '../core/errors.js';

export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** the URL without its password, for messages */
  display: string;
}

export interface ConnectOptions {
  url: string;
  /** overrides the URL's password and SDS_REDIS_PASSWORD */
  password?: string;
  /** how long to wait for Redis to answer (default 5000 ms) */
  connectTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function parseRedisUrl(url: string, { password, env = process.env }: Pick<ConnectOptions, 'password' | 'env'> = {}): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badUrl(url);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw badUrl(url);
  if (!u.hostname) throw badUrl(url);
  const path = u.pathname.replace(/^\//, '');
  if (path && !/^\d+$/.test(path)) throw badUrl(url);
  const tls = u.protocol === 'rediss:';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port ? Number(u.port) : 6379;
  const db = path ? Number(path) : 0;
  // Redis numbers its databases 0..N-1 with N a server setting (16 by default); no server has more than 2^31
  if (!Number.isSafeInteger(db) || db > MAX_DB) throw badDb(url, path);
  const username = decodeURIComponent(u.username) || env.SDS_REDIS_USERNAME || undefined;
  const pass = password ?? (decodeURIComponent(u.password) || env.SDS_REDIS_PASSWORD || undefined);
  return { host, port, db, username, password: pass, tls, display: `${u.protocol}//${u.hostname}:${port}/${db}` };
}

const MAX_DB = 2 ** 31 - 1;

function badDb(url: string, db: string): SdsError {
  return new SdsError('BAD_ARGUMENT', `--queue ${url.replace(/\/\/[^@/]*@/, '//***@')}: database ${db} is out of range`, {
    suggestion: 'give a database number the server has: redis://HOST:PORT/0 to /15 on a default Redis (its `databases` setting)',
  });
}

function badUrl(url: string): SdsError {
  return new SdsError('BAD_ARGUMENT', `--queue ${url.replace(/\/\/[^@/]*@/, '//***@')} is not a Redis URL`, {
    suggestion: 'use redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB] for TLS; give the password in SDS_REDIS_PASSWORD (or redis://:PASSWORD@HOST:PORT)',
  });
}

/**
 * ioredis options for BullMQ. Workers need `maxRetriesPerRequest: null` (their commands wait out a
 * Redis restart instead of failing the job); `failFast` connections (enqueue, status) give up
 * after a few reconnects instead, so a command never hangs on a Redis that went away.
 */
export function redisOptions(t: RedisTarget, { connectTimeoutMs = 5000, env = process.env, failFast = false }: Pick<ConnectOptions, 'connectTimeoutMs' | 'env'> & { failFast?: boolean } = {}): RedisOptions {
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    username: t.username,
    password: t.password,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: failFast ? 3 : null,
    // SNI only for names (RFC 6066); the certificate is checked against the host either way
    ...(t.tls ? { tls: { ...(isIP(t.host) ? {} : { servername: t.host }), ...(env.SDS_REDIS_CA ? { ca: readCa(env.SDS_REDIS_CA) } : {}) } } : {}),
  };
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new SdsError('FILE_NOT_FOUND', `SDS_REDIS_CA: cannot read the CA certificate ${path}`, { cause });
  }
}

/** Connects once, authenticates and pings; throws a QUEUE_UNAVAILABLE SdsError within about the timeout. */
export async function checkRedis(t: RedisTarget, o: Pick<ConnectOptions, 'connectTimeoutMs' | 'env'> = {}): Promise<void> {
  const timeout = o.connectTimeoutMs ?? 5000;
  // db 0 here: the database is selected below, where a refusal is an error (ioredis only reports a
  // failed SELECT as an event and goes on in database 0)
  const client = new Redis({ ...redisOptions(t, o), db: 0, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, reconnectOnError: () => false });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => (lastError ??= err)); // reported below; without a listener ioredis prints it
  let timer: NodeJS.Timeout | undefined;
  try {
    const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('ETIMEDOUT')), timeout + 500)));
    let selectError: Error | undefined;
    await Promise.race([(async () => {
      await client.connect();
      await client.ping();
      if (t.db !== 0) await client.select(t.db).catch((err: Error) => (selectError = err));
    })(), expired]);
    if (selectError) throw await noDatabase(client, t, selectError);
  } catch (err) {
    if (err instanceof SdsError) throw err;
    throw unreachable(t, lastError ?? (err as Error), timeout);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** A database the server refused to SELECT: out of its range (the count when the server tells it), or a server with one database. */
async function noDatabase(client: Redis, t: RedisTarget, err: Error): Promise<SdsError> {
  let count: number | undefined;
  try {
    const r = (await client.config('GET', 'databases')) as unknown as string[];
    count = Number(r[1]) || undefined;
  } catch {
    // CONFIG may be disabled (managed Redis): the server's own words below
  }
  const range = /out of range/i.test(err.message);
  return new SdsError('QUEUE_UNAVAILABLE', `Redis at ${t.display} has no database ${t.db}${count ? ` (it has ${count}: 0-${count - 1})` : ''}: ${err.message}`, {
    suggestion: range ? `use a database number the server has${count ? ` (0-${count - 1})` : ''}, or raise its \`databases\` setting` : 'this server offers database 0 only: drop /DB from --queue',
    cause: err,
  });
}

function unreachable(t: RedisTarget, err: Error, timeout: number): SdsError {
  const m = `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`;
  const where = t.display;
  if (/NOAUTH|WRONGPASS|invalid password|invalid username-password/i.test(m)) {
    return new SdsError('QUEUE_UNAVAILABLE', `Redis at ${where} refused the connection: ${t.password ? 'wrong password (or user)' : 'it needs a password'}`, {
      suggestion: 'set SDS_REDIS_PASSWORD (and SDS_REDIS_USERNAME for an ACL user), or put it in the URL: redis://:PASSWORD@HOST:PORT',
      cause: err,
    });
  }
  if (/ECONNREFUSED/.test(m)) {
    return new SdsError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${where}: nothing is listening there (connection refused)`, {
      suggestion: 'start redis-server on that host and port (bound to an address the workers can reach), or correct --queue',
      cause: err,
    });
  }
  if (/ENOTFOUND|EAI_AGAIN/.test(m)) {
    return new SdsError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${where}: host ${t.host} not found`, { suggestion: 'check the host name in --queue', cause: err });
  }
  if (/ETIMEDOUT|timed? ?out/i.test(m)) {
    return new SdsError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${where}: no answer within ${(timeout / 1000).toFixed(0)} s`, {
      suggestion: 'check that Redis runs there and that no firewall drops the port; a TLS server needs rediss://',
      cause: err,
    });
  }
  if (/SSL|TLS|certificate|EPROTO|ECONNRESET/i.test(m)) {
    return new SdsError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${where}: ${err.message}`, {
      suggestion: t.tls ? 'the TLS handshake failed: check the server certificate (SDS_REDIS_CA=ca.pem for a private CA)' : 'a TLS-only server needs rediss://',
      cause: err,
    });
  }
  return new SdsError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${where}: ${err.message}`, { suggestion: 'check --queue and that redis-server runs there', cause: err });
}
