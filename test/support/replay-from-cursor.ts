/**
 * A writer process of its own, for the tests that kill or exit it: creates
 * an Ingester, reads the saved cursor, and pushes the synthetic stream
 * (jetstream corpus frames numbered 1..FRAMES) from just after that cursor
 * at a steady pace. One JSON line on stdout per step.
 *
 *   REDIS_URL   the test's server
 *   FRAMES      length of the synthetic stream (default 3000)
 *   MODE        replay: push, close() and exit 0 (default)
 *               exit:   push, then process.exit(0) at once, without close()
 *   NO_CURSOR   set: do not wait for Redis, start from seq 1 (Redis may be down)
 *   PER_TICK, TICK_MS   pace: PER_TICK frames every TICK_MS ms
 */
import { syntheticStream } from '../../bench/corpus.js';
import { createIngester } from '../../src/ingester.js';
import { readFrames } from './fixtures.js';

const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

const total = Number(process.env.FRAMES ?? 3000);
const mode = process.env.MODE ?? 'replay';
const perTick = Number(process.env.PER_TICK ?? 20);
const tickMs = Number(process.env.TICK_MS ?? 5);

const ing = createIngester({ redisUrl: process.env.REDIS_URL!, dashboardStatus: false });
ing.on('fatal', (e) => {
  say({ fatal: e.message });
  process.exit(3);
});
ing.on('batch', (r) => say({ batch: r.cursor, entries: r.entries }));

const cursor = process.env.NO_CURSOR ? null : await ing.cursor();
const from = cursor === null ? 0 : Number(cursor);
const base = readFrames('jetstream-corpus/frames.bin').map((f) => f.bytes);
const todo = syntheticStream(base, total, 1).filter((f) => f.seq > from);
say({ cursor, todo: todo.length });

for (let i = 0; i < todo.length; ) {
  const end = Math.min(todo.length, i + perTick);
  let full = false;
  for (; i < end && !full; i++) full = ing.push(todo[i]!.bytes) === false;
  if (full) await new Promise((r) => ing.once('drain', () => r(undefined)));
  else await new Promise((r) => setTimeout(r, tickMs));
}
say({ pushed: todo.length });

if (mode === 'exit') {
  say({ exiting: true, at: Date.now(), queued: ing.stats().queueFrames });
  process.exit(0);
}
const result = await ing.close(20_000);
say({ closed: result });
