/**
 * Baseline 2, a careful TypeScript producer: XADDs gathered into an ioredis
 * pipeline and sent every 500 events or every millisecond, whichever comes
 * first.
 */
import { Redis, type ChainableCommander } from 'ioredis';
import { subscribe } from './skyware.js';

const redis = new Redis(process.env.REDIS_URL!);
const stream = process.env.REDIS_STREAM_KEY ?? 'firehose:events';
let pipeline: ChainableCommander | undefined;
let queued = 0;

function flush(): void {
  if (!pipeline) return;
  const p = pipeline;
  pipeline = undefined;
  queued = 0;
  void p.exec();
}

subscribe(process.env.RELAY_URL!, (e) => {
  if (!pipeline) {
    pipeline = redis.pipeline();
    setTimeout(flush, 1);
  }
  pipeline.xadd(stream, 'MAXLEN', '~', '500000', '*', 'type', e.type, 'data', JSON.stringify(e.data), 'seq', e.seq);
  if (++queued >= 500) flush();
});
