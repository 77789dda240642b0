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
 * firehose-redis also runs against a Sentinel-managed master (two replicas,
 * three sentinels), the same primary and replicas written directly
 * ("replicated"), and a Redis Cluster (three masters with a replica each,
 * hash-tagged keys), each compared with the single node in the same run.
 * Replicas cost Redis CPU that the single node does not spend: "replicated"
 * shows how much; `--replicas 0` leaves them out, to see what the topology
 * costs the writer alone.
 *
 *   npm run bench -- [--frames 200000] [--only firehose-redis,wss,sentinel,replicated,cluster,pipelined,per-event,pacing]
 *                    [--rounds 1] [--replicas N (default: sentinel 2, cluster 1)] [--latency-seconds 10]
 *                    [--pacing-cap 20000] [--relay-drop-ms 1000] [--pacing-rounds 3] [--compare <dir>]
 *
 * --compare <dir> runs another build of firehose-redis (a checkout built in
 * <dir>) in every round next to this one, in alternating order, and prints
 * the medians' ratios: throughput, CPU per event, Redis's CPU per event.
 *
 * Then consumer pacing (`--only pacing`, bench/pacing.ts): the same corpus
 * with a consumer group that keeps up, and one whose worker is 10x slower
 * than the writer.
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
import { RedisCluster } from '../test/support/cluster.js';
import { RedisServer } from '../test/support/redis.js';
import { SentinelSet } from '../test/support/sentinel.js';
import { seqOf, syntheticStream } from './corpus.js';
import { runPacing } from './pacing.js';
import { cpuByThread, cpuSeconds, median, peakRssMb, redisCpuSeconds } from './proc.js';
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
    rounds: { type: 'string', default: '1' },
    replicas: { type: 'string' },
    'pacing-cap': { type: 'string', default: '20000' },
    'relay-drop-ms': { type: 'string', default: '1000' },
    'pacing-rounds': { type: 'string', default: '3' },
    compare: { type: 'string' },
  },
});
const N = Number(values.frames);
const only = values.only?.split(',');

interface Subject {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** Where it writes (default: the single node). */
  topology?: 'sentinel' | 'replicated' | 'cluster';
  /** Read from a wss:// relay (self-signed certificate, trusted through NODE_EXTRA_CA_CERTS). */
  relayTls?: boolean;
}

