/**
 * The service: relay → ingester → Redis, with health, metrics, progress
 * logs and an orderly shutdown. Everything it does is driven by events from
 * the relay client and the native writer.
 */
import { cursorKeyFor, type Config } from './config.js';
import { FirehoseError, ErrorCodes } from './errors.js';
import { HttpServer, type Health } from './http.js';
import { Ingester, type BatchReport } from './ingester.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { redactRedisUrl } from './redis-url.js';
import { RelayClient } from './relay.js';

const PROGRESS_EVERY_MS = 10_000;
const PROGRESS_EVERY_EVENTS = 10_000;
/** Per kind of problem, at most this many detailed log lines per window. */
const DETAIL_LINES = 20;
const DETAIL_WINDOW_MS = 10_000;

/** Keeps noisy warnings readable: details up to a limit, then a count. */
class Throttle {
  private windowStart = 0;
  private shown = 0;
  private hidden = 0;

  constructor(private readonly log: Logger, private readonly what: string) {}

  warn(obj: object, msg: string): void {
    const now = Date.now();
    if (now - this.windowStart >= DETAIL_WINDOW_MS) {
      if (this.hidden) this.log.warn({ suppressed: this.hidden }, `${this.hidden} more ${this.what} not shown`);
      this.windowStart = now;
      this.shown = 0;
      this.hidden = 0;
    }
    if (this.shown++ < DETAIL_LINES) this.log.warn(obj, msg);
    else this.hidden++;
  }
}

export class Service {
  readonly ingester: Ingester;
  readonly relay: RelayClient;
  readonly metrics: Metrics;
  private http: HttpServer | undefined;
  private httpPort: number | undefined;
  private durable: string | null = null;
  private redisProblem: string | null = 'waiting for Redis';
  private disconnectedSince = Date.now();
  private lastEventTime: number | undefined;
  private totalEvents = 0;
  private progressEvents = 0;
  private progressAt = Date.now();
  private progressTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<number> | undefined;
  private failure: FirehoseError | undefined;
  private readonly skippedLog: Throttle;
  private readonly invalidLog: Throttle;
  private readonly unknownTypes = new Set<string>();
  private textWarned = false;

