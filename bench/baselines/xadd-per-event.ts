/**
 * Baseline 1, as the existing TypeScript producer works: one XADD per
 * event, awaited in the event's handler (ioredis, no pipelining).
 */
import { Redis } from 'ioredis';
import { subscribe } from './skyware.js';

const redis = new Redis(process.env.REDIS_URL!);
const stream = process.env.REDIS_STREAM_KEY ?? 'firehose:events';
subscribe(process.env.RELAY_URL!, async (e) => {
  await redis.xadd(stream, 'MAXLEN', '~', '500000', '*', 'type', e.type, 'data', JSON.stringify(e.data), 'seq', e.seq);
});
