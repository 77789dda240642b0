/**
 * The relay connection: one WebSocket to subscribeRepos at a time, resumed
 * from the durable cursor, kept alive with pings, dropped when it stalls,
 * paused when the writer's queue is full, and reconnected with backoff
 * (falling back to other relays when one keeps failing).
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { Backoff } from './backoff.js';
import type { ControlFrame } from './native.js';

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
   * pushed so far, so the service waits for the queue to be written first.
   */
  resumeCursor(index: number): Promise<string | null>;
  /** Hands a message on; false means pause until resume(). */
  push(frame: Buffer): boolean | ControlFrame;
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

export class RelayClient extends EventEmitter<RelayEvents> {
  private readonly backoff: Backoff;
  private ws: WebSocket | undefined;
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
  /** Counts connect() calls: only the newest goes on once the cursor is known. */
  private connectCalls = 0;
  private closedPromise: Promise<void> = Promise.resolve();

  /** Date.now() of the last message, on whichever connection. */
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
  /** True while reading is paused because the writer's queue is full. */
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
    if (this.pausedByWriter && this.ws) {
      this.pausedByWriter = false;
      this.resumedAt = Date.now();
      this.ws.resume();
    }
  }

  /** Drops the connection and connects again at once, from the cursor resumeCursor() gives. */
  restart(reason: string): void {
    if (this.stopped) return;
    this.reconnectOnResume = false;
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    if (!ws) {
      void this.connect();
      return;
    }
    this.endReason ??= { reason: 'resync', detail: reason };
    this.restartNow = true;
    ws.terminate();
  }

  /** Stops reading and reconnecting; resolves once the socket is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      // Retired: nothing it still holds reaches the writer, even if start()
      // comes before it has finished closing (a standby taking over).
      this.ws = undefined;
      this.connected = false;
      this.clearTimers();
      ws.pause();
      ws.close(1000, 'shutting down');
      const forced = setTimeout(() => ws.terminate(), 2000);
      return this.closedPromise.finally(() => clearTimeout(forced));
    }
    return Promise.resolve();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const call = ++this.connectCalls;
    let cursor: string | null;
    try {
      cursor = await this.handlers.resumeCursor(this.index);
    } catch {
      return; // the writer has stopped: the service is shutting down
    }
    // Stopped meanwhile, or superseded by a newer connect() (a restart): one connection at a time.
    if (this.stopped || call !== this.connectCalls) return;
    const base = this.url;
    const url = base + SUBSCRIBE_PATH + (cursor !== null ? `?cursor=${encodeURIComponent(cursor)}` : '');
    this.emit('connecting', base, cursor);
    this.endReason = undefined;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      // Above the protocol limit: an oversized message reaches the decoder,
      // which rejects it alone, instead of killing the connection forever.
      maxPayload: Math.max(4 * this.opts.maxMessageBytes, 32 << 20),
      handshakeTimeout: Math.min(this.opts.stallTimeoutMs, 30_000),
    });
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    this.pausedByWriter = false;
    this.closedPromise = new Promise((resolve) => ws.once('close', () => resolve()));

    ws.on('open', () => {
      this.connected = true;
      this.openedAt = Date.now();
      this.delivered = false;
      this.awaitingPong = false;
      this.startTimers(ws);
      this.emit('open', base, cursor);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(ws, data, isBinary));
    // A pong proves the connection, not the stream: only messages count as data.
    ws.on('pong', () => {
      this.awaitingPong = false;
    });
    ws.on('unexpected-response', (_req, res) => {
      this.end(ws, 'error', `relay answered HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim());
      ws.terminate();
    });
    ws.on('error', (err) => this.end(ws, 'error', err.message));
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.ws) return;
    this.lastMessageAt = Date.now();
    if (!isBinary) {
      this.emit('text-message');
      return;
    }
    const r = this.handlers.push(data);
    if (typeof r === 'boolean') {
      // Events flowing: this relay works, whatever happens to the socket later.
      if (!this.delivered) {
        this.delivered = true;
        this.backoff.reset();
        this.failures = 0;
      }
      if (!r) this.pause(ws);
      return;
    }
    if (r.full) this.pause(ws);
    if (r.frame === '#info') {
      this.emit('info', r.name, r.message);
      return;
    }
    this.emit('error-frame', r.name, r.message);
    // The relay closes after an error frame; remember why for the backoff.
    const reason: ReconnectReason =
      r.name === 'FutureCursor' ? 'future-cursor' : r.name === 'ConsumerTooSlow' ? 'consumer-too-slow' : 'error-frame';
    this.end(ws, reason, r.message ?? r.name);
    if (reason === 'consumer-too-slow') ws.close(1000);
  }

  private pause(ws: WebSocket): void {
    if (!this.pausedByWriter) {
      this.pausedByWriter = true;
      ws.pause();
    }
  }

  private startTimers(ws: WebSocket): void {
    this.clearTimers();
    this.timers.push(
      setInterval(() => {
        // While we hold the socket paused, silence is ours, not the relay's.
        if (this.pausedByWriter) return;
        if (this.awaitingPong) {
          this.end(ws, 'ping-timeout', `no pong within ${this.opts.pingIntervalMs} ms`);
          ws.terminate();
          return;
        }
        this.awaitingPong = true;
        ws.ping();
      }, this.opts.pingIntervalMs),
      setInterval(() => {
        if (this.pausedByWriter) return;
        // A new connection gets the whole timeout to start talking.
        const silent = Date.now() - Math.max(this.lastMessageAt, this.resumedAt, this.openedAt);
        if (silent >= this.opts.stallTimeoutMs) {
          this.end(ws, 'stall', `no data for ${silent} ms`);
          ws.terminate();
        }
      }, Math.min(1000, this.opts.stallTimeoutMs / 4)),
    );
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  /** Records the first reason a connection ended; later ones are consequences. */
  private end(ws: WebSocket, reason: ReconnectReason, detail: string): void {
    if (ws === this.ws && !this.endReason) this.endReason = { reason, detail };
  }

  private onClose(ws: WebSocket, code: number, text: string): void {
    if (ws !== this.ws) return;
    this.clearTimers();
    this.connected = false;
    this.ws = undefined;
    if (this.stopped) return;
    const end = this.endReason ?? { reason: 'closed' as const, detail: `relay closed the connection (${code}${text ? ` ${text}` : ''})` };
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
