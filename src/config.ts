/**
 * Every setting, its default, its meaning and its accepted values, in one
 * table. The same validators read the environment (loadConfig: a bad value
 * throws ERR_CONFIG naming the variable; the CLI exits 2) and check the
 * library's options (checkOptions: ERR_INVALID_ARG naming the option), so
 * the native writer only ever receives valid values.
 */
import fs from 'node:fs';
import os from 'node:os';
import { FirehoseError, ErrorCodes } from './errors.js';
import { parseRedisUrl, type RedisTarget } from './redis-url.js';

export type LogFormat = 'auto' | 'json' | 'pretty';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type TrimPolicy = 'groups' | 'maxlen';

export interface Config {
  /** RELAY_URL first, then the RELAY_URLS fallbacks, without duplicates. */
  relayUrls: string[];
  redisUrl: string;
  /** REDIS_URL, parsed. */
  redis: RedisTarget;
  redisTlsCaFile: string;
  redisTlsCertFile: string;
  redisTlsKeyFile: string;
  /** `host:port` of each sentinel; empty: no Sentinel. */
  redisSentinels: string[];
  redisSentinelName: string;
  redisSentinelUsername: string;
  redisSentinelPassword: string;
  streamKey: string;
  cursorKey: string;
  maxStreamLen: number;
  trim: TrimPolicy;
  paceGroups: string[];
  paceStaleAfterMs: number;
  replayWindowMs: number;
  instanceId: string;
  leaseTtlMs: number;
  collections: string[];
  emitSync: boolean;
  emitInfo: boolean;
  batchMaxEvents: number;
  batchMaxBytes: number;
  queueMaxBytes: number;
  stallTimeoutMs: number;
  pingIntervalMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  shutdownTimeoutMs: number;
  redisConnectTimeoutMs: number;
  redisCommandTimeoutMs: number;
  redisRetryMinMs: number;
  redisRetryMaxMs: number;
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

/** What a value must be; check() returns why it is not, parse() reads the environment's text. */
interface Rule {
  check(v: unknown): string | undefined;
  parse(raw: string): unknown;
}

export interface Setting {
  name: string;
  default: string;
  doc: string;
}

interface Entry extends Setting {
  /** The Config field; undefined for settings folded into another field. */
  key?: keyof Config;
  rule: Rule;
  /** The default when it depends on the machine (SETTINGS shows it as empty). */
  fallback?: () => string;
}

const MS_DAY = 86_400_000;

function int(min: number, max: number): Rule {
  const range = `a whole number from ${min} to ${max}`;
  return {
    check: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? undefined : `must be ${range}`),
    parse: (raw) => (/^-?\d+$/.test(raw) ? Number(raw) : NaN),
  };
}

