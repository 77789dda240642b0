/**
 * The relay connection: one WebSocket to subscribeRepos at a time, resumed
 * from the durable cursor, kept alive with pings, dropped when it stalls,
 * paused when the writer cannot take more, and reconnected with backoff
 * (falling back to other relays when one keeps failing).
 *
 * TypeScript does the handshake, pings, close and timing (relay-socket.ts);
 * the socket's bytes go to the addon in whole chunks, which parses the
 * WebSocket framing and queues every message without a JavaScript value
 * per message. Only what is not a binary message comes back here.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Backoff } from './backoff.js';
import type { FeedEvent } from './native.js';
import { openRelaySocket, type RelaySocket } from './relay-socket.js';

export type ReconnectReason =
  | 'closed'
  | 'error'
  | 'stall'
  | 'ping-timeout'
  | 'future-cursor'
  | 'consumer-too-slow'
  | 'error-frame'
  | 'resync';

export interface RelayOptions {
  urls: string[];
  maxMessageBytes: number;
  stallTimeoutMs: number;
  pingIntervalMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Consecutive failed connections before moving to the next relay. */
  failuresBeforeSwitch?: number;
}

export interface RelayHandlers {
  /**
   * The cursor to resume relay `index` from. It must cover every frame
   * queued so far, so the service waits for the queue to be written first.
   */
  resumeCursor(index: number): Promise<string | null>;
  /** A new connection: its frames start. */
  openSocket(maxMessageBytes: number): void;
  /** Raw socket bytes; false or `full`: pause until resume(). */
  feed(chunk: Buffer): boolean | { full: boolean; messages: number; events: FeedEvent[] };
}

export interface RelayEvents {
  connecting: [url: string, cursor: string | null];
  open: [url: string, cursor: string | null];
  /** The connection ended; the next attempt starts in delayMs (-1: once the writer drains). */
  reconnect: [reason: ReconnectReason, delayMs: number, detail: string];
  'error-frame': [name: string, message: string | null];
  info: [name: string, message: string | null];
  /** Moved to another relay: its seq numbers are unrelated, events may be missed. */
  switch: [from: string, to: string];
  'text-message': [];
}

const SUBSCRIBE_PATH = '/xrpc/com.atproto.sync.subscribeRepos';
/** After our close frame, how long the relay gets to close the socket itself. */
const CLOSE_GRACE_MS = 2000;

/** One connection attempt and, once upgraded, its socket. */
interface Conn {
  rs?: RelaySocket;
  abort: AbortController;
  closed: Promise<void>;
  done: () => void;
}

export class RelayClient extends EventEmitter<RelayEvents> {
  private readonly backoff: Backoff;
  private conn: Conn | undefined;
  private index = 0;
  private failures = 0;
  private stopped = false;
  private pausedByWriter = false;
  private timers: NodeJS.Timeout[] = [];
  private reconnectTimer: NodeJS.Timeout | undefined;
  private endReason: { reason: ReconnectReason; detail: string } | undefined;
  private openedAt = 0;
  /** The connection delivered events: it counts as healthy. */
  private delivered = false;
  /** Closed while paused for the writer: reconnect once it drains. */
  private reconnectOnResume = false;
  private awaitingPong = false;
  private restartNow = false;

  /** Date.now() of the last bytes, on whichever connection. */
  private lastMessageAt = Date.now();
  /** When reading last resumed after a pause of ours: silence before it is not the relay's. */
  private resumedAt = 0;
  connected = false;
  /** Attempts since the last healthy connection. */
  get attempts(): number {
    return this.backoff.attempts;
  }
  get url(): string {
    return this.opts.urls[this.index]!;
  }
  /** True while reading is paused because the writer cannot take more. */
  get paused(): boolean {
    return this.pausedByWriter;
  }

  /**
   * How long the stream has been silent, across reconnections, leaving out
   * time we spent paused: a relay that accepts every connection but sends
   * nothing is still silent.
   */
  silentForMs(): number {
    return this.pausedByWriter ? 0 : Date.now() - Math.max(this.lastMessageAt, this.resumedAt);
  }

  constructor(
    private readonly opts: RelayOptions,
    private readonly handlers: RelayHandlers,
  ) {
    super();
    this.backoff = new Backoff(opts.reconnectMinMs, opts.reconnectMaxMs);
  }

  /** Connects (again, after stop()). */
  start(): void {
    this.stopped = false;
    this.reconnectOnResume = false;
    void this.connect();
  }

