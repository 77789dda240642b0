/**
 * `firehose-redis record` when the recording fails: nothing empty is left
 * behind, and nothing is clobbered before the relay has answered.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';
import { readCapture } from '../src/capture.js';
import { FakeRelay } from './support/fake-relay.js';
import { fixture, readFrames } from './support/fixtures.js';
import { freePort } from './support/redis.js';
import { runCli, stopAllServices } from './support/service-process.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-record-'));
const relays: FakeRelay[] = [];
afterEach(async () => {
  await stopAllServices();
  await Promise.all(relays.splice(0).map((r) => r.close()));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function relay(script: (ws: import('ws').WebSocket) => void): Promise<FakeRelay> {
  const r = await FakeRelay.start([], {
    script: async (conn) => {
      script(conn.ws);
      return 'done';
    },
  });
  relays.push(r);
  return r;
}

test('a dead relay: exit 1 and no file at all', async () => {
  const file = path.join(tmp, 'dead.bin');
  const r = await runCli(['record', file], { env: { RELAY_URL: `ws://127.0.0.1:${await freePort()}` } });
  assert.deepEqual(r.status, { code: 1, signal: null }, r.stderr);
  assert.match(r.stderr, /relay error: .*ECONNREFUSED/);
  assert.match(r.stderr, /nothing recorded; .*dead\.bin was not written\n$/);
  assert.equal(fs.existsSync(file), false);
});

test('a dead relay leaves an existing capture alone', async () => {
  const file = path.join(tmp, 'existing.bin');
  fs.copyFileSync(fixture('jetstream-corpus/frames.bin'), file);
  const before = fs.readFileSync(file);
  const r = await runCli(['record', file], { env: { RELAY_URL: `ws://127.0.0.1:${await freePort()}` } });
  assert.equal(r.status.code, 1);
  assert.ok(fs.readFileSync(file).equals(before));
});

test('a relay that closes before its first message: exit 1, the empty file is removed', async () => {
  const r0 = await relay((ws) => ws.close(1011, 'going away'));
  const file = path.join(tmp, 'closed.bin');
  const r = await runCli(['record', file], { env: { RELAY_URL: r0.url } });
  assert.deepEqual(r.status, { code: 1, signal: null }, r.stderr);
  assert.match(r.stderr, /relay closed the connection \(1011 going away\)/);
  assert.match(r.stderr, /nothing recorded; removed the empty .*closed\.bin\n$/);
  assert.equal(fs.existsSync(file), false);
});

test('a relay that closes after some messages: exit 1, the messages are kept', async () => {
  const frames = readFrames('jetstream-corpus/frames.bin').slice(0, 3);
  const r0 = await relay((ws) => {
    for (const f of frames) ws.send(f.bytes);
    ws.close(1011, 'going away');
  });
  const file = path.join(tmp, 'partial.bin');
  const r = await runCli(['record', file], { env: { RELAY_URL: r0.url } });
  assert.equal(r.status.code, 1, r.stderr);
  assert.match(r.stderr, /recorded 3 frames/);
  const saved = readCapture(file);
  assert.equal(saved.length, 3);
  saved.forEach((f, i) => assert.ok(f.bytes.equals(frames[i]!.bytes)));
});
