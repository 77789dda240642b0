/**
 * Typed loader for the C++ addon (a local build or a prebuild). Every
 * value handed to it has been validated in TypeScript first; the addon only
 * reads the shapes declared here.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { FirehoseError, ErrorCodes } from './errors.js';
import type { RedisTarget } from './redis-url.js';
import type { CaptureEnd } from './capture.js';

export interface DecoderOptions {
  /** Largest accepted WebSocket message (protocol: 5 MB). */
  maxMessageBytes?: number;
  /** Largest accepted `blocks` CAR in a commit (protocol: 2 MB). */
  maxBlocksBytes?: number;
  /** Most ops accepted in one commit (protocol: 200). */
  maxOps?: number;
  /** Keep only ops in these collections: exact NSIDs or `prefix.*`. */
  collections?: string[];
  /** Write `#sync` frames as `sync` entries (off by default, per the contract). */
  emitSync?: boolean;
  /** Write `#info` frames as `info` entries (off by default, per the contract). */
  emitInfo?: boolean;
}

export type EntryType = 'commit' | 'identity' | 'account' | 'sync' | 'info';
export type SkipReason = 'block_missing' | 'bad_record' | 'bad_car' | 'no_cid' | 'bad_op';
export type SilentReason = 'error' | 'info' | 'sync' | 'legacy' | 'unknown' | 'filtered';

export interface SkippedOp {
  path: string;
  reason: SkipReason;
  detail: string;
}

interface FrameCommon {
  /** Header `t` (`#commit`, ...), or `error` for an `op: -1` frame. */
  frame: string;
  seq: number | null;
  time?: string;
  opsTotal?: number;
  opsFiltered?: number;
  /** Create/update ops left out of the entry because their record could not be produced. */
  skipped: SkippedOp[];
}

export interface EntryFrame extends FrameCommon {
  kind: 'entry';
  type: EntryType;
  /** The entry's `data` field, exactly as it is written to Redis. */
  data: string;
}

export interface SilentFrame extends FrameCommon {
  kind: 'silent';
  reason: SilentReason;
  /** Error frames: the error name, e.g. `FutureCursor`. */
  error?: string;
  /** `#info` frames: the info name, e.g. `OutdatedCursor`. */
  name?: string;
  message?: string;
}

export type DecodedFrame = EntryFrame | SilentFrame;

export interface NativeDecoder {
  /** Throws FirehoseError ERR_FRAME_INVALID when the frame cannot be decoded. */
  decode(frame: Uint8Array): DecodedFrame;
  /**
   * Decodes every frame of a capture `repeat` times inside the addon, with no
   * JavaScript value per frame (as the writer thread does): for benchmarks.
   */
  decodeCapture(capture: Uint8Array, repeat: number): { frames: number; bytes: number; entries: number; invalid: number; nanoseconds: number };
  /**
   * The `decode` command's lines for a whole capture, written by the addon
   * to outFd and errFd. source: an open regular file's descriptor (mapped)
   * or the capture's bytes.
   */
  printCapture(source: number | Uint8Array, outFd: number, errFd: number, all: boolean): CapturePrint;
}

/** What printCapture did: the summary's counts and how the capture ended. */
export interface CapturePrint {
  frames: number;
  entries: number;
  /** Entries per type, in the order the types first appeared. */
  types: Array<[EntryType, number]>;
  silent: number;
  failed: number;
  opsSkipped: number;
  end: CaptureEnd;
  /** The descriptor could not be mapped (the system's reason); nothing was printed. */
  readError?: string;
  /** A write failed (the system's reason); printing stopped there. */
  writeError?: string;
}