  /** Resumes reading after the writer drained (or reconnects, if the relay dropped us meanwhile). */
  resume(): void {
    if (this.reconnectOnResume) {
      this.reconnectOnResume = false;
      this.pausedByWriter = false;
      this.resumedAt = Date.now();
      void this.connect();
      return;
    }
    if (this.pausedByWriter && this.conn?.rs) {
      this.pausedByWriter = false;
      this.resumedAt = Date.now();
      this.conn.rs.socket.resume();
    }
  }

  /** Drops the connection and connects again at once, from the cursor resumeCursor() gives. */
  restart(reason: string): void {
    if (this.stopped) return;
    this.reconnectOnResume = false;
    clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    if (!conn?.rs) {
      conn?.abort.abort();
      void this.connect();
      return;
    }
    this.endReason ??= { reason: 'resync', detail: reason };
    this.restartNow = true;
    conn.rs.socket.destroy();
  }

  /** Stops reading and reconnecting; resolves once the socket is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const conn = this.conn;
    // Not connected yet: the attempt sees `stopped` and gives up by itself.
    if (!conn?.rs) {
      conn?.abort.abort();
      return Promise.resolve();
    }
    const rs = conn.rs;
    // Retired at once: nothing it still holds reaches the writer, even if
    // start() comes before it has finished closing (a standby taking over).
    this.conn = undefined;
    this.connected = false;
    this.clearTimers();
    if (!rs.socket.destroyed) {
      rs.socket.pause();
      rs.read(null);
      this.sendClose(rs, 1000, 'shutting down');
    }
    return conn.closed;
  }

  /** Our close frame, then the socket ends: at once if the relay agrees, by force after a grace period. */
  private sendClose(rs: RelaySocket, code: number | undefined, reason = ''): void {
    try {
      rs.close(code, reason);
    } catch {
      // A code the protocol does not let a client send: close without one.
      rs.close();
    }
    rs.socket.end();
    const forced = setTimeout(() => rs.socket.destroy(), CLOSE_GRACE_MS);
    rs.socket.once('close', () => clearTimeout(forced));
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let done!: () => void;
    const conn: Conn = { abort: new AbortController(), closed: new Promise((r) => (done = r)), done };
    this.conn = conn;
    let cursor: string | null;
    try {
      cursor = await this.handlers.resumeCursor(this.index);
    } catch {
      conn.done();
      return; // the writer has stopped: the service is shutting down
    }
    if (this.stopped || this.conn !== conn) {
      conn.done();
      return;
    }
    const base = this.url;
    const url = base + SUBSCRIBE_PATH + (cursor !== null ? `?cursor=${encodeURIComponent(cursor)}` : '');
    this.emit('connecting', base, cursor);
    this.endReason = undefined;
    this.pausedByWriter = false;
    let rs: RelaySocket;
    try {
      rs = await openRelaySocket(url, { handshakeTimeoutMs: Math.min(this.opts.stallTimeoutMs, 30_000), signal: conn.abort.signal });
    } catch (err) {
      if (this.conn !== conn || this.stopped) {
        conn.done();
        return;
      }
      this.end(conn, 'error', (err as Error).message);
      this.onClose(conn);
      return;
    }
    if (this.conn !== conn || this.stopped) {
      rs.socket.destroy();
      conn.done();
      return;
    }
    conn.rs = rs;
    const socket = rs.socket as Socket;
    socket.on('error', (err) => this.end(conn, 'error', err.message));
    socket.on('close', () => this.onClose(conn));
    this.handlers.openSocket(Math.max(4 * this.opts.maxMessageBytes, 32 << 20));
    this.connected = true;
    this.openedAt = Date.now();
    this.delivered = false;
    this.awaitingPong = false;
    this.startTimers(conn);
    this.emit('open', base, cursor);
    if (rs.head.length) this.onData(conn, rs.head);
    rs.read((chunk) => this.onData(conn, chunk));
    if (!this.pausedByWriter && this.conn === conn) rs.socket.resume();
  }

  private onData(conn: Conn, chunk: Buffer): void {
    const r = this.handlers.feed(chunk);
    // Pings and pongs prove the connection, not the stream: only messages
    // (or parts of one) count against the stall timeout.
    if (typeof r === 'boolean' || r.messages > 0 || r.events.some((e) => e.type !== 'ping' && e.type !== 'pong')) {
      this.lastMessageAt = Date.now();
    }
    if (typeof r === 'boolean') {
      // Events flowing: this relay works, whatever happens to the socket later.
      if (!this.delivered) {
        this.delivered = true;
        this.backoff.reset();
        this.failures = 0;
      }
      if (!r) this.pause(conn);
      return;
    }
    if (r.full) this.pause(conn);
    for (const e of r.events) this.onEvent(conn, e);
  }

