/**
 * Helpers of the Redis writer tests: read a whole stream back, check that
 * it holds every expected seq exactly once and in order, push frames at a
 * steady pace the way the relay client does (pausing on false until
 * 'drain'), and wait for events with a deadline.
 */
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Ingester } from '../../src/ingester.js';

export const STREAM_KEY = 'firehose:events';
export const CURSOR_KEY = 'firehose:python_cursor';

export interface StreamEntry {
  id: string;
  fields: string[];
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every entry of the stream, oldest first (XRANGE in pages). */
export async function readStream(client: Redis, key = STREAM_KEY): Promise<StreamEntry[]> {
  const out: StreamEntry[] = [];
  let start = '-';
  for (;;) {
    const page = (await client.xrange(key, start, '+', 'COUNT', 1000)) as Array<[string, string[]]>;
    for (const [id, fields] of page) out.push({ id, fields });
    if (page.length < 1000) return out;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/**
 * The stream holds exactly the entries of `seqs`, in this order, each once,
 * and the cursor key holds `cursor` (by default the last seq).
 */
export async function assertStreamHolds(
  client: Redis,
  seqs: readonly number[],
  opts: { streamKey?: string; cursorKey?: string; cursor?: string | null } = {},
): Promise<StreamEntry[]> {
  const entries = await readStream(client, opts.streamKey ?? STREAM_KEY);
  const got = entries.map((e) => e.fields[5]);
  const counts = new Map<string, number>();
  for (const s of got) counts.set(s!, (counts.get(s!) ?? 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
  assert.deepEqual(dups.slice(0, 20), [], `seqs written more than once (${dups.length} in all)`);
  const want = new Set(seqs.map(String));
  const missing = seqs.map(String).filter((s) => !counts.has(s));
  assert.deepEqual(missing.slice(0, 20), [], `seqs missing from the stream (${missing.length} in all)`);
  const extra = got.filter((s) => !want.has(s!));
  assert.deepEqual(extra.slice(0, 20), [], `unexpected seqs in the stream (${extra.length} in all)`);
  // Same set, no duplicates: now the order.
  for (let i = 0; i < seqs.length; i++) {
    if (got[i] !== String(seqs[i])) assert.fail(`entry ${i} has seq ${got[i]}, expected ${seqs[i]} (out of order)`);
  }
  const cursor = opts.cursor === undefined ? String(seqs[seqs.length - 1]) : opts.cursor;
  assert.equal(await client.get(opts.cursorKey ?? CURSOR_KEY), cursor, 'cursor key');
  return entries;
}

/** Resolves with the event's arguments, or rejects after ms. */
export function waitFor<T extends unknown[] = unknown[]>(emitter: EventEmitter<any>, event: string, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const on = (...args: unknown[]) => {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args as T);
    };
    emitter.on(event, on);
  });
}

/** Polls until check() returns a truthy value; rejects after ms. */
export async function until<T>(what: string, ms: number, check: () => T | Promise<T>, every = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export interface PushStats {
  pushed: number;
  /** push() returned false this many times (each followed by a wait for 'drain'). */
  refusals: number;
  /** Largest stats().queueBytes seen right after a push. */
  maxQueueBytes: number;
}

/**
 * Pushes the frames `perTick` at a time every `tickMs`, like a relay
 * socket; on false waits for 'drain' before the next frame.
 */
export async function pushPaced(
  ing: Ingester,
  frames: ReadonlyArray<{ bytes: Uint8Array }>,
  opts: { perTick?: number; tickMs?: number; drainTimeoutMs?: number; onPush?: (n: number) => void } = {},
): Promise<PushStats> {
  const perTick = opts.perTick ?? 10;
  const tickMs = opts.tickMs ?? 5;
  const stats: PushStats = { pushed: 0, refusals: 0, maxQueueBytes: 0 };
  for (let i = 0; i < frames.length; ) {
    const end = Math.min(frames.length, i + perTick);
    for (; i < end; i++) {
      const r = ing.push(frames[i]!.bytes);
      stats.pushed++;
      stats.maxQueueBytes = Math.max(stats.maxQueueBytes, ing.stats().queueBytes);
      opts.onPush?.(stats.pushed);
      if (r === false || (typeof r === 'object' && r.full)) {
        stats.refusals++;
        i++;
        await waitFor(ing, 'drain', opts.drainTimeoutMs ?? 30_000);
        break;
      }
    }
    await sleep(tickMs);
  }
  return stats;
}

/** Records every event an ingester emits, in order; 'fatal' gets a listener so it never throws. */
export function recordEvents(ing: Ingester): Array<{ event: string; at: number; args: unknown[] }> {
  const log: Array<{ event: string; at: number; args: unknown[] }> = [];
  for (const event of ['ready', 'batch', 'drain', 'redis-down', 'redis-up', 'fatal', 'cursor-key', 'closed', 'role', 'resync', 'pacing', 'node', 'log'] as const) {
    (ing as EventEmitter<any>).on(event, (...args: unknown[]) => log.push({ event, at: Date.now(), args }));
  }
  return log;
}

export interface Tally {
  entries: number;
  /** Expected seqs not in the stream. */
  missing: number;
  /** Entries beyond the first for a seq. */
  duplicated: number;
  /** Entries whose seq is not above the previous entry's. */
  outOfOrder: number;
  /** Entries with a seq not expected at all. */
  unexpected: number;
}

/** Counts, rather than asserts, how the stream differs from seqs first..last once each in order: figures for a report. */
export async function tally(client: Redis, first: number, last: number, key = STREAM_KEY): Promise<Tally> {
  const entries = await readStream(client, key);
  const seen = new Map<number, number>();
  const t: Tally = { entries: entries.length, missing: 0, duplicated: 0, outOfOrder: 0, unexpected: 0 };
  let prev = -Infinity;
  for (const e of entries) {
    const s = Number(e.fields[5]);
    if (!(s >= first && s <= last)) t.unexpected++;
    if (s <= prev) t.outOfOrder++;
    prev = s;
    const n = seen.get(s) ?? 0;
    if (n > 0) t.duplicated++;
    seen.set(s, n + 1);
  }
  for (let s = first; s <= last; s++) if (!seen.has(s)) t.missing++;
  return t;
}
