/**
 * Consumer pacing in `npm run bench`: the same corpus through firehose-redis
 * under a cap small enough to matter, with and without a consumer group.
 *
 *   today               REDIS_TRIM=maxlen, no group: the old blind MAXLEN ~
 *   no group            REDIS_TRIM=groups, no group: what the checks cost alone
 *   caught-up group     a group kept at the newest entry (XGROUP SETID ... $ every
 *                       5 ms): the writer's checks with a group, without a reader
 *                       competing for the CPU
 *   workers keeping up  a worker reading as fast as it can (XREADGROUP COUNT 1000,
 *                       one XACK per read), on the same machine
 *   10x slower          a worker reading a tenth of the no-group rate
 *
 * The relay drops a consumer that stops reading for --relay-drop-ms, as
 * public relays drop slow consumers; the service reconnects from its cursor.
 * For each: events/s from the relay's first connection to the cursor on
 * the last frame, peak RSS, seconds spent paced (firehose_paced_seconds_total),
 * relay reconnects (firehose_reconnects_total, and the relay's own count of
 * connections and drops), and the largest XLEN seen.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, type RedisServer } from '../test/support/redis.js';
import { GroupWorker } from '../test/support/workers.js';
import { cpuSeconds, median, peakRssMb, redisCpuSeconds } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const STREAM = 'firehose:events';
const CURSOR = 'firehose:python_cursor';
const GROUP = 'workers';

export interface PacingRun {
  name: string;
  entries: number;
  seconds: number;
  eventsPerSec: number;
  peakRssMb: number;
  /** CPU of the service process (both threads), and of redis-server, per event. */
  serviceUsPerEvent: number;
  redisUsPerEvent: number;
  pacedSeconds: number;
  reconnects: number;
  relayConnections: number;
  relayDrops: number;
  maxXlen: number;
  /** Entries the group's worker read by the time the cursor was on the last frame. */
  read: number;
  /** Mean entries per batch (firehose_batch_entries). */
  batchEntries: number;
}

