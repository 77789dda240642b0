/**
 * The handshake and client frames of src/relay-socket.ts against a `ws`
 * server (plain and TLS), and against servers that refuse, lie or say
 * nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientFrame, HandshakeError, openRelaySocket, RelaySocket } from '../src/relay-socket.js';
import { selfSignedCert, type TestCert } from './support/tls-cert.js';

const port = (s: net.Server) => (s.address() as AddressInfo).port;

/** Reads one server-side view of a client frame back: FIN, opcode, mask bit, payload. */
function unmask(frame: Buffer): { fin: boolean; opcode: number; masked: boolean; payload: Buffer } {
  let n = frame[1]! & 0x7f;
  let at = 2;
  if (n === 126) {
    n = frame.readUInt16BE(2);
    at = 4;
  } else if (n === 127) {
    n = Number(frame.readBigUInt64BE(2));
    at = 10;
  }
  const mask = frame.subarray(at, at + 4);
  const payload = Buffer.from(frame.subarray(at + 4));
  assert.equal(payload.length, n);
  for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
  return { fin: (frame[0]! & 0x80) !== 0, opcode: frame[0]! & 0x0f, masked: (frame[1]! & 0x80) !== 0, payload };
}

/** A raw TCP server that answers each connection with `reply` (or nothing). */
async function rawServer(reply: ((request: string) => string | Buffer) | null): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    let request = '';
    socket.on('data', (d) => {
      request += d.toString('latin1');
      if (reply && request.includes('\r\n\r\n')) socket.write(reply(request));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function acceptFor(request: string): string {
  const key = /sec-websocket-key: *(\S+)/i.exec(request)![1]!;
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** Closes a server and every connection still open on it. */
async function shut(server: net.Server | http.Server): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('client frames', () => {
  test('are masked, final, and carry the payload in the shortest length form', () => {
    for (const n of [0, 1, 125, 126, 65535, 65536]) {
      const payload = Buffer.alloc(n, 0x5a);
      const frame = clientFrame(0x2, payload);
      assert.equal(frame.length, (n < 126 ? 2 : n <= 0xffff ? 4 : 10) + 4 + n);
      const f = unmask(frame);
      assert.deepEqual([f.fin, f.opcode, f.masked], [true, 2, true]);
      assert.ok(f.payload.equals(payload));
    }
    // A fresh key per frame.
    const masks = new Set([0, 1, 2, 3, 4, 5, 6, 7].map(() => clientFrame(0x9, Buffer.from('x')).subarray(2, 6).toString('hex')));
    assert.ok(masks.size > 1);
  });

  test('control payloads and close arguments are checked', () => {
    assert.throws(() => clientFrame(0x9, Buffer.alloc(126)), /control frame payload of 126 bytes: at most 125 allowed/);
    const rs = new RelaySocket(new net.Socket(), Buffer.alloc(0));
    assert.throws(() => rs.close(1005), /close code 1005 may not be sent/);
    assert.throws(() => rs.close(999), /close code 999 may not be sent/);
    assert.throws(() => rs.close(1000, 'é'.repeat(62)), /close reason of 124 bytes: at most 123/);
    assert.throws(() => rs.close(undefined, 'why'), /a close reason needs a close code/);
  });
});

for (const secure of [false, true]) {
  describe(`handshake with a ws server over ${secure ? 'TLS' : 'TCP'}`, () => {
    let cert: TestCert;
    let server: http.Server | https.Server;
    let wss: WebSocketServer;
    let url: string;
    const requests: http.IncomingMessage[] = [];
    const peers: WebSocket[] = [];

    before(async () => {
      cert = selfSignedCert();
      server = secure ? https.createServer({ key: cert.key, cert: cert.cert }) : http.createServer();
      wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
      wss.on('connection', (ws, req) => {
        requests.push(req);
        peers.push(ws);
        // Sent before the client reads anything: it may arrive with the 101.
        ws.send(Buffer.from('first'));
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      url = `${secure ? 'wss' : 'ws'}://127.0.0.1:${port(server)}/xrpc/com.atproto.sync.subscribeRepos?cursor=42`;
    });
    after(async () => {
      wss.close();
      await shut(server);
    });

    test('upgrades, offers no extension, and frames go both ways', async () => {
      const rs = await openRelaySocket(url, { handshakeTimeoutMs: 5000, tls: { ca: cert.cert }, headers: { 'User-Agent': 'firehose-redis-test' } });
      rs.socket.on('error', () => {});
      const req = requests.at(-1)!;
      const peer = peers.at(-1)!;
      assert.equal(req.url, '/xrpc/com.atproto.sync.subscribeRepos?cursor=42');
      assert.equal(req.headers['sec-websocket-version'], '13');
      assert.equal(req.headers['sec-websocket-extensions'], undefined);
      assert.equal(req.headers['user-agent'], 'firehose-redis-test');
      assert.equal(secure, 'encrypted' in rs.socket);

      // The server's first message, whether it came with the 101 or after.
      let received = rs.head;
      const first = new Promise<void>((resolve) => {
        // Chunks are views of a buffer that the next read reuses: copied by concat.
        rs.read((d) => {
          received = Buffer.concat([received, d]);
          if (received.length >= 7) resolve();
        });
      });
      // Keeps reading, so that the server's closing FIN is seen too.
      rs.socket.resume();
      if (received.length < 7) await first;
      assert.equal(received.toString('latin1'), '\x82\x05first');

      // ws checks that client frames are masked: it would close with 1002.
      const pinged = once(peer, 'ping');
      rs.ping(Buffer.from('are you there'));
      assert.equal(String((await pinged)[0]), 'are you there');
      const ponged = once(peer, 'pong');
      rs.pong(Buffer.from('echo'));
      assert.equal(String((await ponged)[0]), 'echo');
      const closed = once(peer, 'close');
      rs.close(4000, 'done ✓');
      const [code, reason] = (await closed) as [number, Buffer];
      assert.equal(code, 4000);
      assert.equal(reason.toString(), 'done ✓');
      rs.socket.destroy();
    });

    test('a close without a status code', async () => {
      const rs = await openRelaySocket(url, { handshakeTimeoutMs: 5000, tls: { ca: cert.cert } });
      rs.socket.on('error', () => {});
      rs.read(null);
      rs.socket.resume();
      const closed = once(peers.at(-1)!, 'close');
      rs.close();
      assert.deepEqual((await closed)[0], 1005);
      rs.socket.destroy();
    });

    if (secure) {
      test('an untrusted certificate is refused, with the reason', async () => {
        await assert.rejects(
          openRelaySocket(url, { handshakeTimeoutMs: 5000 }),
          (e: unknown) => e instanceof HandshakeError && /^cannot reach wss:\/\/127\.0\.0\.1:\d+: self[- ]signed certificate/.test(e.message),
        );
      });
    }
  });
}

describe('handshake failures', () => {
  const servers: net.Server[] = [];
  after(async () => {
    for (const s of servers) await shut(s);
  });
  const serve = async (reply: ((request: string) => string | Buffer) | null) => {
    const s = await rawServer(reply);
    servers.push(s);
    return `ws://127.0.0.1:${port(s)}/`;
  };
  const rejects = (url: string, pattern: RegExp, status?: number, timeoutMs = 5000) =>
    assert.rejects(openRelaySocket(url, { handshakeTimeoutMs: timeoutMs }), (e: unknown) => {
      assert.ok(e instanceof HandshakeError, String(e));
      assert.match(e.message, pattern);
      assert.equal(e.status, status);
      return true;
    });

  test('a 4xx answer: status and body excerpt', async () => {
    const body = `{"error":"RateLimitExceeded",\n  "message":"too many connections"}${' padding'.repeat(100)}`;
    const url = await serve(() => `HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await rejects(
      url,
      /^ws:\/\/127\.0\.0\.1:\d+ answered HTTP 429 Too Many Requests instead of upgrading to WebSocket: \{"error":"RateLimitExceeded", "message":"too many connections"\} padding.{100,}\.\.\.$/,
      429,
    );
    const empty = await serve(() => 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    await rejects(empty, / answered HTTP 404 Not Found instead of upgrading to WebSocket \(empty body\)$/, 404);
  });

  test('a server that never answers: the handshake times out', async () => {
    const url = await serve(null);
    const t0 = Date.now();
    await rejects(url, /^ws:\/\/127\.0\.0\.1:\d+ did not complete the WebSocket handshake within 200 ms$/, undefined, 200);
    const took = Date.now() - t0;
    assert.ok(took >= 190 && took < 2000, `took ${took} ms`);
  });

  test('a wrong Sec-WebSocket-Accept, an extension, a subprotocol, another protocol', async () => {
    const upgrade = (extra: string, accept?: string) => (req: string) =>
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept ?? acceptFor(req)}\r\n${extra}\r\n`;
    await rejects(await serve(upgrade('', 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=')), /answered with a wrong Sec-WebSocket-Accept/);
    await rejects(await serve(upgrade('Sec-WebSocket-Extensions: permessage-deflate\r\n')), /enabled extensions it was not offered \(permessage-deflate\)$/);
    await rejects(await serve(upgrade('Sec-WebSocket-Protocol: chat\r\n')), /picked a subprotocol it was not offered \(chat\)$/);
    await rejects(
      await serve((req) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(req)}\r\n\r\n`),
      /upgraded to "h2c", not to websocket$/,
    );
    await rejects(await serve(() => 'HTTP/1.1 101 Switching Protocols\r\n\r\n'), /answered 101 without the Upgrade and Connection headers/);
  });

  test('bytes sent with the 101 come back as head', async () => {
    const frames = Buffer.from([0x82, 0x03, 1, 2, 3, 0x89, 0x00]);
    const url = await serve((req) =>
      Buffer.concat([
        Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(req)}\r\n\r\n`),
        frames,
      ]),
    );
    const rs = await openRelaySocket(url, { handshakeTimeoutMs: 5000 });
    assert.ok(rs.head.equals(frames));
    rs.socket.destroy();
  });

  test('refused connections, bad URLs and aborts', async () => {
    const s = await rawServer(null);
    const closed = `ws://127.0.0.1:${port(s)}/`;
    await shut(s);
    await rejects(closed, /^cannot reach ws:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    await rejects('http://example.com/', /^http:\/\/example\.com\/: only ws:\/\/ and wss:\/\/ URLs can be opened as a WebSocket$/);
    await rejects('not a url', /^not a url is not a URL/);
    const url = await serve(null);
    const ac = new AbortController();
    const p = openRelaySocket(url, { handshakeTimeoutMs: 5000, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(p, /^HandshakeError: handshake with ws:\/\/127\.0\.0\.1:\d+ aborted$/);
  });
});