  private onEvent(conn: Conn, e: FeedEvent): void {
    const rs = conn.rs!;
    switch (e.type) {
      case 'ping':
        rs.pong(e.data);
        break;
      case 'pong':
        // A pong proves the connection, not the stream: only data counts.
        this.awaitingPong = false;
        break;
      case 'text':
        this.emit('text-message');
        break;
      case 'close':
        this.end(conn, 'closed', `relay closed the connection (${e.code}${e.reason ? ` ${e.reason}` : ''})`);
        this.sendClose(rs, e.code === 1005 ? undefined : e.code);
        break;
      case 'error':
        this.end(conn, 'error', `relay broke the WebSocket protocol: ${e.message}`);
        this.sendClose(rs, e.code);
        break;
      case 'info':
        this.emit('info', e.name, e.message);
        break;
      case 'error-frame': {
        this.emit('error-frame', e.name, e.message);
        // The relay closes after an error frame; remember why for the backoff.
        const reason: ReconnectReason =
          e.name === 'FutureCursor' ? 'future-cursor' : e.name === 'ConsumerTooSlow' ? 'consumer-too-slow' : 'error-frame';
        this.end(conn, reason, e.message ?? e.name);
        if (reason === 'consumer-too-slow') this.sendClose(rs, 1000);
        break;
      }
    }
  }

  private pause(conn: Conn): void {
    if (!this.pausedByWriter) {
      this.pausedByWriter = true;
      conn.rs?.socket.pause();
    }
  }

  private startTimers(conn: Conn): void {
    this.clearTimers();
    const rs = conn.rs!;
    this.timers.push(
      setInterval(() => {
        // While we hold the socket paused, silence is ours, not the relay's.
        if (this.pausedByWriter) return;
        if (this.awaitingPong) {
          this.end(conn, 'ping-timeout', `no pong within ${this.opts.pingIntervalMs} ms`);
          rs.socket.destroy();
          return;
        }
        this.awaitingPong = true;
        rs.ping();
      }, this.opts.pingIntervalMs),
      setInterval(() => {
        if (this.pausedByWriter) return;
        // A new connection gets the whole timeout to start talking.
        const silent = Date.now() - Math.max(this.lastMessageAt, this.resumedAt, this.openedAt);
        if (silent >= this.opts.stallTimeoutMs) {
          this.end(conn, 'stall', `no data for ${silent} ms`);
          rs.socket.destroy();
        }
      }, Math.min(1000, this.opts.stallTimeoutMs / 4)),
    );
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  /** Records the first reason a connection ended; later ones are consequences. */
  private end(conn: Conn, reason: ReconnectReason, detail: string): void {
    if (conn === this.conn && !this.endReason) this.endReason = { reason, detail };
  }

  private onClose(conn: Conn): void {
    conn.done();
    if (conn !== this.conn) return;
    this.clearTimers();
    this.connected = false;
    this.conn = undefined;
    if (this.stopped) return;
    const end = this.endReason ?? { reason: 'closed' as const, detail: 'relay closed the connection' };
    this.openedAt = 0;
    if (!this.delivered) this.failures++;
    if (this.restartNow) {
      this.restartNow = false;
      this.emit('reconnect', end.reason, 0, end.detail);
      void this.connect();
      return;
    }
    // Waiting for the writer (consumers behind, Redis down): reconnecting
    // now would only be dropped again as too slow. Come back once it drains.
    if (this.pausedByWriter) {
      this.reconnectOnResume = true;
      this.emit('reconnect', end.reason, -1, end.detail);
      return;
    }
    // A cursor from the future will not become valid soon: never retry fast.
    const delay = end.reason === 'future-cursor' ? this.backoff.max() : this.backoff.next();
    this.emit('reconnect', end.reason, delay, end.detail);
    this.reconnectTimer = setTimeout(() => {
      this.maybeSwitch();
      void this.connect();
    }, delay);
  }

  private maybeSwitch(): void {
    const limit = this.opts.failuresBeforeSwitch ?? 3;
    if (this.opts.urls.length < 2 || this.failures < limit) return;
    const from = this.url;
    this.index = (this.index + 1) % this.opts.urls.length;
    this.failures = 0;
    this.backoff.reset();
    this.emit('switch', from, this.url);
  }
}
