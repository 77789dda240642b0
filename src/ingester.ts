/**
 * The writer as a TypeScript object: frames in with push(), typed events
 * out. This is the embedding API; the service adds the relay connection,
 * HTTP and logs around it. Every option goes through the validators of the
 * settings (src/config.ts) before the native writer sees it.
 */
import { EventEmitter } from 'node:events';
import { checkOptions, defaultConfig, type Config } from './config.js';
import { FirehoseError } from './errors.js';
import {
  addon,
  type BatchReport,
  type ControlFrame,
  type FeedEvent,
  type GroupState,
  type NativeIngester,
  type NativeIngesterOptions,
  type QueueStats,
  type WriterEvent,
} from './native.js';

export type { BatchReport, ControlFrame, FeedEvent, FrameCounts, GroupState, QueueStats } from './native.js';

/** Everything an ingester needs; createIngester() defaults what is not given, as the service does. */
export type IngesterOptions = Pick<
  Config,
  | 'redisUrl'
  | 'redisTlsCaFile'
  | 'redisTlsCertFile'
  | 'redisTlsKeyFile'
  | 'redisSentinels'
  | 'redisSentinelName'
  | 'redisSentinelUsername'
  | 'redisSentinelPassword'
  | 'streamKey'
  | 'cursorKey'
  | 'maxStreamLen'
  | 'trim'
  | 'paceGroups'
  | 'paceStaleAfterMs'
  | 'instanceId'
  | 'leaseTtlMs'
  | 'collections'
  | 'emitSync'
  | 'emitInfo'
  | 'batchMaxEvents'
  | 'batchMaxBytes'
  | 'queueMaxBytes'
  | 'redisConnectTimeoutMs'
  | 'redisCommandTimeoutMs'
  | 'redisRetryMinMs'
  | 'redisRetryMaxMs'
  | 'maxMessageBytes'
  | 'maxBlocksBytes'
  | 'maxCommitOps'
  | 'dashboardStatus'
  | 'dashboardRecentEvents'
  | 'dashboardBroadcast'
>;

export interface IngesterEvents {
  /** Holding the lease and connected to Redis; cursor is what REDIS_CURSOR_KEY held (null: none). */
  ready: [cursor: string | null];
  /** One batch is durable in Redis. */
  batch: [report: BatchReport];
  /** push() may be called again. */
  drain: [];
  /** A Redis error that is being retried. */
  'redis-down': [error: string, attempt: number, retryInMs: number];
  'redis-up': [];
  /** Redis refused the writer for good (or a misconfiguration: code ERR_CONFIG); it has stopped. */
  fatal: [error: FirehoseError];
  'cursor-key': [key: string, cursor: string | null];
  closed: [result: { flushed: boolean; pendingFrames: number }];
  /** This instance holds the lease (active) or waits for it (standby): a standby drops what is pushed. */
  role: [role: 'active' | 'standby', holder: string, message: string];
  /**
   * Redis's cursor is not what this writer wrote (Redis lost writes, or
   * someone else wrote). When `reconnect`, what was queued is dropped and
   * push() drops frames until resume(): reconnect the source from `cursor`.
   */
  resync: [info: { cursor: string | null; previous: string | null; lost: number | null; reconnect: boolean; message: string }];
  /** Consumer groups: paced means the writer waits for `group` (backlog entries behind). */
  pacing: [info: { paced: boolean; group: string | null; backlog: number; groups: GroupState[] }];
  /** The Redis node being written, and why it changed. */
  node: [node: string, message: string];
  /** A rare condition worth a log line (stale groups, a torn AOF, dashboard keys skipped...). */
  log: [level: 'info' | 'warn' | 'error', message: string];
}

export const DASHBOARD_KEYS = {
  status: 'firehose:status',
  recent: 'firehose:recent_events',
  broadcast: 'firehose:events:broadcast',
} as const;

function sentinelAddress(s: string): { host: string; port: number } {
  const colon = s.lastIndexOf(':');
  return { host: s.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(colon + 1)) };
}

function nativeOptions(o: Config): NativeIngesterOptions {
  return {
    redis: {
      ...o.redis,
      tlsCaFile: o.redisTlsCaFile,
      tlsCertFile: o.redisTlsCertFile,
      tlsKeyFile: o.redisTlsKeyFile,
      connectTimeoutMs: o.redisConnectTimeoutMs,
      commandTimeoutMs: o.redisCommandTimeoutMs,
    },
    sentinel: {
      sentinels: o.redisSentinels.map(sentinelAddress),
      name: o.redisSentinelName,
      username: o.redisSentinelUsername,
      password: o.redisSentinelPassword,
    },
    streamKey: o.streamKey,
    cursorKey: o.cursorKey,
    maxStreamLen: o.maxStreamLen,
    trim: o.trim,
    paceGroups: o.paceGroups,
    paceStaleAfterMs: o.paceStaleAfterMs,
    instanceId: o.instanceId,
    leaseTtlMs: o.leaseTtlMs,
    batchMaxEvents: o.batchMaxEvents,
    batchMaxBytes: o.batchMaxBytes,
    queueHighBytes: o.queueMaxBytes,
    queueLowBytes: Math.floor(o.queueMaxBytes / 2),
    retryInitialMs: o.redisRetryMinMs,
    retryMaxMs: o.redisRetryMaxMs,
    decoder: {
      maxMessageBytes: o.maxMessageBytes,
      maxBlocksBytes: o.maxBlocksBytes,
      maxOps: o.maxCommitOps,
      collections: o.collections,
      emitSync: o.emitSync,
      emitInfo: o.emitInfo,
    },
    statusKey: o.dashboardStatus ? DASHBOARD_KEYS.status : '',
    recentKey: o.dashboardRecentEvents ? DASHBOARD_KEYS.recent : '',
    broadcastChannel: o.dashboardBroadcast ? DASHBOARD_KEYS.broadcast : '',
  };
}

