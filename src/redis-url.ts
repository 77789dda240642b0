/**
 * REDIS_URL, read the way node-redis reads it:
 *   redis://[[user][:password]@]host[:port][/db]
 *   rediss://...                          (TLS)
 *   unix://[[user][:password]@]/path/to/redis.sock[?db=N]
 * User and password are percent-decoded. The password never leaves this
 * module except towards the addon; redactRedisUrl() is what logs may show.
 */
import { FirehoseError, ErrorCodes } from './errors.js';

export interface RedisTarget {
  host?: string;
  port?: number;
  path?: string;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
}

function bad(why: string): never {
  throw new FirehoseError(`REDIS_URL ${why}`, ErrorCodes.CONFIG);
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return bad(`has a malformed percent-escape in its ${what}`);
  }
}

function parseDb(raw: string): number {
  if (!/^\d+$/.test(raw)) bad(`database "${raw}" is not a number (redis://host:6379/0)`);
  const db = Number(raw);
  if (db > 2 ** 31 - 1) bad(`database ${raw} is out of range`);
  return db;
}

export function parseRedisUrl(raw: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return bad(`is not a URL: expected redis://[user:password@]host[:port][/db]`);
  }
  const scheme = url.protocol;
  if (scheme !== 'redis:' && scheme !== 'rediss:' && scheme !== 'unix:') {
    bad(`has an unknown scheme "${scheme}": use redis://, rediss:// or unix://`);
  }
  const target: RedisTarget = { db: 0, tls: scheme === 'rediss:' };
  if (url.username) target.username = decode(url.username, 'user name');
  if (url.password) target.password = decode(url.password, 'password');

  if (scheme === 'unix:') {
    const path = decode(url.pathname, 'socket path');
    if (!path || path === '/') bad('names no socket path: unix:///path/to/redis.sock');
    target.path = path;
    const db = url.searchParams.get('db');
    if (db !== null) target.db = parseDb(db);
    return target;
  }

  // WHATWG URL keeps IPv6 hosts in brackets; the socket API wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) bad('names no host: redis://host:6379');
  target.host = host;
  target.port = url.port ? Number(url.port) : 6379;
  const dbPart = url.pathname.replace(/^\//, '');
  if (dbPart) target.db = parseDb(dbPart);
  return target;
}

/** The URL with its password replaced, for logs and error messages. */
export function redactRedisUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparsable REDIS_URL)';
  }
}