/** Connection settings: REDIS_URL as parsed, plus TLS files and timeouts. */
export interface NativeRedisOptions extends RedisTarget {
  /** PEM CA bundle to trust instead of the system's (rediss:// only). */
  tlsCaFile?: string;
  /** Client certificate and key, for servers that require one. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

export interface NativeIngesterOptions {
  redis: NativeRedisOptions;
  sentinel: { sentinels: Array<{ host: string; port: number }>; name: string; username: string; password: string };
  streamKey: string;
  cursorKey: string;
  /** The stream cap; 0 never trims. */
  maxStreamLen: number;
  /** `groups`: spare what consumer groups need and pace; `maxlen`: blind MAXLEN ~. */
  trim: 'groups' | 'maxlen';
  /** Only these groups count (empty: every group). */
  paceGroups: string[];
  paceStaleAfterMs: number;
  instanceId: string;
  leaseTtlMs: number;
  batchMaxEvents: number;
  batchMaxBytes: number;
  /** push() returns false above this many queued bytes ... */
  queueHighBytes: number;
  /** ... and 'drain' fires once the queue is back under this. */
  queueLowBytes: number;
  retryInitialMs: number;
  retryMaxMs: number;
  decoder: DecoderOptions;
  /** `firehose:status`, refreshed every 5 s; empty: off. */
  statusKey: string;
  /** `firehose:recent_events`, the last 50 event summaries; empty: off. */
  recentKey: string;
  /** `firehose:events:broadcast`, one PUBLISH per event summary; empty: off. */
  broadcastChannel: string;
}

export interface FrameCounts {
  commit: number;
  identity: number;
  account: number;
  sync: number;
  info: number;
  error: number;
  legacy: number;
  unknown: number;
  filtered: number;
  invalid: number;
  /** Frames whose seq was not above the previous one: nothing written, the cursor unmoved. */
  stale: number;
}

export interface BatchReport {
  type: 'batch';
  /** Durable cursor after this batch: every entry up to it is in Redis. */
  cursor: string | null;
  /** Entries written (XADDs). */
  entries: number;
  /** Frames covered, including those that made no entry. */
  frames: number;
  /** Bytes of those frames as received. */
  bytes: number;
  /** Bytes of entry JSON written. */
  dataBytes: number;
  /** MULTI ... EXEC round trip of the batch that succeeded. */
  writeMs: number;
  /** From the arrival of the batch's oldest frame to Redis acknowledging it. */
  maxWaitMs: number;
  /** Attempts that failed before this batch went through. */
  retries: number;
  queueBytes: number;
  queueFrames: number;
  /** `time` of the newest event in the batch, for lag. */
  lastTime: string | null;
  counts: FrameCounts;
  opsSkipped: number;
  /** opsSkipped split by reason (only reasons that occurred). */
  skippedByReason: Partial<Record<SkipReason, number>>;
  opsFiltered: number;
  /** Skipped ops, at most 100 per batch (opsSkipped has the full count). */
  skipped: Array<SkippedOp & { seq: number | null }>;
  /** Frames that failed to decode, at most 100 per batch (counts.invalid has them all). */
  invalid: Array<{ error: string; bytes: number }>;
  /** Frames whose seq was not above the previous one, at most 100 per batch. */
  stale: Array<{ seq: number; previous: number }>;
  /** Error frames (`op: -1`) and `#info` frames seen in this batch. */
  notices: Array<{ frame: string; name: string; message: string | null }>;
  /** Header types this decoder does not know, as seen in this batch. */
  unknownTypes: string[];
}

/** One consumer group of the stream, as the writer last saw it. */
export interface GroupState {
  name: string;
  /** Entries not delivered to the group yet (estimated when Redis cannot tell). */
  undelivered: number;
  /** Delivered, not acknowledged. */
  pending: number;
  /** Whether it paces the writer and bounds trimming. */
  counted: boolean;
  /** Every consumer idle past PACE_STALE_AFTER_MS while the group is behind. */
  stale: boolean;
}

