/**
 * Consumer-group workers written the way the application's are (ioredis,
 * XREADGROUP GROUP <g> <consumer> COUNT n BLOCK ... STREAMS <key> '>', then
 * one XACK per entry), at a pace the test chooses, and small frames with
 * known seqs to feed the writer. The pacing tests and the bench use them.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { encodeFrame } from './dag.js';
import { STREAM_KEY, sleep } from './stream.js';

export interface WorkerOptions {
  /** Entries asked for per XREADGROUP. */
  count: number;
  /** Pause after each read, in ms: with `count`, the worker's speed. */
  everyMs: number;
  /** false: never acknowledge (a worker that crashes with entries pending). */
  ack?: boolean;
  /** One XACK for all the entries of a read, instead of one per entry. */
  ackAll?: boolean;
  /** At most this many entries per second, on average. */
  rate?: number;
  streamKey?: string;
}

export class GroupWorker {
  /** Seqs in the order they were delivered to this consumer. */
  readonly seqs: number[] = [];
  /** Entry IDs delivered to this consumer, in order. */
  readonly ids: string[] = [];
  paused = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: Redis,
    readonly group: string,
    readonly consumer: string,
    private readonly opts: WorkerOptions,
  ) {}

  /** Creates the group the workers' way (XGROUP CREATE ... MKSTREAM), at `from` ('$' or '0'). */
  static async createGroup(client: Redis, group: string, from: '$' | '0', streamKey = STREAM_KEY): Promise<void> {
    await client.xgroup('CREATE', streamKey, group, from, 'MKSTREAM');
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  /** Reads once, now (a worker that reads a batch and then crashes). */
  async readOnce(count = this.opts.count): Promise<number> {
    const key = this.opts.streamKey ?? STREAM_KEY;
    const res = (await this.client.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', count, 'STREAMS', key, '>')) as
      | Array<[string, Array<[string, string[]]>]>
      | null;
    let n = 0;
    for (const [, entries] of res ?? []) {
      for (const [id, fields] of entries) {
        this.ids.push(id);
        this.seqs.push(Number(fields[5]));
        if (this.opts.ack !== false) await this.client.xack(key, this.group, id);
        n++;
      }
    }
    return n;
  }

  private async run(): Promise<void> {
    const key = this.opts.streamKey ?? STREAM_KEY;
    const started = Date.now();
    while (!this.stopped) {
      if (this.paused) {
        await sleep(10);
        continue;
      }
      const res = (await this.client.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', this.opts.count, 'BLOCK', 50, 'STREAMS', key, '>')) as
        | Array<[string, Array<[string, string[]]>]>
        | null;
      const read: string[] = [];
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          this.ids.push(id);
          this.seqs.push(Number(fields[5]));
          read.push(id);
          if (this.opts.ack !== false && !this.opts.ackAll) await this.client.xack(key, this.group, id);
        }
      }
      if (this.opts.ack !== false && this.opts.ackAll && read.length) await this.client.xack(key, this.group, ...read);
      if (this.opts.everyMs > 0) await sleep(this.opts.everyMs);
      if (this.opts.rate) {
        const due = started + (this.seqs.length / this.opts.rate) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** got holds exactly want, in order: the first difference is named, not a diff of thousands of numbers. */
export function assertSeqs(got: readonly number[], want: readonly number[], what: string): void {
  const counts = new Map<number, number>();
  for (const s of got) counts.set(s, (counts.get(s) ?? 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1).map(([s]) => s);
  assert.deepEqual(dups.slice(0, 10), [], `${what}: seqs delivered more than once (${dups.length} in all)`);
  const missing = want.filter((s) => !counts.has(s));
  assert.deepEqual(missing.slice(0, 10), [], `${what}: seqs never delivered (${missing.length} of ${want.length})`);
  assert.equal(got.length, want.length, `${what}: ${got.length} seqs delivered, ${want.length} expected`);
  const at = got.findIndex((s, i) => s !== want[i]);
  assert.equal(at, -1, `${what}: delivery ${at} is seq ${got[at]}, expected ${want[at]} (out of order)`);
}

/** A small #identity frame with this seq (its `time` is now unless given). */
export function identityFrame(seq: number, time = new Date().toISOString()): Buffer {
  return encodeFrame({ op: 1, t: '#identity' }, { seq, did: `did:plc:pacing${seq % 97}`, handle: `user${seq}.test`, time });
}

export function identityFrames(from: number, to: number, time?: string): Array<{ seq: number; bytes: Buffer }> {
  return range(from, to).map((seq) => ({ seq, bytes: identityFrame(seq, time) }));
}

/** XINFO GROUPS as objects. */
export async function groupsInfo(client: Redis, streamKey = STREAM_KEY): Promise<Array<Record<string, string | number | null>>> {
  const raw = (await client.xinfo('GROUPS', streamKey)) as unknown[][];
  return raw.map((g) => {
    const o: Record<string, string | number | null> = {};
    for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1] as string | number | null;
    return o;
  });
}

/** Entries of the stream after a group's last delivered ID: its true undelivered count. */
export async function undelivered(client: Redis, group: string, streamKey = STREAM_KEY): Promise<number> {
  const g = (await groupsInfo(client, streamKey)).find((x) => x.name === group);
  assert.ok(g, `no group ${group}`);
  const after = await client.xrange(streamKey, `(${String(g['last-delivered-id'])}`, '+');
  return after.length;
}
