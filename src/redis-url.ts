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
  /** Unix socket path; replaces host and port. */
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

function parseDb(raw: string, example: string): number {
  if (!/^\d+$/.test(raw)) bad(`database "${raw}" is not a number (${example})`);
  const db = Number(raw);
  if (db > 2 ** 31 - 1) bad(`database ${raw} is out of range`);
  return db;
}

// WHATWG URL refuses credentials without a host (unix://user:pw@/path):
// lend such a URL a host, which the unix branch ignores.
const UNIX_CREDENTIALS = /^(unix:\/\/[^/@]*@)\//i;

export function parseRedisUrl(raw: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(raw.replace(UNIX_CREDENTIALS, '$1localhost/'));
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
    for (const key of url.searchParams.keys()) {
      if (key !== 'db') bad(`has an unknown parameter "${key}": unix:///path/to/redis.sock?db=N takes only db`);
    }
    const db = url.searchParams.get('db');
    if (db !== null) target.db = parseDb(db, 'unix:///path/to/redis.sock?db=0');
    return target;
  }

  // An unescaped "/", "?" or "#" in the password moves the rest of it (and
  // the "@") past the host: say so without echoing any of it.
  if ((url.pathname + url.search + url.hash).includes('@')) {
    bad('has an "@" after the host: percent-encode "/", "?", "#" and "@" in the user name and password');
  }
  // WHATWG URL keeps IPv6 hosts in brackets; the socket API wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) bad('names no host: redis://host:6379');
  target.host = host;
  if (url.search) bad('takes no query parameters: put the database in the path, redis://host:6379/<db>');
  if (url.port === '0') bad('has port 0: use the port Redis listens on (6379 by default)');
  target.port = url.port ? Number(url.port) : 6379;
  const dbPart = url.pathname.replace(/^\//, '');
  if (dbPart) target.db = parseDb(dbPart, 'redis://host:6379/0');
  return target;
}

/** The URL with its password replaced, for logs and error messages. */
export function redactRedisUrl(raw: string): string {
  try {
    const lent = UNIX_CREDENTIALS.test(raw);
    const url = new URL(lent ? raw.replace(UNIX_CREDENTIALS, '$1localhost/') : raw);
    // An "@" past the host: part of an unescaped password may be anywhere.
    if (url.protocol !== 'unix:' && (url.pathname + url.search + url.hash).includes('@')) return '(unparsable REDIS_URL)';
    if (url.password) url.password = '***';
    const text = url.toString();
    return lent ? text.replace(/^(unix:\/\/[^/@]*@)localhost\//i, '$1/') : text;
  } catch {
    return '(unparsable REDIS_URL)';
  }
}