export type WriterEvent =
  | { type: 'ready'; cursor: string | null }
  | BatchReport
  | { type: 'redis-down'; error: string; attempt: number; retryInMs: number }
  | { type: 'redis-up' }
  | { type: 'drain' }
  | { type: 'fatal'; error: FirehoseError }
  | { type: 'cursor-key'; key: string; cursor: string | null }
  | { type: 'closed'; flushed: boolean; pendingFrames: number }
  | { type: 'role'; role: 'active' | 'standby'; holder: string; message: string }
  | { type: 'resync'; cursor: string | null; previous: string | null; lost: number | null; reconnect: boolean; message: string }
  | { type: 'pacing'; paced: boolean; group: string | null; backlog: number; groups: GroupState[] }
  | { type: 'node'; node: string; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** What push() returns for an error frame or `#info`, decoded on the spot. */
export interface ControlFrame {
  frame: 'error' | '#info';
  /** Error name (`FutureCursor`, `ConsumerTooSlow`) or info name (`OutdatedCursor`). */
  name: string;
  message: string | null;
  /** Same meaning as push() returning false. */
  full: boolean;
}

/** What feed() reports besides binary messages (rare on a firehose). */
export type FeedEvent =
  | { type: 'ping' | 'pong'; data: Buffer }
  | { type: 'close'; code: number; reason: string }
  | { type: 'error'; code: number; message: string }
  | { type: 'text' }
  | { type: 'error-frame' | 'info'; name: string; message: string | null };

export interface QueueStats {
  queueBytes: number;
  queueFrames: number;
}

export interface NativeIngester {
  /**
   * Copies the message into the queue. true: room left; false: over the
   * high-water mark, stop reading until 'drain'. Error and #info frames
   * are also decoded at once and described.
   */
  push(frame: Uint8Array): boolean | ControlFrame;
  /** Starts a new relay connection: a WebSocket frame parser of its own. */
  openSocket(maxMessageBytes: number): void;
  /**
   * Parses raw bytes of the upgraded socket and queues every binary
   * message. true: keep reading; false: pause until 'drain'; otherwise what
   * else the bytes held, and whether to pause.
   */
  feed(chunk: Uint8Array): boolean | { full: boolean; messages: number; events: FeedEvent[] };
  /** Writes what is queued, then stops, giving up after timeoutMs. */
  close(timeoutMs: number): Promise<{ flushed: boolean; pendingFrames: number }>;
  stats(): QueueStats;
  /**
   * After the frames pushed so far are written under the current cursor key,
   * writes later frames' cursor to `key`; 'cursor-key' reports what `key`
   * held. Push nothing for the new relay before that event. It also ends
   * the dropping of frames that follows a 'resync' or a takeover.
   */
  switchCursorKey(key: string): void;
  /** What the status key reports about the relay connection. */
  setStatus(connected: boolean, url: string): void;
}

/** What WebSocketParser.feed() returns, one object per event, in stream order. */
export type WebSocketEvent =
  | { type: 'binary' | 'text' | 'ping' | 'pong'; data: Buffer }
  /** code: the peer's status (1005 when none); data: the reason. */
  | { type: 'close'; code: number; data: Buffer }
  /** code: the close code to answer with; data: the message. */
  | { type: 'error'; code: number; data: Buffer };

export interface NativeWebSocketParser {
  feed(chunk: Uint8Array): WebSocketEvent[];
}

interface Addon {
  setErrorClass(cls: typeof FirehoseError): void;
  hiredisVersion: string;
  Decoder: new (options?: DecoderOptions) => NativeDecoder;
  /** One DAG-CBOR value as atproto JSON text; as a record it must be a map with $type. Throws ERR_CBOR_INVALID. */
  decodeValue(bytes: Uint8Array, asRecord?: boolean): string;
  /** A CAR v1 file's roots and blocks (CIDs as strings). Throws ERR_CAR_INVALID. */
  readCar(bytes: Uint8Array): { roots: string[]; blocks: Array<{ cid: string; data: Buffer }> };
  Ingester: new (options: NativeIngesterOptions, onEvent: (e: WriterEvent) => void) => NativeIngester;
  /** The server-to-client WebSocket frame parser (core/websocket), one JS value per event: for tests. */
  WebSocketParser: new (maxMessageBytes: number) => NativeWebSocketParser;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * FIREHOSE_REDIS_ADDON if set; else what node-gyp-build finds: a local build
 * (build/Release) first, then the prebuild for this platform
 * (prebuilds/linux-x64/node.napi.glibc.node ...).
 */
function load(): Addon {
  const require = createRequire(import.meta.url);
  let file = process.env.FIREHOSE_REDIS_ADDON;
  let addon: Addon;
  try {
    file ??= (require('node-gyp-build') as { path(dir: string): string }).path(root);
    addon = require(file) as Addon;
  } catch (err) {
    throw new FirehoseError(
      `cannot load the native addon ${file ?? `for ${process.platform}-${process.arch} from ${root}`}: ${(err as Error).message.split('\n')[0]}. ` +
        'Reinstall firehose-redis, or build it with `npm run build` (needs g++, make, python3 and libssl-dev).',
      ErrorCodes.ADDON,
    );
  }
  addon.setErrorClass(FirehoseError);
  return addon;
}

export const addon: Addon = load();
