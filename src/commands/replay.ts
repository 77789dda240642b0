/**
 * `firehose-redis replay [file]`: write a capture into Redis through the
 * same writer as the service, without a relay: to feed workers in a test
 * setup, or to measure. Without a file it replays a bundled sample of real
 * relay frames.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCapture } from '../capture.js';
import type { Config } from '../config.js';
import { Ingester } from '../ingester.js';

export const SAMPLE_CAPTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../samples/jetstream-100.bin');

export interface ReplayOptions {
  file?: string;
  /** Cursor key to write; the service's own is left alone by default. */
  cursorKey: string;
}

export async function runReplay(config: Config, opts: ReplayOptions, err: NodeJS.WritableStream): Promise<number> {
  const file = opts.file ?? SAMPLE_CAPTURE;
  const frames = readCapture(file);
  const ing = new Ingester({ ...config, cursorKey: opts.cursorKey, dashboardStatus: false });
  let entries = 0;
  let skipped = 0;
  let invalid = 0;
  let fatal: Error | undefined;
  ing.on('batch', (b) => {
    entries += b.entries;
    skipped += b.opsSkipped;
    invalid += b.counts.invalid;
  });
  ing.on('redis-down', (e, attempt, retry) => err.write(`${e}; retrying in ${retry} ms (attempt ${attempt})\n`));
  ing.on('fatal', (e) => {
    fatal = e;
  });
  try {
    await ing.cursor();
  } catch (e) {
    err.write(`firehose-redis: ${(e as Error).message}\n`);
    await ing.close(0);
    return 1;
  }
  err.write(`replaying ${frames.length} frames from ${file} into ${config.streamKey} (cursor key ${opts.cursorKey})\n`);
  const started = process.hrtime.bigint();
  for (const f of frames) {
    if (fatal) break;
    if (ing.push(f.bytes) === false) await new Promise<void>((resolve) => ing.once('drain', resolve));
  }
  const res = await ing.close(config.shutdownTimeoutMs);
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  if (fatal) {
    err.write(`firehose-redis: ${fatal.message}\n`);
    return 1;
  }
  err.write(
    `wrote ${entries} entries from ${frames.length} frames in ${secs.toFixed(2)} s ` +
      `(${Math.round(frames.length / secs)} frames/s); ${skipped} ops left out, ${invalid} frames undecodable\n`,
  );
  return res.flushed ? 0 : 1;
}
