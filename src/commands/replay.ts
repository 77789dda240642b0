/**
 * `firehose-redis replay [file]`: write a capture into Redis through the
 * same writer as the service, without a relay: to feed workers in a test
 * setup, or to measure. Without a file it replays a bundled sample of real
 * relay frames, into a stream of its own.
 *
 * Safe to repeat: it keeps a cursor, so frames already written are not
 * written again. It will not write into a stream that a live service feeds
 * unless told to, and it gives up when Redis stays unreachable.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCapture } from '../capture.js';
import { cursorKeyFor, type Config } from '../config.js';
import { Ingester } from '../ingester.js';
import { redactRedisUrl } from '../redis-url.js';

export const SAMPLE_CAPTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../samples/jetstream-100.bin');

/** Exit code when replay refuses to write into a live stream. */
export const EXIT_REFUSED = 2;

export interface ReplayOptions {
  /** No file: the bundled sample. */
  file?: string;
  /** Default: REDIS_STREAM_KEY, or REDIS_STREAM_KEY + ":sample" for the sample. */
  streamKey?: string;
  /** Default: the stream key + ":replay-cursor". */
  cursorKey?: string;
  /** Write even into a stream whose service cursor key exists. */
  intoLiveStream: boolean;
}

/** The stream and cursor key a replay writes, from the options and settings. */
export function replayTarget(config: Config, opts: ReplayOptions): { streamKey: string; cursorKey: string } {
  const streamKey = opts.streamKey ?? (opts.file === undefined ? `${config.streamKey}:sample` : config.streamKey);
  return { streamKey, cursorKey: opts.cursorKey ?? `${streamKey}:replay-cursor` };
}

/**
 * Watches a one-shot writer: it fails when Redis refuses it for good, or
 * stays unreachable for `patienceMs` in a row (counted until Redis first
 * answers, then from each outage). within(p) settles like p, or as soon as
 * that happens; `failure` then says why.
 */
function watch(ing: Ingester, patienceMs: number, giveUp: (lastError: string) => string, err: NodeJS.WritableStream) {
  let failure: string | undefined;
  let lastError = 'no answer yet';
  let timer: NodeJS.Timeout | undefined;
  let wake!: () => void;
  const failed = new Promise<undefined>((resolve) => (wake = () => resolve(undefined)));
  const fail = (why: string) => {
    failure ??= why;
    wake();
  };
  const arm = () => (timer ??= setTimeout(() => fail(giveUp(lastError)), patienceMs));
  const disarm = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  arm();
  ing.on('ready', disarm);
  ing.on('redis-up', disarm);
  ing.on('batch', disarm);
  ing.on('redis-down', (e, attempt, retry) => {
    lastError = e;
    arm();
    err.write(`${e}; retrying in ${retry} ms (attempt ${attempt})\n`);
  });
  ing.on('fatal', (e) => fail(e.message));
  return {
    get failure() {
      return failure;
    },
    within: <T>(p: Promise<T>) => Promise.race([p, failed]),
    disarm,
  };
}

export async function runReplay(config: Config, opts: ReplayOptions, err: NodeJS.WritableStream): Promise<number> {
  const file = opts.file ?? SAMPLE_CAPTURE;
  const frames = readCapture(file);
  const { streamKey, cursorKey } = replayTarget(config, opts);
  const serviceKeys = config.relayUrls.map((_, i) => cursorKeyFor(config, i));
  if (serviceKeys.includes(cursorKey)) {
    err.write(`firehose-redis: ${cursorKey} is the service's cursor key: a replay must keep its own (--cursor-key)\n`);
    return EXIT_REFUSED;
  }
  // Replayed events must not reach the live dashboard either.
  const ing = new Ingester({ ...config, streamKey, cursorKey, dashboardStatus: false, dashboardRecentEvents: false, dashboardBroadcast: false });
  let entries = 0;
  let skipped = 0;
  let invalid = 0;
  ing.on('batch', (b) => {
    entries += b.entries;
    skipped += b.opsSkipped;
    invalid += b.counts.invalid;
  });
  // A one-shot command: an unreachable Redis ends it instead of being retried forever.
  const patienceMs = config.redisConnectTimeoutMs;
  const guard = watch(
    ing,
    patienceMs,
    (lastError) =>
      `gave up after ${patienceMs / 1000} s without Redis at ${redactRedisUrl(config.redisUrl)} (REDIS_CONNECT_TIMEOUT_MS): ${lastError}. ` +
      `Run replay again once Redis is up: it carries on from ${cursorKey}`,
    err,
  );
  const end = async (code: number) => {
    guard.disarm();
    // Closed first: a retry the writer logs meanwhile must not follow the verdict.
    await ing.close(0);
    if (guard.failure) err.write(`firehose-redis: ${guard.failure}\n`);
    return code;
  };

  let cursor = await guard.within(ing.cursor().catch(() => null));
  if (guard.failure) return end(1);
  if (streamKey === config.streamKey) {
    for (const key of serviceKeys) {
      const live = await guard.within(ing.switchCursorKey(key));
      if (guard.failure) return end(1);
      if (live != null && !opts.intoLiveStream) {
        err.write(
          `firehose-redis: ${streamKey} is fed by a running service (${key} holds cursor ${live}): replayed events would reach its workers. ` +
            `Replay into another stream (--stream-key), or pass --into-live-stream to write into it anyway\n`,
        );
        return end(EXIT_REFUSED);
      }
    }
    cursor = await guard.within(ing.switchCursorKey(cursorKey));
    if (guard.failure) return end(1);
  }

  err.write(
    `replaying ${frames.length} frames from ${file} into ${streamKey} (cursor key ${cursorKey}` +
      (cursor == null ? ')\n' : `: frames up to seq ${cursor} are already written and are skipped; delete the key to write them again)\n`),
  );
  const started = process.hrtime.bigint();
  for (const f of frames) {
    const room = ing.push(f.bytes);
    if (room === false || (typeof room === 'object' && room.full)) await guard.within(new Promise<void>((resolve) => ing.once('drain', () => resolve())));
    if (guard.failure) return end(1);
  }
  const res = await ing.close(config.shutdownTimeoutMs);
  if (guard.failure) return end(1);
  guard.disarm();
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  err.write(
    `wrote ${entries} entries from ${frames.length} frames in ${secs.toFixed(2)} s ` +
      `(${Math.round(frames.length / secs)} frames/s); ${skipped} ops left out, ${invalid} frames undecodable\n`,
  );
  if (res.pendingFrames > 0) {
    err.write(`firehose-redis: ${res.pendingFrames} frames not written within SHUTDOWN_TIMEOUT_MS; run replay again: it carries on from ${cursorKey}\n`);
    return 1;
  }
  return 0;
}
