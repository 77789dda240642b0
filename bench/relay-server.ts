/**
 * A relay fast enough not to be the bottleneck: the capture's frames are
 * encoded as WebSocket messages once, into one buffer, and written to the
 * socket in large slices after a minimal handshake. Every subject of the
 * benchmark is served by the same code.
 *
 *   node dist/bench/relay-server.js <capture> [--rate <frames/s>] [--drop-slow-ms <ms>] [--tls <dir>]
 *
 * --tls serves wss:// with <dir>/key.pem and <dir>/cert.pem, as the live
 * network is TLS.
 *
 * prints {"event":"listening","port"} and then {"event":"connected","at"}
 * and {"event":"sent","at","frames"} per connection, as JSON lines, and
 * {"event":"dropped","at"} for each consumer dropped as too slow.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCapture } from '../src/capture.js';
import { encodeFrame } from '../test/support/dag.js';
import { seqOf } from './corpus.js';

export interface BenchRelayOptions {
  frames: Buffer[];
  /** Frames per second; 0 or absent: as fast as the socket takes them. */
  rate?: number;
  onConnected?: (at: number) => void;
  /** Paced mode only: called just before each frame is written. */
  onSend?: (seq: number, at: number) => void;
  onSent?: (at: number, frames: number) => void;
  /**
   * As fast as possible only: a consumer that has not read what the socket
   * holds within this many ms is dropped, as public relays drop slow
   * consumers: a ConsumerTooSlow error frame, then the socket is ended.
   */
  dropSlowMs?: number;
  onDropped?: (at: number) => void;
  /** Serve wss:// with this key and certificate. */
  tls?: { key: Buffer; cert: Buffer };
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const TOO_SLOW = (() => {
  const frame = encodeFrame({ op: -1 }, { error: 'ConsumerTooSlow', message: 'the bench relay dropped a consumer that stopped reading' });
  return Buffer.concat([wsHeader(frame.length), frame]);
})();

function wsHeader(len: number): Buffer {
  if (len < 126) return Buffer.from([0x82, len]);
  if (len < 65536) {
    const h = Buffer.alloc(4);
    h[0] = 0x82;
    h[1] = 126;
    h.writeUInt16BE(len, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = 0x82;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

/** Answers the client's pings and closes; the client only sends those. */
function readClientFrames(socket: Duplex): void {
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 6) {
      const opcode = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
      buf = buf.subarray(off + 4 + len);
      if (opcode === 0x9) socket.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload]));
      if (opcode === 0x8) socket.end(Buffer.from([0x88, 0]));
    }
  });
}

export function startBenchRelay(opts: BenchRelayOptions, port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const seqs = opts.frames.map((f) => seqOf(f) ?? 0);
  const wire = Buffer.concat(opts.frames.flatMap((f) => [wsHeader(f.length), f]));
  const offsets: number[] = [];
  let at = 0;
  for (const f of opts.frames) {
    offsets.push(at);
    at += wsHeader(f.length).length + f.length;
  }
  offsets.push(at);
  const sockets = new Set<Duplex>();
  const refuse = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(426).end();
  const server = opts.tls ? https.createServer(opts.tls, refuse) : http.createServer(refuse);
  server.on('upgrade', (req, socket: Duplex) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const accept = crypto.createHash('sha1').update(`${req.headers['sec-websocket-key']}${GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    readClientFrames(socket);
    opts.onConnected?.(Date.now());
    const cursor = new URL(req.url ?? '/', 'http://relay').searchParams.get('cursor');
    let i = cursor === null ? 0 : seqs.findIndex((s) => s > Number(cursor));
    if (i < 0) i = opts.frames.length;
    const first = i;
    const finish = () => opts.onSent?.(Date.now(), opts.frames.length - first);
    if (opts.rate) {
      const interval = 1000 / opts.rate;
      const start = performance.now();
      const tick = () => {
        if (socket.destroyed) return;
        // Catch up on the schedule, so timer jitter does not lower the rate.
        const due = first + Math.floor((performance.now() - start) / interval) + 1;
        while (i < due && i < opts.frames.length) {
          opts.onSend?.(seqs[i]!, performance.now());
          socket.write(wire.subarray(offsets[i]!, offsets[i + 1]!));
          i++;
        }
        if (i < opts.frames.length) setTimeout(tick, Math.max(0, interval / 2));
        else finish();
      };
      tick();
      return;
    }
    let pos = offsets[i]!;
    let dropped = false;
    const pump = () => {
      while (pos < wire.length && !socket.destroyed && !dropped) {
        const end = Math.min(wire.length, pos + (1 << 20));
        const more = socket.write(wire.subarray(pos, end));
        pos = end;
        if (!more) {
          const timer = opts.dropSlowMs
            ? setTimeout(() => {
                dropped = true;
                socket.end(TOO_SLOW);
                opts.onDropped?.(Date.now());
              }, opts.dropSlowMs)
            : undefined;
          socket.once('drain', () => {
            clearTimeout(timer);
            pump();
          });
          return;
        }
      }
      if (pos >= wire.length) finish();
    };
    pump();
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { rate: { type: 'string' }, 'drop-slow-ms': { type: 'string' }, tls: { type: 'string' } },
  });
  const dir = values.tls;
  const frames = readCapture(positionals[0]!).map((f) => f.bytes);
  const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  const relay = await startBenchRelay({
    frames,
    rate: values.rate ? Number(values.rate) : 0,
    onConnected: (at) => say({ event: 'connected', at }),
    onSent: (at, n) => say({ event: 'sent', at, frames: n }),
    dropSlowMs: values['drop-slow-ms'] ? Number(values['drop-slow-ms']) : undefined,
    onDropped: (at) => say({ event: 'dropped', at }),
    tls: dir ? { key: fs.readFileSync(`${dir}/key.pem`), cert: fs.readFileSync(`${dir}/cert.pem`) } : undefined,
  });
  say({ event: 'listening', port: relay.port });
}