  constructor(private readonly config: Config, private readonly log: Logger) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.skippedLog = new Throttle(log, 'skipped ops');
    this.invalidLog = new Throttle(log, 'undecodable frames');
    this.ingester = new Ingester(config);
    this.metrics = new Metrics(() => this.ingester.stats());
    this.relay = new RelayClient(
      {
        urls: config.relayUrls,
        maxMessageBytes: config.maxMessageBytes,
        stallTimeoutMs: config.stallTimeoutMs,
        pingIntervalMs: config.pingIntervalMs,
        reconnectMinMs: config.reconnectMinMs,
        reconnectMaxMs: config.reconnectMaxMs,
      },
      {
        resumeCursor: (index) => this.resumeCursor(index),
        push: (frame) => this.ingester.push(frame),
      },
    );
    this.wireIngester();
    this.wireRelay();
  }

  /** Starts HTTP, then the relay once Redis has told us where to resume. */
  async start(): Promise<void> {
    const c = this.config;
    const redis = redactRedisUrl(c.redisUrl);
    const collections = c.collections.length ? c.collections : 'all';
    // Everything in the message too: pretty output shows only the message.
    this.log.info(
      { relays: c.relayUrls, redis, stream: c.streamKey, cursorKey: c.cursorKey, maxStreamLen: c.maxStreamLen, collections },
      `firehose-redis starting: ${c.relayUrls.join(', ')} into ${redis}, stream ${c.streamKey} ` +
        `(MAXLEN ~ ${c.maxStreamLen}), cursor key ${c.cursorKey}, collections: ${String(collections)}`,
    );
    if (c.httpPort !== 0) {
      this.http = new HttpServer({
        health: () => this.health(),
        metrics: async () => ({ contentType: this.metrics.registry.contentType, body: await this.metrics.registry.metrics() }),
      });
      try {
        this.httpPort = await this.http.listen(c.httpPort, c.httpHost);
      } catch (err) {
        // The writer thread keeps the process alive: stop it, or the process hangs.
        await this.ingester.close(0);
        throw new FirehoseError(
          `HTTP_PORT ${c.httpPort} on ${c.httpHost} is unavailable (${(err as Error).message}): choose another port, or 0 to turn HTTP off`,
          ErrorCodes.CONFIG,
        );
      }
      this.log.info({ port: this.httpPort }, `health on http://${c.httpHost}:${this.httpPort}/healthz, metrics on /metrics`);
    }
    this.progressTimer = setInterval(() => this.progress(), PROGRESS_EVERY_MS);
    this.relay.start();
  }

  /** The port HTTP listens on (useful with HTTP_PORT chosen by the OS). */
  get port(): number | undefined {
    return this.httpPort;
  }

  /** Flushes and stops; resolves with the process exit code. */
  stop(why: string): Promise<number> {
    this.stopping ??= this.shutdown(why);
    return this.stopping;
  }

  /** Resolves with the exit code once the service has stopped, for whatever reason. */
  readonly done: Promise<number>;
  private resolveDone: (code: number) => void = () => {};

  private async shutdown(why: string): Promise<number> {
    const deadline = Date.now() + this.config.shutdownTimeoutMs;
    this.log.info({ reason: why }, `shutting down (${why}): no more reading from the relay; flushing the queue`);
    clearInterval(this.progressTimer);
    await this.relay.stop();
    this.ingester.setStatus(false, this.relay.url);
    const res = await this.ingester.close(Math.max(0, deadline - Date.now()));
    this.progress(true);
    const cursor = this.durable ?? 'none';
    if (res.pendingFrames === 0 && this.redisProblem) {
      // Nothing received is lost: Redis being down now is no reason to fail.
      this.log.info({ cursor: this.durable }, `stopped cleanly: nothing was left to write while Redis is unavailable (${this.redisProblem}); cursor ${cursor}`);
    } else if (res.pendingFrames === 0) {
      this.log.info({ cursor: this.durable }, `stopped cleanly: every received event is in Redis, cursor ${cursor}`);
    } else {
      this.log.error(
        { pendingFrames: res.pendingFrames, cursor: this.durable },
        `stopped with ${res.pendingFrames} frames unwritten; they will be fetched again from cursor ${this.durable ?? '(none)'} on restart`,
      );
    }
    await this.http?.close();
    const code = this.failure || res.pendingFrames > 0 ? 1 : 0;
    this.resolveDone(code);
    return code;
  }

  private fail(err: FirehoseError): void {
    this.failure ??= err;
    this.log.error({ code: err.code }, err.message);
    void this.stop('fatal error');
  }

  private async resumeCursor(index: number): Promise<string | null> {
    const key = cursorKeyFor(this.config, index);
    // Waiting here for the queue to be written makes the stored cursor
    // cover every frame received so far: nothing is asked for twice.
    const cursor = await this.ingester.switchCursorKey(key);
    if (cursor !== null && !/^\d+$/.test(cursor)) {
      const err = new FirehoseError(
        `${key} holds "${cursor.slice(0, 40)}", which is not a sequence number: delete the key to start live, or set it to a seq`,
        ErrorCodes.CONFIG,
      );
      this.fail(err);
      throw err;
    }
    this.durable = cursor;
    this.metrics.setCursor(cursor);
    return cursor;
  }

  health(): Health {
    const now = Date.now();
    const reasons: string[] = [];
    const stall = this.config.stallTimeoutMs;
    if (this.redisProblem) reasons.push(`redis: ${this.redisProblem}`);
    const down = now - this.disconnectedSince;
    if (!this.relay.connected && down > stall) {
      reasons.push(`relay: disconnected for ${Math.round(down / 1000)} s (${this.relay.attempts} attempts)`);
    } else if (this.relay.silentForMs() > stall) {
      reasons.push(`relay: no data for ${Math.round(this.relay.silentForMs() / 1000)} s`);
    }
    if (this.stopping) reasons.push('shutting down');
    const q = this.ingester.stats();
    return {
      ok: reasons.length === 0,
      reasons,
      details: {
        relay: this.relay.url,
        relayConnected: this.relay.connected,
        cursor: this.durable,
        lagSeconds: this.lastEventTime === undefined ? 'unknown' : (now - this.lastEventTime) / 1000,
        queueBytes: q.queueBytes,
        events: this.totalEvents,
      },
    };
  }

  private wireIngester(): void {
    const ing = this.ingester;
    const redis = redactRedisUrl(this.config.redisUrl);
    ing.on('ready', (cursor) => {
      this.redisProblem = null;
      this.metrics.redis(true);
      this.log.info({ redis, cursor }, cursor === null ? 'Redis ready; no saved cursor: starting live' : `Redis ready; resuming from cursor ${cursor}`);
    });
    ing.on('redis-down', (error, attempt, retryInMs) => {
      this.redisProblem = error;
      this.metrics.redis(false);
      if (attempt <= 3 || attempt % 10 === 0) {
        this.log.warn({ redis, attempt, retryInMs }, `${error}; retrying in ${retryInMs} ms (attempt ${attempt})`);
      }
    });
    ing.on('redis-up', () => {
      this.redisProblem = null;
      this.metrics.redis(true);
      this.log.info({ redis }, 'Redis is accepting writes again');
    });
    ing.on('batch', (b) => this.onBatch(b));
    ing.on('drain', () => this.relay.resume());
    ing.on('fatal', (err) => this.fail(err));
  }

  private onBatch(b: BatchReport): void {
    this.redisProblem = null;
    this.durable = b.cursor;
    this.metrics.batch(b);
    this.totalEvents += b.entries;
    this.progressEvents += b.entries;
    if (b.lastTime) {
      const t = Date.parse(b.lastTime);
      if (!Number.isNaN(t)) this.lastEventTime = t;
    }
    for (const s of b.skipped) {
      this.skippedLog.warn({ seq: s.seq, path: s.path, reason: s.reason }, `op ${s.path} left out of seq ${s.seq}: ${s.detail}`);
    }
    for (const f of b.invalid) {
      this.invalidLog.warn({ bytes: f.bytes }, `undecodable frame skipped: ${f.error}`);
    }
    for (const t of b.unknownTypes) {
      if (!this.unknownTypes.has(t)) {
        this.unknownTypes.add(t);
        this.log.warn({ type: t }, `ignoring frames of unknown type ${t}`);
      }
    }
    if (this.progressEvents >= PROGRESS_EVERY_EVENTS) this.progress();
  }

  private progress(final = false): void {
    const now = Date.now();
    const secs = (now - this.progressAt) / 1000;
    if (this.progressEvents === 0 && !final) return;
    const rate = secs > 0 ? Math.round(this.progressEvents / secs) : 0;
    const lag = this.lastEventTime === undefined ? null : Math.round((now - this.lastEventTime) / 100) / 10;
    this.log.info(
      { events: this.totalEvents, rate, cursor: this.durable, lagSeconds: lag },
      `Processed ${this.totalEvents} events (~${rate} events/sec, cursor: ${this.durable ?? 'none'}${lag === null ? '' : `, lag: ${lag} s`})`,
    );
    this.progressEvents = 0;
    this.progressAt = now;
  }

  private wireRelay(): void {
    const relay = this.relay;
    relay.on('connecting', (url, cursor) => {
      this.log.info({ relay: url, cursor }, cursor === null ? `connecting to ${url} (live)` : `connecting to ${url} from cursor ${cursor}`);
    });
    relay.on('open', (url) => {
      this.disconnectedSince = Number.POSITIVE_INFINITY;
      this.metrics.relay(true);
      this.ingester.setStatus(true, url);
      this.log.info({ relay: url }, `connected to ${url}`);
    });
    relay.on('reconnect', (reason, delayMs, detail) => {
      // An outage starts at the first failure, however many attempts follow.
      this.disconnectedSince = Math.min(this.disconnectedSince, Date.now());
      this.metrics.relay(false);
      this.metrics.reconnect(reason);
      this.ingester.setStatus(false, relay.url);
      const msg = `relay connection ended (${reason}: ${detail}); reconnecting in ${delayMs} ms`;
      if (reason === 'future-cursor') this.log.error({ reason, delayMs }, msg);
      else this.log.warn({ reason, delayMs }, msg);
    });
    relay.on('error-frame', (name, message) => {
      this.metrics.errorFrame(name);
      if (name === 'FutureCursor') {
        this.log.error({ error: name, cursor: this.durable }, `relay rejected cursor ${this.durable} as in the future (${message ?? ''}): is REDIS_CURSOR_KEY from another relay? retrying at the longest backoff`);
      } else if (name === 'ConsumerTooSlow') {
        this.log.warn({ error: name }, `relay dropped us as too slow (${message ?? ''}); resuming from the cursor`);
      } else {
        this.log.error({ error: name }, `relay sent error ${name}: ${message ?? ''}`);
      }
    });
    relay.on('info', (name, message) => {
      if (name === 'OutdatedCursor') {
        this.log.warn({ info: name }, `relay says OutdatedCursor (${message ?? ''}): the cursor is older than its backfill window, events in between were missed`);
      } else {
        this.log.info({ info: name }, `relay info ${name}: ${message ?? ''}`);
      }
    });
    relay.on('switch', (from, to) => {
      this.metrics.reconnect('switch');
      this.log.warn({ from, to }, `switching from ${from} to ${to} after repeated failures: relays number events differently, so events around the switch may be missed (possible gap)`);
    });
    relay.on('text-message', () => {
      if (!this.textWarned) this.log.warn('relay sent a text message; subscribeRepos only sends binary frames: ignored');
      this.textWarned = true;
    });
  }
}
