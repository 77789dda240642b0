/**
 * Every setting, its default and its meaning, read from the environment and
 * validated in one place. A bad value throws FirehoseError (ERR_CONFIG) with
 * one line that names the variable; the CLI turns that into exit code 2.
 */
import fs from 'node:fs';
import { FirehoseError, ErrorCodes } from './errors.js';
import { parseRedisUrl, type RedisTarget } from './redis-url.js';

export type LogFormat = 'auto' | 'json' | 'pretty';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** RELAY_URL first, then the RELAY_URLS fallbacks, without duplicates. */
  relayUrls: string[];
  redisUrl: string;
  redis: RedisTarget;
  redisTlsCaFile: string;
  redisTlsCertFile: string;
  redisTlsKeyFile: string;
  streamKey: string;
  cursorKey: string;
  maxStreamLen: number;
  collections: string[];
  emitSync: boolean;
  emitInfo: boolean;
  batchMaxEvents: number;
  batchMaxBytes: number;
  batchFlushMs: number;
  queueMaxBytes: number;
  stallTimeoutMs: number;
  pingIntervalMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  shutdownTimeoutMs: number;
  redisConnectTimeoutMs: number;
  redisCommandTimeoutMs: number;
  maxMessageBytes: number;
  maxBlocksBytes: number;
  maxCommitOps: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  httpPort: number;
  httpHost: string;
  dashboardStatus: boolean;
  dashboardRecentEvents: boolean;
  dashboardBroadcast: boolean;
}

export interface Setting {
  name: string;
  default: string;
  doc: string;
}

