/**
 * The native WebSocket frame parser (native/core/websocket) against `ws`: a
 * `ws` server sends the same varied stream to two clients, a `ws` client and
 * a raw socket (src/relay-socket.ts) whose bytes go into the native parser
 * in random chunk sizes. Both must see the same messages and control frames.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { addon, type WebSocketEvent } from '../src/native.js';
import { openRelaySocket } from '../src/relay-socket.js';
import { selfSignedCert, type TestCert } from './support/tls-cert.js';

const MiB = 1 << 20;

interface Seen {
  type: string;
  code?: number;
  data: Buffer;
}

/** Distinct bytes for each message, so a mix-up cannot go unnoticed. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7 + (i >> 9)) & 0xff;
  return b;
}

/**
 * What the server sends: binary messages around each length boundary and of
 * several MiB, text, fragmented messages with control frames between the
 * fragments, and a close with code and reason.
 */
async function script(ws: WebSocket): Promise<void> {
  const send = (data: Buffer | string, opts: { fin?: boolean; binary?: boolean } = {}) =>
    new Promise<void>((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
  let seed = 0;
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 65537, 3 * MiB, 5 * MiB + 3]) await send(bytes(n, seed++));
  await send('text ✓ ünïcödé');
  await send(bytes(1000, seed++), { fin: false });
  ws.ping(Buffer.from('between fragments'));
  await send(bytes(70000, seed++), { fin: false });
  ws.pong(Buffer.from('unsolicited'));
  await send(Buffer.alloc(0), { fin: false });
  await send(bytes(10, seed++), { fin: true });
  await send('fragmented ', { fin: false });
  ws.ping(Buffer.alloc(125, 0x70));
  await send('text €', { fin: true });
  await send(bytes(MiB, seed++), { fin: false });
  await send(bytes(MiB, seed++), { fin: false });
  await send(bytes(MiB, seed++), { fin: true });
  ws.ping();
  for (let i = 0; i < 200; i++) await send(bytes(100 + i, seed++));
  ws.close(4001, 'done: äöü');
}

/** The events as `ws` reports them. */
async function viaWs(url: string, ca: Buffer): Promise<Seen[]> {
  const seen: Seen[] = [];
  const ws = new WebSocket(url, { perMessageDeflate: false, ca, maxPayload: 64 * MiB });
  ws.on('message', (data: Buffer, isBinary) => seen.push({ type: isBinary ? 'binary' : 'text', data }));
  ws.on('ping', (data) => seen.push({ type: 'ping', data }));
  ws.on('pong', (data) => seen.push({ type: 'pong', data }));
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  seen.push({ type: 'close', code, data: reason });
  return seen;
}

/** Tiny deterministic PRNG for the chunk sizes. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** The events as the native parser reports them from the raw socket's bytes. */
async function viaNative(url: string, ca: Buffer, seed: number): Promise<{ seen: Seen[]; chunks: number }> {
  const rs = await openRelaySocket(url, { handshakeTimeoutMs: 5000, tls: { ca } });
  const parser = new addon.WebSocketParser(16 * MiB);
  const seen: Seen[] = [];
  const random = rng(seed);
  let chunks = 0;
  const feed = (buf: Buffer) => {
    // Re-cut what the socket delivers: single bytes, small and large pieces.
    for (let i = 0; i < buf.length; ) {
      const r = random();
      const n = r < 0.2 ? 1 : r < 0.6 ? 1 + Math.floor(random() * 200) : 1 + Math.floor(random() * 100_000);
      const events: WebSocketEvent[] = parser.feed(buf.subarray(i, i + n));
      chunks++;
      i += n;
      for (const e of events) {
        assert.notEqual(e.type, 'error', e.data.toString());
        seen.push('code' in e ? { type: e.type, code: e.code, data: e.data } : { type: e.type, data: e.data });
        if (e.type === 'close') {
          rs.close(e.code === 1005 ? undefined : e.code);
          rs.socket.end();
        }
      }
    }
  };
  rs.socket.on('error', () => {});
  feed(rs.head);
  rs.read(feed);
  rs.socket.resume();
  await once(rs.socket, 'close');
  return { seen, chunks };
}

for (const secure of [false, true]) {
  describe(`native WebSocket parser against ws, over ${secure ? 'TLS' : 'TCP'}`, () => {
    let cert: TestCert;
    let server: http.Server | https.Server;
    let wss: WebSocketServer;
    let url: string;

    before(async () => {
      cert = selfSignedCert();
      server = secure ? https.createServer({ key: cert.key, cert: cert.cert }) : http.createServer();
      wss = new WebSocketServer({ server, perMessageDeflate: false });
      wss.on('connection', (ws) => {
        ws.on('error', () => {});
        void script(ws).catch(() => ws.terminate());
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      url = `${secure ? 'wss' : 'ws'}://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });
    after(async () => {
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('the same messages and control frames, in the same order', async () => {
      const [expected, native] = await Promise.all([viaWs(url, cert.cert), viaNative(url, cert.cert, secure ? 7 : 42)]);
      // The script arrived whole, so the comparison means something.
      // 10 binary, text, (ping, pong, binary), (ping, text), 3 MiB binary, ping, 200 binary, close.
      assert.equal(expected.length, 10 + 1 + 3 + 2 + 1 + 1 + 200 + 1);
      assert.deepEqual(
        expected.slice(0, 10).map((e) => e.data.length),
        [0, 1, 125, 126, 127, 65535, 65536, 65537, 3 * MiB, 5 * MiB + 3],
      );
      assert.deepEqual(expected.at(-1), { type: 'close', code: 4001, data: Buffer.from('done: äöü') });
      assert.ok(native.chunks > 500, `only ${native.chunks} chunks`);
      assert.equal(native.seen.length, expected.length);
      for (let i = 0; i < expected.length; i++) {
        const e = expected[i]!;
        const n = native.seen[i]!;
        assert.equal(n.type, e.type, `event ${i}`);
        assert.equal(n.code, e.code, `event ${i}`);
        assert.ok(n.data.equals(e.data), `event ${i} (${e.type}): ${n.data.length} bytes, ws saw ${e.data.length}`);
      }
    });
  });
}

test('the native parser reports protocol errors once and then nothing', () => {
  const parser = new addon.WebSocketParser(1000);
  assert.deepEqual(parser.feed(Buffer.from([0x82, 0x01, 0x61, 0x82, 0x81, 0, 0, 0, 0, 0x62])), [
    { type: 'binary', data: Buffer.from('a') },
    { type: 'error', code: 1002, data: Buffer.from('masked frame: a server must not mask its frames') },
  ]);
  assert.deepEqual(parser.feed(Buffer.from([0x82, 0x00])), []);
  const small = new addon.WebSocketParser(1000);
  assert.deepEqual(small.feed(Buffer.from([0x82, 0x7e, 0x03, 0xe9])), [
    { type: 'error', code: 1009, data: Buffer.from('message larger than the 1000-byte limit (at least 1001 bytes)') },
  ]);
  assert.throws(() => small.feed('text' as unknown as Uint8Array), /feed\(\) takes a Buffer or Uint8Array/);
});