export class Ingester extends EventEmitter<IngesterEvents> {
  private readonly native: NativeIngester;
  private readonly cursorAtStart: Promise<string | null>;
  private closing: Promise<{ flushed: boolean; pendingFrames: number }> | undefined;
  private key: string;

  /** Throws ERR_INVALID_ARG naming the first option that is not valid. */
  constructor(options: IngesterOptions) {
    super();
    const config = checkOptions({ ...defaultConfig(), ...options });
    this.key = config.cursorKey;
    let settle!: { resolve: (c: string | null) => void; reject: (e: FirehoseError) => void };
    this.cursorAtStart = new Promise((resolve, reject) => (settle = { resolve, reject }));
    // Nobody may be waiting for the cursor when a fatal error arrives.
    this.cursorAtStart.catch(() => {});
    this.native = new addon.Ingester(nativeOptions(config), (e) => this.dispatch(e, settle));
  }

  /**
   * A listener that throws must not cost the other events their delivery
   * (a lost 'drain' would pause the relay forever): its error is rethrown
   * on the next tick, an uncaught exception as from any other callback.
   */
  private dispatch(e: WriterEvent, settle: { resolve: (c: string | null) => void; reject: (e: FirehoseError) => void }): void {
    try {
      this.deliver(e, settle);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  private deliver(e: WriterEvent, settle: { resolve: (c: string | null) => void; reject: (e: FirehoseError) => void }): void {
    switch (e.type) {
      case 'ready':
        settle.resolve(e.cursor);
        this.emit('ready', e.cursor);
        break;
      case 'batch':
        this.emit('batch', e);
        break;
      case 'drain':
        this.emit('drain');
        break;
      case 'redis-down':
        this.emit('redis-down', e.error, e.attempt, e.retryInMs);
        break;
      case 'redis-up':
        this.emit('redis-up');
        break;
      case 'fatal':
        settle.reject(e.error);
        if (this.listenerCount('fatal') === 0) throw e.error;
        this.emit('fatal', e.error);
        break;
      case 'cursor-key':
        this.emit('cursor-key', e.key, e.cursor);
        break;
      case 'closed':
        this.emit('closed', { flushed: e.flushed, pendingFrames: e.pendingFrames });
        break;
      case 'role':
        this.emit('role', e.role, e.holder, e.message);
        break;
      case 'resync':
        this.emit('resync', { cursor: e.cursor, previous: e.previous, lost: e.lost, reconnect: e.reconnect, message: e.message });
        break;
      case 'pacing':
        this.emit('pacing', { paced: e.paced, group: e.group, backlog: e.backlog, groups: e.groups });
        break;
      case 'node':
        this.emit('node', e.node, e.message);
        break;
      case 'log':
        this.emit('log', e.level, e.message);
        break;
    }
  }

  /** Resolves with the stored cursor once this instance holds the lease. */
  cursor(): Promise<string | null> {
    return this.cursorAtStart;
  }

  /**
   * Queues one relay message. true: keep reading; false: pause until
   * 'drain'. Error frames and #info come back described (see ControlFrame).
   * Throws ERR_CLOSED after close() or a fatal error.
   */
  push(frame: Uint8Array): boolean | ControlFrame {
    return this.native.push(frame);
  }

  /** A new relay connection begins: its WebSocket frames are parsed natively by feed(). */
  openSocket(maxMessageBytes: number): void {
    this.native.openSocket(maxMessageBytes);
  }

  /**
   * Raw bytes of the relay's upgraded socket: every binary message in them
   * is queued. true: keep reading; false: pause until 'drain'; an object
   * when they held anything else (ping, close, an error frame, ...).
   */
  feed(chunk: Uint8Array): boolean | { full: boolean; messages: number; events: FeedEvent[] } {
    return this.native.feed(chunk);
  }

  /** Writes what is queued under the current cursor key, then moves to `key`; resolves with its cursor. */
  switchCursorKey(key: string): Promise<string | null> {
    return new Promise((resolve) => {
      const onKey = (k: string, cursor: string | null) => {
        if (k !== key) return;
        this.off('cursor-key', onKey);
        resolve(cursor);
      };
      this.on('cursor-key', onKey);
      this.key = key;
      this.native.switchCursorKey(key);
    });
  }

  /**
   * After 'resync' or a takeover: ends the dropping of frames and resolves
   * with the cursor to reconnect the source from.
   */
  resume(): Promise<string | null> {
    return this.switchCursorKey(this.key);
  }

  setStatus(connected: boolean, url: string): void {
    this.native.setStatus(connected, url);
  }

  stats(): QueueStats {
    return this.native.stats();
  }

  /** Writes what is queued and stops; gives up after timeoutMs. */
  close(timeoutMs = 10_000): Promise<{ flushed: boolean; pendingFrames: number }> {
    // The native result also carries the event's `type` tag: return only what is declared.
    this.closing ??= this.native.close(timeoutMs).then(({ flushed, pendingFrames }) => ({ flushed, pendingFrames }));
    return this.closing;
  }
}

/** An ingester with the service's defaults for whatever is not given. */
export function createIngester(options: Partial<IngesterOptions> = {}): Ingester {
  return new Ingester({ ...defaultConfig(), ...options });
}