/** The settings table; the README documents exactly these. */
export const SETTINGS: readonly Setting[] = [
  { name: 'RELAY_URL', default: 'wss://bsky.network', doc: 'Relay base URL; `/xrpc/com.atproto.sync.subscribeRepos` is appended.' },
  { name: 'RELAY_URLS', default: '', doc: 'Fallback relays, comma-separated, tried in order after RELAY_URL. Each keeps its own cursor key (`<REDIS_CURSOR_KEY>:<host>`).' },
  { name: 'REDIS_URL', default: 'redis://localhost:6379', doc: '`redis://[user:password@]host[:port][/db]`, `rediss://` (TLS) or `unix:///path.sock[?db=N]`.' },
  { name: 'REDIS_TLS_CA_FILE', default: '', doc: 'With rediss://: PEM file of the CA(s) to trust instead of the system\'s.' },
  { name: 'REDIS_TLS_CERT_FILE', default: '', doc: 'With rediss://: client certificate (PEM), for servers that require one; needs REDIS_TLS_KEY_FILE.' },
  { name: 'REDIS_TLS_KEY_FILE', default: '', doc: 'With rediss://: the client certificate\'s private key (PEM).' },
  { name: 'REDIS_STREAM_KEY', default: 'firehose:events', doc: 'Stream written with XADD.' },
  { name: 'REDIS_CURSOR_KEY', default: 'firehose:python_cursor', doc: 'String key holding the last durable seq (for resume).' },
  { name: 'REDIS_MAX_STREAM_LEN', default: '500000', doc: 'Approximate stream cap (`MAXLEN ~ N`); 0 disables trimming.' },
  { name: 'COLLECTIONS', default: '', doc: 'Keep only ops in these collections, e.g. `app.bsky.feed.post,app.bsky.graph.*`; a commit left without ops is not written. Empty: keep all.' },
  { name: 'EXTRA_TYPES', default: '', doc: 'Also write these frame types as entries: `sync`, `info` (comma-separated). Today\'s consumers ignore them.' },
  { name: 'BATCH_MAX_EVENTS', default: '1000', doc: 'Most entries in one MULTI/EXEC batch.' },
  { name: 'BATCH_MAX_BYTES', default: '2097152', doc: 'Most relay-frame bytes in one batch (its entries take about a third of that).' },
  { name: 'BATCH_FLUSH_MS', default: '1', doc: 'Longest a partial batch waits for more events (fractions allowed).' },
  { name: 'QUEUE_MAX_BYTES', default: '33554432', doc: 'Queue bound: above it the relay socket is paused until the queue is half empty.' },
  { name: 'STALL_TIMEOUT_MS', default: '60000', doc: 'Reconnect when no data arrived for this long.' },
  { name: 'PING_INTERVAL_MS', default: '30000', doc: 'WebSocket ping interval; a missing pong by the next ping means a dead connection.' },
  { name: 'RECONNECT_MIN_MS', default: '1000', doc: 'First reconnect delay (doubles, with full jitter).' },
  { name: 'RECONNECT_MAX_MS', default: '30000', doc: 'Longest reconnect delay.' },
  { name: 'SHUTDOWN_TIMEOUT_MS', default: '10000', doc: 'On SIGTERM/SIGINT: time allowed to flush the queue before exiting.' },
  { name: 'REDIS_CONNECT_TIMEOUT_MS', default: '5000', doc: 'Redis connect timeout.' },
  { name: 'REDIS_COMMAND_TIMEOUT_MS', default: '10000', doc: 'Longest wait for a batch reply before the connection is treated as dead.' },
  { name: 'MAX_MESSAGE_BYTES', default: '5242880', doc: 'Largest accepted relay message (protocol: 5 MB).' },
  { name: 'MAX_BLOCKS_BYTES', default: '2097152', doc: 'Largest accepted commit `blocks` (protocol: 2 MB).' },
  { name: 'MAX_COMMIT_OPS', default: '200', doc: 'Most ops accepted in one commit (protocol: 200).' },
  { name: 'LOG_LEVEL', default: 'info', doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.' },
  { name: 'LOG_FORMAT', default: 'auto', doc: '`json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise).' },
  { name: 'HTTP_PORT', default: '8080', doc: 'Port of `/healthz` and `/metrics`; 0 turns the HTTP server off.' },
  { name: 'HTTP_HOST', default: '0.0.0.0', doc: 'Address the HTTP server listens on.' },
  { name: 'DASHBOARD_STATUS', default: 'true', doc: 'Refresh `firehose:status` every 5 s (SETEX 10).' },
  { name: 'DASHBOARD_RECENT_EVENTS', default: 'false', doc: 'Keep `firehose:recent_events` (last 50 events, SETEX 10).' },
  { name: 'DASHBOARD_BROADCAST', default: 'false', doc: 'PUBLISH a summary of every event on `firehose:events:broadcast`.' },
];

type Env = Record<string, string | undefined>;

function fail(name: string, why: string): never {
  throw new FirehoseError(`${name} ${why}`, ErrorCodes.CONFIG);
}

function raw(env: Env, name: string): string {
  const v = env[name];
  if (v !== undefined && v.trim() !== '') return v.trim();
  const s = SETTINGS.find((x) => x.name === name);
  if (!s) throw new Error(`no such setting ${name}`);
  return s.default;
}

function integer(env: Env, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = raw(env, name);
  if (!/^-?\d+$/.test(v)) fail(name, `must be a whole number, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) fail(name, `must be between ${min} and ${max}, got ${v}`);
  return n;
}

function decimal(env: Env, name: string, min: number, max: number): number {
  const v = raw(env, name);
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !Number.isFinite(n)) fail(name, `must be a number, got "${v}"`);
  if (n < min || n > max) fail(name, `must be between ${min} and ${max}, got ${v}`);
  return n;
}

function bool(env: Env, name: string): boolean {
  const v = raw(env, name).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return fail(name, `must be true or false, got "${v}"`);
}

function list(env: Env, name: string): string[] {
  return raw(env, name)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function relayUrl(name: string, v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return fail(name, `is not a URL: "${v}" (expected wss://host)`);
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    fail(name, `must start with wss:// or ws://, got "${url.protocol}//"`);
  }
  if (url.search || url.hash) fail(name, 'must not carry a query or fragment; the cursor is added by the service');
  return url.toString().replace(/\/+$/, '');
}

const NSID_PATTERN = /^(\*|[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)*(\.\*)?)$/;

export function loadConfig(env: Env = process.env): Config {
  const relays = [relayUrl('RELAY_URL', raw(env, 'RELAY_URL')), ...list(env, 'RELAY_URLS').map((u) => relayUrl('RELAY_URLS', u))];
  const collections = list(env, 'COLLECTIONS');
  for (const c of collections) {
    if (!NSID_PATTERN.test(c)) fail('COLLECTIONS', `entry "${c}" is neither a collection NSID nor a prefix ending in ".*"`);
  }
  const extra = list(env, 'EXTRA_TYPES');
  for (const t of extra) {
    if (t !== 'sync' && t !== 'info') fail('EXTRA_TYPES', `entry "${t}" is not one of: sync, info`);
  }
  const logLevel = raw(env, 'LOG_LEVEL').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) fail('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const logFormat = raw(env, 'LOG_FORMAT').toLowerCase();
  if (logFormat !== 'auto' && logFormat !== 'json' && logFormat !== 'pretty') fail('LOG_FORMAT', `must be auto, json or pretty, got "${logFormat}"`);
  for (const key of ['REDIS_STREAM_KEY', 'REDIS_CURSOR_KEY']) {
    if (/\s/.test(raw(env, key))) fail(key, 'must not contain white space');
  }
  const redisUrl = raw(env, 'REDIS_URL');
  const redis = parseRedisUrl(redisUrl);
  const tlsFiles = ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE'].map((name) => {
    const file = raw(env, name);
    if (file && !redis.tls) fail(name, 'is only used with a rediss:// REDIS_URL');
    if (file && !fs.existsSync(file)) fail(name, `names "${file}", which does not exist`);
    return file;
  });
  if (!tlsFiles[1] !== !tlsFiles[2]) fail('REDIS_TLS_CERT_FILE', 'and REDIS_TLS_KEY_FILE must be set together');
  const reconnectMinMs = integer(env, 'RECONNECT_MIN_MS', 1, 3_600_000);
  const reconnectMaxMs = integer(env, 'RECONNECT_MAX_MS', 1, 3_600_000);
  if (reconnectMaxMs < reconnectMinMs) fail('RECONNECT_MAX_MS', `(${reconnectMaxMs}) must not be below RECONNECT_MIN_MS (${reconnectMinMs})`);
  const maxMessageBytes = integer(env, 'MAX_MESSAGE_BYTES', 1024, 1 << 30);
  return {
    relayUrls: [...new Set(relays)],
    redisUrl,
    redis,
    redisTlsCaFile: tlsFiles[0]!,
    redisTlsCertFile: tlsFiles[1]!,
    redisTlsKeyFile: tlsFiles[2]!,
    streamKey: raw(env, 'REDIS_STREAM_KEY'),
    cursorKey: raw(env, 'REDIS_CURSOR_KEY'),
    maxStreamLen: integer(env, 'REDIS_MAX_STREAM_LEN', 0),
    collections,
    emitSync: extra.includes('sync'),
    emitInfo: extra.includes('info'),
    batchMaxEvents: integer(env, 'BATCH_MAX_EVENTS', 1, 100_000),
    batchMaxBytes: integer(env, 'BATCH_MAX_BYTES', 1024, 1 << 30),
    batchFlushMs: decimal(env, 'BATCH_FLUSH_MS', 0, 10_000),
    queueMaxBytes: integer(env, 'QUEUE_MAX_BYTES', 1 << 20, 2 ** 40),
    stallTimeoutMs: integer(env, 'STALL_TIMEOUT_MS', 100, 86_400_000),
    pingIntervalMs: integer(env, 'PING_INTERVAL_MS', 100, 86_400_000),
    reconnectMinMs,
    reconnectMaxMs,
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 0, 3_600_000),
    redisConnectTimeoutMs: integer(env, 'REDIS_CONNECT_TIMEOUT_MS', 1, 600_000),
    redisCommandTimeoutMs: integer(env, 'REDIS_COMMAND_TIMEOUT_MS', 1, 600_000),
    maxMessageBytes,
    maxBlocksBytes: integer(env, 'MAX_BLOCKS_BYTES', 1024, maxMessageBytes),
    maxCommitOps: integer(env, 'MAX_COMMIT_OPS', 1, 100_000),
    logLevel: logLevel as LogLevel,
    logFormat: logFormat as LogFormat,
    httpPort: integer(env, 'HTTP_PORT', 0, 65535),
    httpHost: raw(env, 'HTTP_HOST'),
    dashboardStatus: bool(env, 'DASHBOARD_STATUS'),
    dashboardRecentEvents: bool(env, 'DASHBOARD_RECENT_EVENTS'),
    dashboardBroadcast: bool(env, 'DASHBOARD_BROADCAST'),
  };
}

/** Where each relay keeps its cursor: seq numbers belong to one relay. */
export function cursorKeyFor(config: Config, relayIndex: number): string {
  if (relayIndex === 0) return config.cursorKey;
  return `${config.cursorKey}:${new URL(config.relayUrls[relayIndex]!).host}`;
}
