/**
 * The relay client's connection discipline around a standby and a resync:
 * one connection at a time, and a connection being closed delivers
 * nothing more. Against the fake relay, with the writer replaced by
 * handlers the test controls.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { syntheticStream, seqOf } from '../bench/corpus.js';
import { addon } from '../src/native.js';
import { RelayClient } from '../src/relay.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { until } from './support/service-process.js';

const JETSTREAM = readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

const OPTS = { maxMessageBytes: 5 << 20, stallTimeoutMs: 60_000, pingIntervalMs: 30_000, reconnectMinMs: 50, reconnectMaxMs: 400 };

/** A client whose writer accepts `accept` frames, then asks to pause; resumeCursor answers after `delayMs`. */
function client(relay: FakeRelay, state: { cursor: string | null; delayMs: number; accept: number; pushed: number[] }): RelayClient {
  let parser: InstanceType<typeof addon.WebSocketParser>;
  const c = new RelayClient(
    { urls: [relay.url], ...OPTS },
    {
      resumeCursor: async () => {
        await sleep(state.delayMs);
        return state.cursor;
      },
      // The writer's part, with the test binding of the native parser.
      openSocket: (max) => {
        parser = new addon.WebSocketParser(max);
      },
      feed: (chunk) => {
        let room = true;
        for (const e of parser.feed(chunk)) {
          if (e.type !== 'binary') continue;
          state.pushed.push(seqOf(e.data)!);
          room = state.pushed.length < state.accept;
        }
        return room;
      },
    },
  );
  cleanups.unshift(() => c.stop()); // after the relay is gone: no close handshake to wait for
  return c;
}

test('stop() then start() (standby, then takeover): the old connection, paused with frames in its buffers, delivers none of them when the writer drains', async () => {
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, 3000, 1));
  cleanups.push(() => relay.close());
  const state = { cursor: null as string | null, delayMs: 0, accept: 100, pushed: [] as number[] };
  const c = client(relay, state);
  c.start();
  // The writer asked to pause after 100 frames; the relay keeps sending into the socket.
  await until(() => c.paused && relay.connections[0]!.sent > 1000, 5000, 'paused with frames buffered');
  void c.stop();
  // A takeover before the old connection finished closing: resume from 2000.
  state.cursor = '2000';
  state.pushed = [];
  state.accept = Infinity;
  c.start();
  c.resume();
  await until(() => state.pushed.includes(3000), 5000, 'the new connection delivered up to 3000');
  await sleep(100);
  assert.equal(relay.connections.length, 2);
  assert.deepEqual(state.pushed.filter((s) => s <= 2000).slice(0, 5), [], 'frames from the old connection');
  assert.equal(state.pushed.length, 1000);
});

test('restart() while a connection is being set up (waiting for the cursor): one connection, not two', async () => {
  const relay = await FakeRelay.start(syntheticStream(JETSTREAM, 500, 1));
  cleanups.push(() => relay.close());
  const state = { cursor: '100' as string | null, delayMs: 200, accept: Infinity, pushed: [] as number[] };
  const c = client(relay, state);
  c.start();
  await sleep(50);
  c.restart('resync');
  await until(() => state.pushed.includes(500), 5000, 'frames up to 500');
  await sleep(300);
  assert.equal(relay.connections.length, 1);
  assert.equal(state.pushed.length, 400);
});
