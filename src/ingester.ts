/**
 * The writer as a TypeScript object: frames in with push(), typed events
 * out. This is the embedding API; the service adds the relay connection,
 * HTTP and logs around it.
 */
import { EventEmitter } from 'node:events';
import { loadConfig, type Config } from './config.js';
import { FirehoseError } from './errors.js';
import {
  addon,
  type BatchReport,
  type ControlFrame,
  type NativeIngester,
  type NativeIngesterOptions,
  type QueueStats,
  type WriterEvent,
} from './native.js';
import { parseRedisUrl } from './redis-url.js';

export type { BatchReport, ControlFrame, FrameCounts, QueueStats } from './native.js';

/** Everything an ingester needs; every field defaults as the service does. */
export type IngesterOptions = Pick<
  Config,
  | 'redisUrl'
  | 'redisTlsCaFile'
  | 'redisTlsCertFile'
  | 'redisTlsKeyFile'
  | 'streamKey'
  | 'cursorKey'
  | 'maxStreamLen'
  | 'collections'
  | 'emitSync'
  | 'emitInfo'
  | 'batchMaxEvents'
  | 'batchMaxBytes'
  | 'batchFlushMs'
  | 'queueMaxBytes'
  | 'redisConnectTimeoutMs'
  | 'redisCommandTimeoutMs'
  | 'maxMessageBytes'
  | 'maxBlocksBytes'
  | 'maxCommitOps'
  | 'dashboardStatus'
  | 'dashboardRecentEvents'
  | 'dashboardBroadcast'
>;

export interface IngesterEvents {
  /** Connected to Redis; cursor is what REDIS_CURSOR_KEY held (null: none). */
  ready: [cursor: string | null];
  /** One batch is durable in Redis. */
  batch: [report: BatchReport];
  /** The queue fell back under its low-water mark: read again. */
  drain: [];
  /** A Redis error that is being retried. */
  'redis-down': [error: string, attempt: number, retryInMs: number];
  'redis-up': [];
  /** Redis refused the writer for good; it has stopped. */
  fatal: [error: FirehoseError];
  'cursor-key': [key: string, cursor: string | null];
  closed: [result: { flushed: boolean; pendingFrames: number }];
}

export const DASHBOARD_KEYS = {
  status: 'firehose:status',
  recent: 'firehose:recent_events',
  broadcast: 'firehose:events:broadcast',
} as const;

function nativeOptions(o: IngesterOptions): NativeIngesterOptions {
  const target = parseRedisUrl(o.redisUrl);
  return {
    redis: {
      ...target,
      tlsCaFile: o.redisTlsCaFile,
      tlsCertFile: o.redisTlsCertFile,
      tlsKeyFile: o.redisTlsKeyFile,
      connectTimeoutMs: o.redisConnectTimeoutMs,
      commandTimeoutMs: o.redisCommandTimeoutMs,
    },
    streamKey: o.streamKey,
    cursorKey: o.cursorKey,
    maxStreamLen: o.maxStreamLen,
    batchMaxEvents: o.batchMaxEvents,
    batchMaxBytes: o.batchMaxBytes,
    flushIntervalUs: Math.round(o.batchFlushMs * 1000),
    queueHighBytes: o.queueMaxBytes,
    queueLowBytes: Math.floor(o.queueMaxBytes / 2),
    retryInitialMs: 100,
    retryMaxMs: 5000,
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
  private cursorAtStart: Promise<string | null>;
  private closing: Promise<{ flushed: boolean; pendingFrames: number }> | undefined;

  constructor(options: IngesterOptions) {
    super();
    let settle!: { resolve: (c: string | null) => void; reject: (e: FirehoseError) => void };
    this.cursorAtStart = new Promise((resolve, reject) => (settle = { resolve, reject }));
    // Nobody may be waiting for the cursor when a fatal error arrives.
    this.cursorAtStart.catch(() => {});
    this.native = new addon.Ingester(nativeOptions(options), (e) => this.dispatch(e, settle));
  }

  private dispatch(e: WriterEvent, settle: { resolve: (c: string | null) => void; reject: (e: FirehoseError) => void }): void {
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
    }
  }

  /** Resolves with the stored cursor once Redis is reachable. */
  cursor(): Promise<string | null> {
    return this.cursorAtStart;
  }

  /**
   * Queues one relay message. true: keep reading; false: pause until
   * 'drain'. Error frames and #info come back described (see ControlFrame).
   */
  push(frame: Uint8Array): boolean | ControlFrame {
    return this.native.push(frame);
  }

  /** Writes what is queued under the current cursor key, then moves to `key`. */
  switchCursorKey(key: string): Promise<string | null> {
    return new Promise((resolve) => {
      const onKey = (k: string, cursor: string | null) => {
        if (k !== key) return;
        this.off('cursor-key', onKey);
        resolve(cursor);
      };
      this.on('cursor-key', onKey);
      this.native.switchCursorKey(key);
    });
  }

  setStatus(connected: boolean, url: string): void {
    this.native.setStatus(connected, url);
  }

  stats(): QueueStats {
    return this.native.stats();
  }

  /** Flushes the queue and saves the cursor; gives up after timeoutMs. */
  close(timeoutMs = 10_000): Promise<{ flushed: boolean; pendingFrames: number }> {
    // The native result also carries the event's `type` tag: return only what is declared.
    this.closing ??= this.native.close(timeoutMs).then(({ flushed, pendingFrames }) => ({ flushed, pendingFrames }));
    return this.closing;
  }
}

/** An ingester with the service's defaults for whatever is not given. */
export function createIngester(options: Partial<IngesterOptions> = {}): Ingester {
  return new Ingester({ ...loadConfig({}), ...options });
}
