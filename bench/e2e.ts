/**
 * End to end, in one run: a local relay replays a corpus of real frames
 * (re-numbered, ≥ 200k) into each producer, each producer writes the
 * contract's entries into a local Redis, and we measure
 *   - events/s from the relay's first byte to the last entry in Redis,
 *   - CPU seconds per 100k events and peak RSS of the producer process,
 * for firehose-redis and for two baselines written the way existing
 * TypeScript producers work (@skyware/firehose + ioredis: one awaited XADD
 * per event, and a pipelined variant); then Redis's own ceiling on the same
 * payloads (redis-benchmark, pipelined XADD), and firehose-redis's latency
 * from a frame leaving the relay to its entry being readable, at a
 * live-like 500 events/s.
 *
 * and consumer pacing (bench/pacing.ts): the same corpus with a consumer
 * group that keeps up, and one whose worker is 10x slower than the writer.
 *
 *   npm run bench -- [--frames 200000] [--only firehose-redis,pipelined,per-event,pacing] [--latency-seconds 10]
 *                    [--pacing-cap 20000] [--relay-drop-ms 1000] [--pacing-rounds 3]
 *
 * The machine is shared and noisy: compare the ratios, which come from one
 * run, rather than absolute figures across runs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { readCapture } from '../src/capture.js';
import { createDecoder } from '../src/decoder.js';
import { RedisServer } from '../test/support/redis.js';
import { seqOf, syntheticStream } from './corpus.js';
import { cpuByThread, cpuSeconds, peakRssMb } from './proc.js';
import { runPacing } from './pacing.js';
import { startBenchRelay } from './relay-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const STREAM = 'firehose:events';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '200000' },
    only: { type: 'string' },
    'latency-seconds': { type: 'string', default: '10' },
    'latency-rate': { type: 'string', default: '500' },
    'pacing-cap': { type: 'string', default: '20000' },
    'relay-drop-ms': { type: 'string', default: '1000' },
    'pacing-rounds': { type: 'string', default: '3' },
  },
});
const N = Number(values.frames);
const only = values.only?.split(',');

interface Subject {
  name: string;
  args: string[];
  env?: Record<string, string>;
}

const SUBJECTS: Subject[] = [
  {
    name: 'firehose-redis',
    args: [path.join(root, 'dist/src/cli.js'), 'run'],
    env: { HTTP_PORT: '0', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', REDIS_MAX_STREAM_LEN: '500000' },
  },
  { name: 'pipelined', args: [path.join(here, 'baselines/xadd-pipelined.js')] },
  { name: 'per-event', args: [path.join(here, 'baselines/xadd-per-event.js')] },
];

interface Result {
  name: string;
  entries: number;
  seconds: number;
  eventsPerSec: number;
  cpuPer100k: number;
  cpuUsPerEvent: number;
  peakRssMb: number;
  threads: Record<string, number>;
}

function corpusFile(): { file: string; frames: Buffer[] } {
  const file = path.join(os.tmpdir(), `firehose-redis-bench-${N}.bin`);
  if (fs.existsSync(file)) return { file, frames: readCapture(file).map((f) => f.bytes) };
  const fixtures = path.join(root, 'test/fixtures');
  const base = ['jetstream-corpus/frames.bin', 'pds-capture/frames.bin'].flatMap((c) => readCapture(path.join(fixtures, c)).map((f) => f.bytes));
  const frames = syntheticStream(base, N, 1).map((f) => f.bytes);
  const out = fs.openSync(file, 'w');
  for (const f of frames) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(f.length);
    fs.writeSync(out, len);
    fs.writeSync(out, f);
  }
  fs.closeSync(out);
  return { file, frames };
}

function lines(child: ChildProcess, onLine: (o: Record<string, unknown>) => void): void {
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      onLine(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* not a JSON line */
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runSubject(s: Subject, capture: string, redis: RedisServer, expected: number): Promise<Result> {
  const client = redis.client();
  await client.flushall();
  const relay = spawn(process.execPath, [path.join(here, 'relay-server.js'), capture], { stdio: ['ignore', 'pipe', 'inherit'] });
  let port = 0;
  let connectedAt = 0;
  lines(relay, (o) => {
    if (o.event === 'listening') port = o.port as number;
    if (o.event === 'connected' && !connectedAt) connectedAt = o.at as number;
  });
  while (!port) await sleep(20);
  const child = spawn(process.execPath, s.args, {
    env: { ...process.env, RELAY_URL: `ws://127.0.0.1:${port}`, REDIS_URL: redis.url, REDIS_STREAM_KEY: STREAM, ...s.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let last = -1;
  let lastChange = Date.now();
  let doneAt = 0;
  for (;;) {
    const n = await client.xlen(STREAM);
    const now = Date.now();
    if (n !== last) {
      last = n;
      lastChange = now;
    }
    if (n >= expected) {
      doneAt = now;
      break;
    }
    if (now - lastChange > 10_000 || child.exitCode !== null) {
      doneAt = lastChange;
      console.error(`${s.name}: stopped at ${n} of ${expected} entries`);
      break;
    }
    await sleep(n > 0 ? 5 : 20);
  }
  const cpu = cpuSeconds(child.pid!);
  const threads = cpuByThread(child.pid!);
  const rss = peakRssMb(child.pid!);
  child.kill('SIGKILL');
  relay.kill('SIGKILL');
  const seconds = (doneAt - connectedAt) / 1000;
  return {
    name: s.name,
    entries: last,
    seconds,
    eventsPerSec: last / seconds,
    cpuPer100k: (cpu / last) * 1e5,
    cpuUsPerEvent: (cpu / last) * 1e6,
    peakRssMb: rss,
    threads,
  };
}

function redisCeiling(redis: RedisServer, payloadBytes: number): number {
  const payload = 'x'.repeat(payloadBytes);
  const r = spawnSync(
    'redis-benchmark',
    ['-h', '127.0.0.1', '-p', String(redis.port), '-n', '200000', '-c', '1', '-P', '64', '-q',
      'XADD', 'bench:ceiling', 'MAXLEN', '~', '500000', '*', 'type', 'commit', 'data', payload, 'seq', '31527015322'],
    { encoding: 'utf8' },
  );
  const m = /([\d.]+) requests per second/.exec(r.stdout);
  if (!m) throw new Error(`redis-benchmark: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

async function latency(frames: Buffer[], redis: RedisServer, seconds: number, rate: number): Promise<number[]> {
  const client = redis.client();
  await client.flushall();
  const reader = redis.client();
  const sent = new Map<number, number>();
  const relay = await startBenchRelay({ frames: frames.slice(0, seconds * rate), rate, onSend: (seq, at) => sent.set(seq, at) });
  const child = spawn(process.execPath, SUBJECTS[0]!.args, {
    env: { ...process.env, RELAY_URL: `ws://127.0.0.1:${relay.port}`, REDIS_URL: redis.url, ...SUBJECTS[0]!.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const waits: number[] = [];
  let id = '0-0';
  const want = Math.min(frames.length, seconds * rate);
  const deadline = Date.now() + seconds * 1000 + 15_000;
  while (sent.size < want || waits.length < sent.size) {
    if (Date.now() > deadline) break;
    const res = (await reader.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', STREAM, id)) as Array<[string, Array<[string, string[]]>]> | null;
    const now = performance.now();
    for (const [, entries] of res ?? []) {
      for (const [entryId, fields] of entries) {
        id = entryId;
        const at = sent.get(Number(fields[5]));
        if (at !== undefined) waits.push(now - at);
      }
    }
  }
  child.kill('SIGKILL');
  await relay.close();
  return waits.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function main(): Promise<void> {
  console.log(`building a corpus of ${N} frames from the real fixture captures ...`);
  const { file, frames } = corpusFile();
  const decoder = createDecoder();
  let expected = 0;
  let dataBytes = 0;
  for (const f of frames) {
    const r = decoder.decode(f);
    if (r.kind === 'entry') {
      expected++;
      dataBytes += r.data.length;
    }
  }
  const meanData = Math.round(dataBytes / expected);
  console.log(`corpus: ${frames.length} frames, ${expected} entries, mean entry data ${meanData} B (${file})`);
  const redis = await RedisServer.start();
  try {
    const results: Result[] = [];
    for (const s of SUBJECTS) {
      if (only && !only.includes(s.name)) continue;
      console.log(`running ${s.name} ...`);
      const r = await runSubject(s, file, redis, expected);
      results.push(r);
      console.log(
        `  ${r.name.padEnd(15)} ${r.entries} entries in ${r.seconds.toFixed(2)} s: ${Math.round(r.eventsPerSec)} events/s, ` +
          `${r.cpuPer100k.toFixed(2)} CPU s per 100k events (${r.cpuUsPerEvent.toFixed(1)} µs/event), peak RSS ${r.peakRssMb.toFixed(0)} MB`,
      );
      const busy = Object.entries(r.threads).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
      console.log(`    CPU by thread: ${busy.map(([n, s]) => `${n} ${((s / r.entries) * 1e6).toFixed(1)} µs/event`).join(', ')}`);
    }
    const ceiling = redisCeiling(redis, meanData);
    console.log(`redis-benchmark, one connection, pipelined XADD of ${meanData}-byte payloads: ${Math.round(ceiling)} XADD/s`);

    const ours = results.find((r) => r.name === 'firehose-redis');
    const pipelined = results.find((r) => r.name === 'pipelined');
    const perEvent = results.find((r) => r.name === 'per-event');
    if (ours) {
      console.log('\nratios (same run):');
      if (pipelined) {
        console.log(`  throughput vs pipelined baseline: ${(ours.eventsPerSec / pipelined.eventsPerSec).toFixed(1)}x   CPU/event: ${(pipelined.cpuPer100k / ours.cpuPer100k).toFixed(1)}x less`);
      }
      if (perEvent) {
        console.log(`  throughput vs per-event baseline: ${(ours.eventsPerSec / perEvent.eventsPerSec).toFixed(1)}x   CPU/event: ${(perEvent.cpuPer100k / ours.cpuPer100k).toFixed(1)}x less`);
      }
      console.log(`  throughput vs Redis ceiling:      ${(ours.eventsPerSec / ceiling).toFixed(2)}x`);
    }
    if (!only || only.includes('pacing')) {
      const cap = Number(values['pacing-cap']);
      const dropMs = Number(values['relay-drop-ms']);
      console.log(`\nconsumer pacing: REDIS_MAX_STREAM_LEN=${cap}, the relay drops a consumer that reads nothing for ${dropMs} ms ...`);
      const runs = await runPacing(
        { capture: file, redis, lastSeq: seqOf(frames[frames.length - 1]!)!, entries: expected, cap, relayDropMs: dropMs, rounds: Number(values['pacing-rounds']) },
        (line) => console.log(line),
      );
      const by = (n: string) => runs.find((r) => r.name === n)!;
      const ratio = (a: string, b: string) => (by(a).eventsPerSec / by(b).eventsPerSec).toFixed(3);
      const cpu = (n: string) => by(n).serviceUsPerEvent + by(n).redisUsPerEvent;
      console.log(
        `  caught-up group vs no group: ${ratio('caught-up group', 'no group')}x, vs today: ${ratio('caught-up group', 'today')}x (target >= 0.95); ` +
          `CPU per event (service + Redis): ${(cpu('caught-up group') / cpu('today')).toFixed(3)}x today's`,
      );
      console.log(`  no group vs today: ${ratio('no group', 'today')}x   workers keeping up vs no group: ${ratio('workers keeping up', 'no group')}x (paced ${by('workers keeping up').pacedSeconds.toFixed(1)} s)`);
      const slow = by('10x slower');
      console.log(
        `  10x slower: ${ratio('10x slower', 'no group')}x the no-group rate, paced ${slow.pacedSeconds.toFixed(1)} of ${slow.seconds.toFixed(1)} s, ` +
          `${slow.reconnects - by('no group').reconnects} relay reconnects more than with no group, peak RSS ${slow.peakRssMb.toFixed(0)} MB vs ${by('no group').peakRssMb.toFixed(0)} MB`,
      );
    }
    if (!only || only.includes('firehose-redis')) {
      const secs = Number(values['latency-seconds']);
      const rate = Number(values['latency-rate']);
      console.log(`\nlatency at ${rate} events/s for ${secs} s (relay send → entry readable in Redis) ...`);
      const waits = await latency(frames, redis, secs, rate);
      console.log(
        `  ${waits.length} events: p50 ${pct(waits, 50).toFixed(2)} ms, p99 ${pct(waits, 99).toFixed(2)} ms, max ${waits[waits.length - 1]!.toFixed(2)} ms`,
      );
    }
  } finally {
    await redis.stop();
  }
}

await main();