export interface PacingOptions {
  capture: string;
  redis: RedisServer;
  /** Seq of the corpus's last frame: done once the cursor holds it. */
  lastSeq: number;
  /** Entries the corpus makes. */
  entries: number;
  cap: number;
  relayDropMs: number;
  /** How many times the runs without a reader are repeated (interleaved); medians are reported. */
  rounds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function metricSum(body: string, name: string): number {
  let sum = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function runOne(
  o: PacingOptions,
  name: string,
  setup: { trim: 'groups' | 'maxlen'; group?: 'setid' | 'worker'; rate?: number },
): Promise<PacingRun> {
  const client = o.redis.client();
  await client.flushall();
  if (setup.group) await client.xgroup('CREATE', STREAM, GROUP, '0', 'MKSTREAM');
  const relayArgs = [path.join(here, 'relay-server.js'), o.capture, '--drop-slow-ms', String(o.relayDropMs)];
  const relay = spawn(process.execPath, relayArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let port = 0;
  let connectedAt = 0;
  let connections = 0;
  let drops = 0;
  readline.createInterface({ input: relay.stdout! }).on('line', (l) => {
    const e = JSON.parse(l) as { event: string; port?: number; at?: number };
    if (e.event === 'listening') port = e.port!;
    if (e.event === 'connected') {
      connections++;
      connectedAt ||= e.at!;
    }
    if (e.event === 'dropped') drops++;
  });
  while (!port) await sleep(20);
  const httpPort = await freePort();
  const redisCpuBefore = await redisCpuSeconds(client);
  const child = spawn(process.execPath, [path.join(root, 'dist/src/cli.js'), 'run'], {
    env: {
      ...process.env,
      RELAY_URL: `ws://127.0.0.1:${port}`,
      REDIS_URL: o.redis.url,
      REDIS_STREAM_KEY: STREAM,
      REDIS_MAX_STREAM_LEN: String(o.cap),
      REDIS_TRIM: setup.trim,
      HTTP_PORT: String(httpPort),
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const worker = setup.group === 'worker' ? new GroupWorker(o.redis.client(), GROUP, 'w1', { count: 1000, everyMs: 0, ackAll: true, rate: setup.rate }).start() : undefined;
  let keeping = setup.group === 'setid';
  const keeper = (async () => {
    const c = o.redis.client();
    while (keeping) {
      await c.xgroup('SETID', STREAM, GROUP, '$');
      await sleep(5);
    }
  })();
  let maxXlen = 0;
  let last = '';
  let lastChange = Date.now();
  let doneAt = 0;
  for (let i = 0; ; i++) {
    const cursor = (await client.get(CURSOR)) ?? '';
    const now = Date.now();
    if (i % 10 === 0) maxXlen = Math.max(maxXlen, await client.xlen(STREAM));
    if (cursor !== last) {
      last = cursor;
      lastChange = now;
    }
    if (cursor === String(o.lastSeq)) {
      doneAt = now;
      break;
    }
    if (now - lastChange > 30_000 || child.exitCode !== null) {
      doneAt = lastChange;
      console.error(`${name}: stopped at cursor ${cursor} of ${o.lastSeq}`);
      break;
    }
    await sleep(5);
  }
  const read = worker?.seqs.length ?? 0;
  const serviceCpu = cpuSeconds(child.pid!);
  const redisCpuUsed = (await redisCpuSeconds(client)) - redisCpuBefore;
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const rss = peakRssMb(child.pid!);
  await worker?.stop();
  keeping = false;
  await keeper;
  child.kill('SIGKILL');
  relay.kill('SIGKILL');
  const seconds = (doneAt - connectedAt) / 1000;
  return {
    name,
    entries: o.entries,
    seconds,
    eventsPerSec: o.entries / seconds,
    peakRssMb: rss,
    serviceUsPerEvent: (serviceCpu / o.entries) * 1e6,
    redisUsPerEvent: (redisCpuUsed / o.entries) * 1e6,
    pacedSeconds: metricSum(metrics, 'firehose_paced_seconds_total'),
    reconnects: metricSum(metrics, 'firehose_reconnects_total'),
    relayConnections: connections,
    relayDrops: drops,
    maxXlen,
    read,
    batchEntries: metricSum(metrics, 'firehose_batch_entries_sum') / metricSum(metrics, 'firehose_batch_entries_count'),
  };
}

/** The run of the median throughput, with the median CPU figures of all rounds. */
function medianRun(rounds: PacingRun[]): PacingRun {
  const mid = [...rounds].sort((a, b) => a.eventsPerSec - b.eventsPerSec)[Math.floor(rounds.length / 2)]!;
  return { ...mid, serviceUsPerEvent: median(rounds.map((r) => r.serviceUsPerEvent)), redisUsPerEvent: median(rounds.map((r) => r.redisUsPerEvent)) };
}

export async function runPacing(o: PacingOptions, log: (line: string) => void): Promise<PacingRun[]> {
  const runs: PacingRun[] = [];
  const report = (r: PacingRun, rounds?: PacingRun[]) => {
    runs.push(r);
    const all = rounds ? ` (${rounds.length} rounds: ${rounds.map((x) => Math.round(x.eventsPerSec)).join(', ')})` : '';
    log(
      `  ${r.name.padEnd(19)} ${Math.round(r.eventsPerSec)} events/s${all}, CPU ${r.serviceUsPerEvent.toFixed(1)} µs/event in the service + ` +
        `${r.redisUsPerEvent.toFixed(1)} in Redis, peak RSS ${r.peakRssMb.toFixed(0)} MB, paced ${r.pacedSeconds.toFixed(1)} of ${r.seconds.toFixed(1)} s, ` +
        `${r.reconnects} relay reconnects (relay: ${r.relayConnections} connections, ${r.relayDrops} dropped as too slow), ` +
        `max XLEN ${r.maxXlen}, ${Math.round(r.batchEntries)} entries per batch${r.read ? `, the worker had read ${r.read}` : ''}`,
    );
  };
  // Without a reader, the runs differ only by the writer's work: repeat
  // them in turn, so that the machine's noise falls on each alike.
  const plain: Record<string, PacingRun[]> = { today: [], 'no group': [], 'caught-up group': [] };
  for (let i = 0; i < o.rounds; i++) {
    plain.today!.push(await runOne(o, 'today', { trim: 'maxlen' }));
    plain['no group']!.push(await runOne(o, 'no group', { trim: 'groups' }));
    plain['caught-up group']!.push(await runOne(o, 'caught-up group', { trim: 'groups', group: 'setid' }));
  }
  for (const rounds of Object.values(plain)) report(medianRun(rounds), rounds);
  const base = runs.find((r) => r.name === 'no group')!;
  report(await runOne(o, 'workers keeping up', { trim: 'groups', group: 'worker' }));
  report(await runOne(o, '10x slower', { trim: 'groups', group: 'worker', rate: base.eventsPerSec / 10 }));
  return runs;
}