const bool: Rule = {
  check: (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'),
  parse: (raw) => {
    const v = raw.toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    return raw;
  },
};

function oneOf<T extends string>(values: readonly T[]): Rule {
  return {
    check: (v) => (typeof v === 'string' && (values as readonly string[]).includes(v) ? undefined : `must be one of ${values.join(', ')}`),
    parse: (raw) => raw.toLowerCase(),
  };
}

function text(why?: (s: string) => string | undefined): Rule {
  return {
    check: (v) => (typeof v !== 'string' ? 'must be a string' : why?.(v)),
    parse: (raw) => raw,
  };
}

function list(item?: (s: string) => string | undefined): Rule {
  return {
    check: (v) => {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return 'must be a list of strings';
      for (const x of v as string[]) {
        const why = item?.(x);
        if (why) return why;
      }
      return undefined;
    },
    parse: (raw) =>
      raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
  };
}

const key = text((s) => (s === '' ? 'must not be empty' : /\s/.test(s) ? 'must not contain white space' : undefined));
const file = text((s) => (s && !fs.existsSync(s) ? `names "${s}", which does not exist` : undefined));

function relayUrl(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return `has "${v}", which is not a URL (expected wss://host)`;
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') return `must start with wss:// or ws://, not ${url.protocol}//`;
  if (url.search || url.hash) return 'must not carry a query or fragment; the cursor is added by the service';
  return undefined;
}

const NSID_PATTERN = /^(\*|[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)*(\.\*)?)$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

/** The settings table; the README documents exactly these. */
const TABLE: readonly Entry[] = [
  { name: 'RELAY_URL', default: 'wss://bsky.network', rule: text(relayUrl), doc: 'Relay base URL; `/xrpc/com.atproto.sync.subscribeRepos` is appended.' },
  { name: 'RELAY_URLS', default: '', rule: list(relayUrl), doc: 'Fallback relays, comma-separated, tried in order after RELAY_URL. Each keeps its own cursor key (`<REDIS_CURSOR_KEY>:<host>`).' },
  { name: 'REDIS_URL', key: 'redisUrl', default: 'redis://localhost:6379', rule: text(), doc: '`redis://[user:password@]host[:port][/db]`, `rediss://` (TLS) or `unix:///path.sock[?db=N]`. With sentinels: only the credentials, database and TLS choice for the data nodes.' },
  { name: 'REDIS_TLS_CA_FILE', key: 'redisTlsCaFile', default: '', rule: file, doc: 'With rediss://: PEM file of the CA(s) to trust instead of the system\'s.' },
  { name: 'REDIS_TLS_CERT_FILE', key: 'redisTlsCertFile', default: '', rule: file, doc: 'With rediss://: client certificate (PEM), for servers that require one; needs REDIS_TLS_KEY_FILE.' },
  { name: 'REDIS_TLS_KEY_FILE', key: 'redisTlsKeyFile', default: '', rule: file, doc: 'With rediss://: the client certificate\'s private key (PEM).' },
  { name: 'REDIS_SENTINELS', key: 'redisSentinels', default: '', rule: list((s) => (HOST_PORT.test(s) ? undefined : `has "${s}", expected host:port`)), doc: 'Redis Sentinel: `host:port,host:port,…` of the sentinels (as ioredis\'s `sentinels`). Empty: no Sentinel.' },
  { name: 'REDIS_SENTINEL_NAME', key: 'redisSentinelName', default: '', rule: text(), doc: 'With REDIS_SENTINELS: the master\'s name in the sentinels\' configuration (as ioredis\'s `name`).' },
  { name: 'REDIS_SENTINEL_USERNAME', key: 'redisSentinelUsername', default: '', rule: text(), doc: 'With REDIS_SENTINELS: user name for sentinels that require one.' },
  { name: 'REDIS_SENTINEL_PASSWORD', key: 'redisSentinelPassword', default: '', rule: text(), doc: 'With REDIS_SENTINELS: password for sentinels that require one.' },
  { name: 'REDIS_STREAM_KEY', key: 'streamKey', default: 'firehose:events', rule: key, doc: 'Stream written with XADD. The lease (`<key>:lease`) and fence (`<key>:fence`) keys derive from it.' },
  { name: 'REDIS_CURSOR_KEY', key: 'cursorKey', default: 'firehose:python_cursor', rule: key, doc: 'String key holding the last durable seq (for resume).' },
  { name: 'REDIS_MAX_STREAM_LEN', key: 'maxStreamLen', default: '500000', rule: int(0, Number.MAX_SAFE_INTEGER), doc: 'Stream cap: the stream is trimmed to about this many entries; 0 disables trimming (and pacing).' },
  { name: 'REDIS_TRIM', key: 'trim', default: 'groups', rule: oneOf(['groups', 'maxlen'] as const), doc: '`groups`: never trim what a consumer group still needs, and pace the relay when a group falls a whole cap behind; `maxlen`: the old producers\' blind `MAXLEN ~`.' },
  { name: 'PACE_GROUPS', key: 'paceGroups', default: '', rule: list(), doc: 'Only these consumer groups pace the writer and bound trimming (comma-separated). Empty: every group of the stream, found as they come and go.' },
  { name: 'PACE_STALE_AFTER_MS', key: 'paceStaleAfterMs', default: '3600000', rule: int(1000, 30 * MS_DAY), doc: 'A group that is behind while all its consumers have been idle this long stops pacing the writer (logged, counted), so a forgotten group cannot stop the firehose.' },
  { name: 'RELAY_REPLAY_WINDOW_MS', key: 'replayWindowMs', default: '259200000', rule: int(1000, 365 * MS_DAY), doc: 'How far back the relay can replay (bsky.network: 72 h). Paced longer than this, events are lost at the relay: /healthz turns 503.' },
  { name: 'INSTANCE_ID', key: 'instanceId', default: '', fallback: () => os.hostname(), rule: key, doc: 'This instance\'s name in the lease. Give each instance its own; the same name restarting takes the lease back at once. Default: the host name.' },
  { name: 'LEASE_TTL_MS', key: 'leaseTtlMs', default: '10000', rule: int(500, 600_000), doc: 'How long a dead or frozen active instance blocks a standby\'s takeover.' },
  { name: 'COLLECTIONS', key: 'collections', default: '', rule: list((c) => (NSID_PATTERN.test(c) ? undefined : `has "${c}", which is neither a collection NSID nor a prefix ending in ".*"`)), doc: 'Keep only ops in these collections, e.g. `app.bsky.feed.post,app.bsky.graph.*`; a commit left without ops is not written. Empty: keep all.' },
  { name: 'EXTRA_TYPES', default: '', rule: list((t) => (t === 'sync' || t === 'info' ? undefined : `has "${t}", which is not one of: sync, info`)), doc: 'Also write these frame types as entries: `sync`, `info` (comma-separated). Today\'s consumers ignore them.' },
  { name: 'BATCH_MAX_EVENTS', key: 'batchMaxEvents', default: '1000', rule: int(1, 100_000), doc: 'Most entries in one batch.' },
  { name: 'BATCH_MAX_BYTES', key: 'batchMaxBytes', default: '2097152', rule: int(1024, 2 ** 30), doc: 'Most relay-frame bytes in one batch (its entries take about a third of that).' },
  { name: 'QUEUE_MAX_BYTES', key: 'queueMaxBytes', default: '16777216', rule: int(2 ** 20, 2 ** 40), doc: 'Queue bound: above it the relay socket is paused until the queue is half empty.' },
  { name: 'STALL_TIMEOUT_MS', key: 'stallTimeoutMs', default: '60000', rule: int(100, MS_DAY), doc: 'Reconnect when no data arrived for this long.' },
  { name: 'PING_INTERVAL_MS', key: 'pingIntervalMs', default: '30000', rule: int(100, MS_DAY), doc: 'WebSocket ping interval; a missing pong by the next ping means a dead connection.' },
  { name: 'RECONNECT_MIN_MS', key: 'reconnectMinMs', default: '1000', rule: int(1, 3_600_000), doc: 'First relay reconnect delay (doubles, with full jitter; back to this once a connection delivers events).' },
  { name: 'RECONNECT_MAX_MS', key: 'reconnectMaxMs', default: '30000', rule: int(1, 3_600_000), doc: 'Longest relay reconnect delay.' },
  { name: 'SHUTDOWN_TIMEOUT_MS', key: 'shutdownTimeoutMs', default: '10000', rule: int(0, 3_600_000), doc: 'On SIGTERM/SIGINT: time allowed to flush the queue before exiting.' },
  { name: 'REDIS_CONNECT_TIMEOUT_MS', key: 'redisConnectTimeoutMs', default: '5000', rule: int(1, 600_000), doc: 'Redis connect timeout.' },
  { name: 'REDIS_COMMAND_TIMEOUT_MS', key: 'redisCommandTimeoutMs', default: '10000', rule: int(1, 600_000), doc: 'Longest wait for a batch reply before the connection is treated as dead.' },
  { name: 'REDIS_RETRY_MIN_MS', key: 'redisRetryMinMs', default: '100', rule: int(1, 600_000), doc: 'First Redis retry delay (doubles up to REDIS_RETRY_MAX_MS, with jitter). While Redis refuses connections or is loading, it is asked every 100 ms instead.' },
  { name: 'REDIS_RETRY_MAX_MS', key: 'redisRetryMaxMs', default: '5000', rule: int(1, 600_000), doc: 'Longest Redis retry delay.' },
  { name: 'MAX_MESSAGE_BYTES', key: 'maxMessageBytes', default: '5242880', rule: int(1024, 2 ** 30), doc: 'Largest accepted relay message (protocol: 5 MB).' },
  { name: 'MAX_BLOCKS_BYTES', key: 'maxBlocksBytes', default: '2097152', rule: int(1024, 2 ** 30), doc: 'Largest accepted commit `blocks` (protocol: 2 MB).' },
  { name: 'MAX_COMMIT_OPS', key: 'maxCommitOps', default: '200', rule: int(1, 100_000), doc: 'Most ops accepted in one commit (protocol: 200).' },
  { name: 'LOG_LEVEL', key: 'logLevel', default: 'info', rule: oneOf(LOG_LEVELS), doc: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.' },
  { name: 'LOG_FORMAT', key: 'logFormat', default: 'auto', rule: oneOf(['auto', 'json', 'pretty'] as const), doc: '`json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise).' },
  { name: 'HTTP_PORT', key: 'httpPort', default: '8080', rule: int(0, 65535), doc: 'Port of `/healthz` and `/metrics`; 0 turns the HTTP server off.' },
  { name: 'HTTP_HOST', key: 'httpHost', default: '0.0.0.0', rule: text(), doc: 'Address the HTTP server listens on.' },
  { name: 'DASHBOARD_STATUS', key: 'dashboardStatus', default: 'true', rule: bool, doc: 'Refresh `firehose:status` every 5 s (SETEX 10).' },
  { name: 'DASHBOARD_RECENT_EVENTS', key: 'dashboardRecentEvents', default: 'false', rule: bool, doc: 'Keep `firehose:recent_events` (last 50 events, SETEX 10).' },
  { name: 'DASHBOARD_BROADCAST', key: 'dashboardBroadcast', default: 'false', rule: bool, doc: 'PUBLISH a summary of every event on `firehose:events:broadcast`.' },
];

export const SETTINGS: readonly Setting[] = TABLE.map(({ name, default: d, doc }) => ({ name, default: d, doc }));

type Env = Record<string, string | undefined>;

/** Names a problem in the caller's terms: the variable, or the option. */
type Fail = (entry: { name: string; key?: string }, why: string) => never;

const envFail: Fail = (e, why) => {
  throw new FirehoseError(`${e.name} ${why}`, ErrorCodes.CONFIG);
};
const optionFail: Fail = (e, why) => {
  throw new FirehoseError(`option ${e.key ?? e.name} ${why}`, ErrorCodes.INVALID_ARG);
};

function entry(name: string): Entry {
  return TABLE.find((e) => e.name === name)!;
}

function readEnv(env: Env, e: Entry): unknown {
  const v = env[e.name];
  const raw = v !== undefined && v.trim() !== '' ? v.trim() : e.default || e.fallback?.() || '';
  const value = e.rule.parse(raw);
  const why = e.rule.check(value);
  if (why) envFail(e, why.includes(`"${raw}"`) ? why : `${why}, got "${raw}"`);
  return value;
}

/** Checks that the fields agree with each other; derives nothing. */
function crossCheck(c: Config, fail: Fail): void {
  const name = (n: string) => entry(n);
  if (c.reconnectMaxMs < c.reconnectMinMs) fail(name('RECONNECT_MAX_MS'), `(${c.reconnectMaxMs}) must not be below RECONNECT_MIN_MS (${c.reconnectMinMs})`);
  if (c.redisRetryMaxMs < c.redisRetryMinMs) fail(name('REDIS_RETRY_MAX_MS'), `(${c.redisRetryMaxMs}) must not be below REDIS_RETRY_MIN_MS (${c.redisRetryMinMs})`);
  if (c.maxBlocksBytes > c.maxMessageBytes) fail(name('MAX_BLOCKS_BYTES'), `(${c.maxBlocksBytes}) must not exceed MAX_MESSAGE_BYTES (${c.maxMessageBytes})`);
  for (const n of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE']) {
    const e = name(n);
    if (c[e.key!] && !c.redis.tls) fail(e, 'is only used with a rediss:// REDIS_URL');
  }
  if (!c.redisTlsCertFile !== !c.redisTlsKeyFile) fail(name('REDIS_TLS_CERT_FILE'), 'and REDIS_TLS_KEY_FILE must be set together');
  if (c.redisSentinels.length > 0) {
    if (!c.redisSentinelName) fail(name('REDIS_SENTINEL_NAME'), 'must name the master when REDIS_SENTINELS is set (sentinel monitor <name> ... in the sentinels\' configuration)');
    if (c.redis.path) fail(name('REDIS_SENTINELS'), 'cannot be used with a unix:// REDIS_URL');
  } else if (c.redisSentinelName) {
    fail(name('REDIS_SENTINEL_NAME'), 'is only used with REDIS_SENTINELS');
  }
  if (c.relayUrls.length === 0) fail(name('RELAY_URL'), 'must be set');
}

export function loadConfig(env: Env = process.env): Config {
  const c = {} as Record<string, unknown>;
  for (const e of TABLE) {
    const value = readEnv(env, e);
    if (e.key) c[e.key] = value;
  }
  const relays = [readEnv(env, entry('RELAY_URL')) as string, ...(readEnv(env, entry('RELAY_URLS')) as string[])];
  c.relayUrls = [...new Set(relays.map((u) => u.replace(/\/+$/, '')))];
  const extra = readEnv(env, entry('EXTRA_TYPES')) as string[];
  c.emitSync = extra.includes('sync');
  c.emitInfo = extra.includes('info');
  c.redis = parseRedisUrl(c.redisUrl as string);
  const config = c as unknown as Config;
  crossCheck(config, envFail);
  return config;
}

/** The defaults of every setting, as loadConfig({}) gives them. */
export function defaultConfig(): Config {
  return loadConfig({});
}

/**
 * Checks a Config (or the options of createIngester, filled from the
 * defaults) with the validators the environment goes through, and fills in
 * the derived `redis` target. Throws ERR_INVALID_ARG naming the option.
 */
export function checkOptions(options: Config): Config {
  const c = { ...options } as Record<string, unknown>;
  for (const e of TABLE) {
    if (!e.key) continue;
    const why = e.rule.check(c[e.key]);
    if (why) optionFail(e, `${why}, got ${JSON.stringify(c[e.key])}`);
  }
  const relays = c.relayUrls;
  const relayWhy = list(relayUrl).check(relays);
  if (relayWhy) optionFail({ name: 'RELAY_URL', key: 'relayUrls' }, relayWhy);
  for (const k of ['emitSync', 'emitInfo'] as const) {
    if (typeof c[k] !== 'boolean') optionFail({ name: k, key: k }, `must be true or false, got ${JSON.stringify(c[k])}`);
  }
  try {
    c.redis = parseRedisUrl(c.redisUrl as string);
  } catch (err) {
    optionFail({ name: 'REDIS_URL', key: 'redisUrl' }, (err as Error).message.replace(/^REDIS_URL /, ''));
  }
  const config = c as unknown as Config;
  crossCheck(config, (e, why) => optionFail({ name: e.name, key: TABLE.find((t) => t.name === e.name)?.key ?? e.name }, why));
  return config;
}

/** Where each relay keeps its cursor: seq numbers belong to one relay. */
export function cursorKeyFor(config: Config, relayIndex: number): string {
  if (relayIndex === 0) return config.cursorKey;
  return `${config.cursorKey}:${new URL(config.relayUrls[relayIndex]!).host}`;
}

/** An environment variable that is no setting but looks like one. */
export interface UnknownSetting {
  name: string;
  /** The settings it was probably meant to be, best first. */
  suggestions: string[];
  /** One line for the log. */
  message: string;
}

/** Other programs' conventions, never ours: proxies, and the variables Kubernetes and Docker links inject per service. */
function foreign(name: string, value: string | undefined): boolean {
  if (/^(HTTPS?|NO|ALL)_PROXY$/i.test(name)) return true;
  if (/_SERVICE_(HOST|PORT)(_|$)/.test(name) || /_PORT_\d+_(TCP|UDP|SCTP)(_|$)/.test(name)) return true;
  return /_PORT$/.test(name) && /^(tcp|udp|sctp):\/\//.test(value ?? '');
}

/** Optimal string alignment distance: edits, with a swap of neighbours as one. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** What other Redis clients read from separate variables; REDIS_URL holds them all. */
const REDIS_URL_PARTS = /^REDIS_(HOST|HOSTNAME|PORT|PASS|PASSWORD|USER|USERNAME|DB|DATABASE)$/;

/**
 * Variables that are not settings but look like one: a small edit away
 * from a setting's name (REDIS_URI, REDIS_STREAMKEY, log_level), or
 * starting like settings do (REDIS_PASSWORD, DASHBOARD_STATUSES). The
 * service starts anyway; the caller warns about each, naming the setting
 * probably meant. Reads SETTINGS, so a new setting is known at once.
 */
export function unknownSettings(env: Env = process.env): UnknownSetting[] {
  const names = SETTINGS.map((s) => s.name);
  const prefixes = new Set(names.filter((n) => n.includes('_')).map((n) => n.slice(0, n.indexOf('_') + 1)));
  const found: UnknownSetting[] = [];
  for (const name of Object.keys(env).sort()) {
    if (names.includes(name) || foreign(name, env[name])) continue;
    const upper = name.toUpperCase();
    if (REDIS_URL_PARTS.test(upper)) {
      found.push({
        name,
        suggestions: ['REDIS_URL'],
        message: `${name} is not a setting and is ignored: host, port, user, password and database all go in REDIS_URL (redis://user:password@host:port/db)`,
      });
      continue;
    }
    // The distance is at least the difference in length: most pairs need no table.
    const distances = names.map((n) => (Math.abs(n.length - upper.length) > 2 ? Infinity : editDistance(upper, n)));
    const best = Math.min(...distances);
    // Two edits in a long name, one in a short one: close enough to be a slip.
    if (best <= (upper.length >= 8 ? 2 : 1)) {
      const suggestions = names.filter((_, i) => distances[i] === best);
      found.push({ name, suggestions, message: `${name} is not a setting and is ignored: did you mean ${suggestions.join(' or ')}?` });
      continue;
    }
    const prefix = [...prefixes].find((p) => upper.startsWith(p));
    if (!prefix) continue;
    // Most words in common (MAXLEN holds MAX and LEN), then the fewest edits.
    const words = (n: string) => n.slice(prefix.length).split('_').filter((w) => upper.slice(prefix.length).includes(w)).length;
    const family = names.filter((n) => n.startsWith(prefix));
    const ranked = family
      .map((n) => ({ n, words: words(n), edits: editDistance(upper, n) }))
      .sort((a, b) => b.words - a.words || a.edits - b.edits);
    const suggestions = ranked[0]!.words > 0 ? [ranked[0]!.n] : family;
    found.push({
      name,
      suggestions,
      message:
        ranked[0]!.words > 0
          ? `${name} is not a setting and is ignored: did you mean ${suggestions[0]}?`
          : `${name} is not a setting and is ignored; the ${prefix} settings are ${family.join(', ')}`,
    });
  }
  return found;
}
