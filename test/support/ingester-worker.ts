/**
 * Runs inside a worker_threads Worker: an Ingester pushing the jetstream
 * corpus (renumbered) at a steady pace, forever, until the parent
 * terminates the worker. Posts 'ready' and each batch's cursor.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { syntheticStream } from '../../bench/corpus.js';
import { createIngester } from '../../src/ingester.js';
import { readFrames } from './fixtures.js';

const { redisUrl } = workerData as { redisUrl: string };
// Small batches: a steady stream of reports crossing from the writer thread.
const ing = createIngester({ redisUrl, dashboardStatus: false, batchMaxEvents: 10 });
ing.on('fatal', (e) => parentPort!.postMessage({ fatal: e.message }));
ing.on('ready', () => parentPort!.postMessage({ ready: true }));
ing.on('redis-down', (error) => parentPort!.postMessage({ down: error }));
ing.on('batch', (r) => parentPort!.postMessage({ batch: r.cursor }));

const base = readFrames('jetstream-corpus/frames.bin').map((f) => f.bytes);
let seq = 1;
for (;;) {
  const frames = syntheticStream(base, 1000, seq);
  seq += 1000;
  for (let i = 0; i < frames.length; i += 20) {
    let full = false;
    for (const f of frames.slice(i, i + 20)) full = ing.push(f.bytes) === false || full;
    if (full) await new Promise((r) => ing.once('drain', () => r(undefined)));
    else await new Promise((r) => setTimeout(r, 2));
  }
}