const OURS = {
  args: [path.join(root, 'dist/src/cli.js'), 'run'],
  env: { HTTP_PORT: '0', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', REDIS_MAX_STREAM_LEN: '500000' },
};

const SUBJECTS: Subject[] = [
  { name: 'firehose-redis', ...OURS },
  ...(values.compare
    ? [{ name: path.basename(path.resolve(values.compare)), ...OURS, args: [path.resolve(values.compare, 'dist/src/cli.js'), 'run'] }]
    : []),
  { name: 'wss', ...OURS, relayTls: true },
  { name: 'sentinel', ...OURS, topology: 'sentinel' },
  // The sentinel's primary and replicas, written directly: what replication costs, without Sentinel.
  { name: 'replicated', ...OURS, topology: 'replicated' },
  { name: 'cluster', ...OURS, topology: 'cluster' },
  { name: 'pipelined', args: [path.join(here, 'baselines/xadd-pipelined.js')] },
  { name: 'per-event', args: [path.join(here, 'baselines/xadd-per-event.js')] },
];

/** Where a subject writes: the settings that point at it, and a client of the node holding the stream. */
interface Target {
  env: Record<string, string>;
  client: Redis;
  stream: string;
}

// In a cluster the keys share a slot through their hash tag; the same names elsewhere cost the same.
const TAGGED = { REDIS_STREAM_KEY: '{firehose}:events', REDIS_CURSOR_KEY: '{firehose}:cursor' };

async function sentinelTarget(sentinels: boolean): Promise<{ target: Target; stop: () => Promise<void> }> {
  const set = await SentinelSet.start({ replicas: Number(values.replicas ?? 2), sentinels: sentinels ? 3 : 0 });
  const primary = set.nodes[0]!;
  const discovery: Record<string, string> = sentinels ? { REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_NAME: set.name } : {};
  return {
    target: {
      env: { REDIS_URL: primary.url, ...discovery, ...TAGGED },
      client: set.client(primary.port),
      stream: TAGGED.REDIS_STREAM_KEY,
    },
    stop: () => set.stop(),
  };
}

async function clusterTarget(): Promise<{ target: Target; stop: () => Promise<void> }> {
  const cluster = await RedisCluster.start({ replicasPerMaster: Number(values.replicas ?? 1) });
  const owner = await cluster.owner(await cluster.slotOf(TAGGED.REDIS_STREAM_KEY));
  return {
    target: { env: { REDIS_URL: cluster.nodes[0]!.url, ...TAGGED }, client: cluster.client(owner), stream: TAGGED.REDIS_STREAM_KEY },
    stop: () => cluster.stop(),
  };
}

interface Result {
  name: string;
  entries: number;
  seconds: number;
  eventsPerSec: number;
  cpuPer100k: number;
  cpuUsPerEvent: number;
  /** Redis's CPU per event (in a cluster, the node that holds the stream). */
  redisUsPerEvent: number;
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

async function runSubject(s: Subject, capture: string, target: Target, expected: number): Promise<Result> {
  const { client, stream } = target;
  await client.call('FLUSHALL', 'SYNC');
  const tls = s.relayTls ? relayCertificate() : undefined;
  const relay = spawn(process.execPath, [path.join(here, 'relay-server.js'), capture, ...(tls ? ['--tls', tls] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let port = 0;
  let connectedAt = 0;
  lines(relay, (o) => {
    if (o.event === 'listening') port = o.port as number;
    if (o.event === 'connected' && !connectedAt) connectedAt = o.at as number;
  });
  while (!port) await sleep(20);
  const redisCpuBefore = await redisCpuSeconds(client);
  const child = spawn(process.execPath, s.args, {
    env: {
      ...process.env,
      RELAY_URL: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}`,
      ...(tls ? { NODE_EXTRA_CA_CERTS: path.join(tls, 'cert.pem') } : {}),
      REDIS_STREAM_KEY: STREAM,
      ...target.env,
      ...s.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let last = -1;
  let lastChange = Date.now();
  let doneAt = 0;
  for (;;) {
    const n = await client.xlen(stream);
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
  const redisCpu = (await redisCpuSeconds(client)) - redisCpuBefore;
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
    redisUsPerEvent: (redisCpu / last) * 1e6,
    peakRssMb: rss,
    threads,
  };
}

/** A self-signed certificate for 127.0.0.1, made once per run: the directory holding key.pem and cert.pem. */
const relayCertificate = (() => {
  let dir: string | undefined;
  return () => {
    if (dir) return dir;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-bench-tls-'));
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
    return dir;
  };
})();

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
    const single: Target = { env: { REDIS_URL: redis.url }, client: redis.client(), stream: STREAM };
    const results: Result[] = [];
    const rounds = Number(values.rounds);
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) console.log(`round ${round} of ${rounds}`);
      // The compared build goes first in every other round, so that neither always runs on a warmer machine.
      const order = values.compare && round % 2 === 0 ? [SUBJECTS[1]!, SUBJECTS[0]!, ...SUBJECTS.slice(2)] : SUBJECTS;
      for (const s of order) {
        const compared = values.compare && s === SUBJECTS[1];
        if (only && !only.includes(s.name) && !compared) continue;
        if (round > 1 && s.args[0]!.includes('baselines')) continue; // the baselines once: they are 10x apart
        console.log(`running ${s.name} ...`);
        // A topology runs only while its subject does, so that it costs the others nothing.
        const topo = s.topology === 'cluster' ? await clusterTarget() : s.topology ? await sentinelTarget(s.topology === 'sentinel') : undefined;
        let r: Result;
        try {
          r = await runSubject(s, file, topo?.target ?? single, expected);
        } finally {
          await topo?.stop();
        }
        results.push(r);
        console.log(
          `  ${r.name.padEnd(15)} ${r.entries} entries in ${r.seconds.toFixed(2)} s: ${Math.round(r.eventsPerSec)} events/s, ` +
            `${r.cpuPer100k.toFixed(2)} CPU s per 100k events (${r.cpuUsPerEvent.toFixed(1)} µs/event; Redis ${r.redisUsPerEvent.toFixed(1)} µs/event), peak RSS ${r.peakRssMb.toFixed(0)} MB`,
        );
        const busy = Object.entries(r.threads).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]);
        console.log(`    CPU by thread: ${busy.map(([n, s]) => `${n} ${((s / r.entries) * 1e6).toFixed(1)} µs/event`).join(', ')}`);
      }
    }
    const topologies = ['wss', 'sentinel', 'replicated', 'cluster'].filter((t) => results.some((r) => r.name === t));
    if (topologies.length && results.some((r) => r.name === 'firehose-redis')) {
      console.log('\na wss:// relay and the topologies against ws:// and the single node (throughput ratio per round; same corpus, same run):');
      const mine = (name: string) => results.filter((r) => r.name === name).map((r) => r.eventsPerSec);
      const base = mine('firehose-redis');
      for (const t of topologies) {
        const ratios = mine(t).map((v, i) => v / base[i]!);
        const sorted = [...ratios].sort((a, b) => a - b);
        console.log(`  ${t.padEnd(9)} ${ratios.map((x) => x.toFixed(2)).join(' ')}   median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)}x`);
      }
    }
    if (values.compare) {
      const by = (name: string) => results.filter((r) => r.name === name);
      const ours = by(SUBJECTS[0]!.name);
      const theirs = by(SUBJECTS[1]!.name);
      const ratio = (f: (r: Result) => number) => (median(ours.map(f)) / median(theirs.map(f))).toFixed(3);
      console.log(
        `\nthis build vs ${SUBJECTS[1]!.name} (medians of ${ours.length}): throughput ${ratio((r) => r.eventsPerSec)}x, ` +
          `CPU per event ${ratio((r) => r.cpuUsPerEvent)}x, Redis CPU per event ${ratio((r) => r.redisUsPerEvent)}x`,
      );
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
    if ((!only || only.includes('firehose-redis')) && Number(values['latency-seconds']) > 0) {
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
