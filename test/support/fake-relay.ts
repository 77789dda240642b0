/**
 * A relay for tests: a ws server speaking subscribeRepos on a free loopback
 * port. It serves a list of frames with known seqs, honours ?cursor=, and
 * can misbehave on request: drop connections, go silent, ignore pings,
 * send error or #info frames, drop consumers that read too slowly.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFrame } from './dag.js';

export interface RelayFrame {
  seq: number;
  bytes: Buffer;
}

/** What one connection asked for, in arrival order. */
export interface RelayConnection {
  index: number;
  /** The ?cursor= the client sent, or null when it asked for live. */
  cursor: string | null;
  path: string;
  at: number;
  ws: WebSocket;
  /** Frames sent on this connection. */
  sent: number;
  /** Closed with ConsumerTooSlow (tooSlowBytes). */
  tooSlow: boolean;
}

export interface FakeRelayOptions {
  /** Pause between frames; 0 sends as fast as the socket drains. */
  intervalMs?: number;
  /** Frames sent back to back before each pause (default 1, with tooSlowBytes 50): a steady rate above 1000/s. */
  burst?: number;
  /** Close each connection (code 1011) after sending this many frames. */
  dropEvery?: number;
  /** Stop sending, but stay connected, after this many frames per connection. */
  silentAfter?: number;
  /** Answer pings (default true); false looks like a dead TCP peer. */
  answerPings?: boolean;
  /**
   * Drop slow consumers, as bsky.network does: frames go out as they are
   * due (`burst` every `intervalMs`), without waiting for the client to read
   * them, and once more than this many bytes wait in the connection's send
   * buffer, the relay sends a ConsumerTooSlow error frame and closes.
   */
  tooSlowBytes?: number;
  /**
   * Takes over a connection instead of the default serving; return to let
   * the default serving go on, or do everything yourself and close.
   */
  script?: (conn: RelayConnection, relay: FakeRelay) => Promise<'serve' | 'done'>;
}

export function errorFrame(error: string, message?: string): Buffer {
  return encodeFrame({ op: -1 }, message === undefined ? { error } : { error, message });
}

export function infoFrame(name: string, message?: string): Buffer {
  return encodeFrame({ op: 1, t: '#info' }, message === undefined ? { name } : { name, message });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeRelay {
  readonly connections: RelayConnection[] = [];
  private readonly wss: WebSocketServer;
  private closed = false;

  private constructor(
    public frames: RelayFrame[],
    public opts: FakeRelayOptions,
    port: number,
  ) {
    this.wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false, autoPong: opts.answerPings ?? true });
    this.wss.on('connection', (ws, req) => void this.onConnection(ws, req.url ?? '/'));
  }

  static async start(frames: RelayFrame[], opts: FakeRelayOptions = {}, port = 0): Promise<FakeRelay> {
    const relay = new FakeRelay(frames, opts, port);
    await new Promise<void>((resolve, reject) => {
      relay.wss.once('listening', resolve);
      relay.wss.once('error', reject);
    });
    return relay;
  }

  get port(): number {
    return (this.wss.address() as AddressInfo).port;
  }

  /** RELAY_URL for the service. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  private async onConnection(ws: WebSocket, url: string): Promise<void> {
    const u = new URL(url, 'http://relay');
    const conn: RelayConnection = {
      index: this.connections.length,
      cursor: u.searchParams.get('cursor'),
      path: u.pathname,
      at: Date.now(),
      ws,
      sent: 0,
      tooSlow: false,
    };
    this.connections.push(conn);
    ws.on('error', () => {});
    if (u.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') {
      ws.close(1008, 'unknown method');
      return;
    }
    if (this.opts.script && (await this.opts.script(conn, this)) === 'done') return;
    await this.serve(conn);
  }

  /** Sends the frames after the connection's cursor, with the configured misbehaviour. */
  async serve(conn: RelayConnection): Promise<void> {
    const { ws } = conn;
    const after = conn.cursor === null ? -Infinity : Number(conn.cursor);
    let i = this.frames.findIndex((f) => f.seq > after);
    if (i < 0) i = this.frames.length;
    if (this.opts.tooSlowBytes !== undefined) return this.serveLive(conn, i);
    while (!this.closed && ws.readyState === ws.OPEN) {
      if (this.opts.dropEvery && conn.sent >= this.opts.dropEvery) {
        ws.close(1011, 'dropped by the test relay');
        return;
      }
      if ((this.opts.silentAfter !== undefined && conn.sent >= this.opts.silentAfter) || i >= this.frames.length) {
        // Out of frames (or told to hush): stay connected, send nothing.
        await sleep(20);
        continue;
      }
      await this.send(conn, this.frames[i++]!.bytes);
      if (this.opts.intervalMs && conn.sent % (this.opts.burst ?? 1) === 0) await sleep(this.opts.intervalMs);
    }
  }

  /** tooSlowBytes: frames go out on the relay's schedule; a client that falls behind is dropped. */
  private async serveLive(conn: RelayConnection, from: number): Promise<void> {
    const { ws } = conn;
    const burst = this.opts.burst ?? 50;
    let i = from;
    while (!this.closed && ws.readyState === ws.OPEN) {
      if (ws.bufferedAmount > this.opts.tooSlowBytes!) {
        conn.tooSlow = true;
        ws.send(errorFrame('ConsumerTooSlow', `more than ${this.opts.tooSlowBytes} bytes waiting`), { binary: true });
        ws.close(1008, 'consumer too slow');
        return;
      }
      for (let n = 0; n < burst && i < this.frames.length; n++, i++) {
        conn.sent++;
        ws.send(this.frames[i]!.bytes, { binary: true });
      }
      await sleep(this.opts.intervalMs ?? 1);
    }
  }

  /** One message, resolved once ws has handed it to the socket. */
  send(conn: RelayConnection, bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      conn.sent++;
      conn.ws.send(bytes, { binary: true }, () => resolve());
    });
  }

  /** Adds frames at the live end, as a relay does when new events happen. */
  append(frames: RelayFrame[]): void {
    this.frames.push(...frames);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
