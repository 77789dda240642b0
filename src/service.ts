/**
 * The service: relay → ingester → Redis, with health, metrics, progress
 * logs and an orderly shutdown. Everything it does is driven by events from
 * the relay client and the native writer.
 */
import { checkOptions, cursorKeyFor, type Config } from './config.js';
import { FirehoseError, ErrorCodes } from './errors.js';
import { HttpServer, type Health } from './http.js';
import { Ingester, type BatchReport, type GroupState } from './ingester.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { redactRedisUrl } from './redis-url.js';
import { RelayClient } from './relay.js';

const PROGRESS_EVERY_MS = 10_000;
const PROGRESS_EVERY_EVENTS = 10_000;
/** Per kind of problem, at most this many detailed log lines per window. */
const DETAIL_LINES = 20;
const DETAIL_WINDOW_MS = 10_000;

/** 2.5 s, 90 s, 15 min, 72 h. */
function duration(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

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
  private role: 'starting' | 'active' | 'standby' = 'starting';
  private holder = '';
  private pacing: { paced: boolean; group: string | null; backlog: number; since: number } = { paced: false, group: null, backlog: 0, since: 0 };
  private pacedLogAt = 0;
  private pacedQuiet = 0;
  private redisDownLogAt = 0;
  private redisDownLogged = '';
  private readonly config: Config;

  /** Throws ERR_INVALID_ARG when a field of config is not valid. */
  constructor(config: Config, private readonly log: Logger) {
    this.config = checkOptions(config);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.skippedLog = new Throttle(log, 'skipped ops');
    this.invalidLog = new Throttle(log, 'undecodable frames');
    this.ingester = new Ingester(this.config);
    this.metrics = new Metrics(() => this.ingester.stats());
    this.relay = new RelayClient(
      {
        urls: this.config.relayUrls,
        maxMessageBytes: this.config.maxMessageBytes,
        stallTimeoutMs: this.config.stallTimeoutMs,
        pingIntervalMs: this.config.pingIntervalMs,
        reconnectMinMs: this.config.reconnectMinMs,
        reconnectMaxMs: this.config.reconnectMaxMs,
      },
      {
        resumeCursor: (index) => this.resumeCursor(index),
        openSocket: (max) => this.ingester.openSocket(max),
        feed: (chunk) => this.ingester.feed(chunk),
      },
    );
    this.wireIngester();
    this.wireRelay();
  }

  /** Starts HTTP; the relay follows once this instance holds the lease. */
  async start(): Promise<void> {
    const c = this.config;
    const redis = redactRedisUrl(c.redisUrl);
    const collections = c.collections.length ? c.collections : 'all';
    // Everything in the message too: pretty output shows only the message.
    this.log.info(
      {
        relays: c.relayUrls,
        redis,
        stream: c.streamKey,
        cursorKey: c.cursorKey,
        maxStreamLen: c.maxStreamLen,
        trim: c.trim,
        instance: c.instanceId,
        sentinels: c.redisSentinels.length ? c.redisSentinels : undefined,
        collections,
      },
      `firehose-redis starting: ${c.relayUrls.join(', ')} into ${redis}${c.redisSentinels.length ? ` (sentinels ${c.redisSentinels.join(', ')}, master ${c.redisSentinelName})` : ''}, ` +
        `stream ${c.streamKey} (cap ${c.maxStreamLen}, trim ${c.trim}), cursor key ${c.cursorKey}, instance ${c.instanceId}, collections: ${String(collections)}`,
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
    if (res.pendingFrames === 0 && this.failure) {
      this.log.info({ cursor: this.durable }, `stopped after the error above; nothing received was left unwritten, cursor ${cursor}`);
    } else if (res.pendingFrames === 0 && this.redisProblem) {
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
    // A misconfiguration found only once Redis answered (a master name no
    // sentinel knows, keys in two cluster slots) is still bad settings.
    const code = this.failure ? (this.failure.code === ErrorCodes.CONFIG ? 2 : 1) : res.pendingFrames > 0 ? 1 : 0;
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
    if (this.role !== 'active') {
      // A standby holds no relay connection, by design.
    } else if (this.pacing.paced) {
      // Paced: silence from the relay is ours.
    } else if (!this.relay.connected && down > stall) {
      reasons.push(`relay: disconnected for ${Math.round(down / 1000)} s (${this.relay.attempts} attempts)`);
    } else if (this.relay.silentForMs() > stall) {
      reasons.push(`relay: no data for ${Math.round(this.relay.silentForMs() / 1000)} s`);
    }
    if (this.stopping) reasons.push('shutting down');
    // Waiting for slow consumers is correct, until the relay can no longer
    // replay what we have not fetched: then events are being lost.
    if (this.pacing.paced) {
      const age = this.lastEventTime === undefined ? undefined : now - this.lastEventTime;
      const behind = age ?? now - this.pacing.since;
      if (behind > this.config.replayWindowMs) {
        const what = age === undefined ? ` for ${duration(behind)}` : `; the newest written event is ${duration(age)} old`;
        reasons.push(
          `paced by consumer group ${this.pacing.group}${what}, past the relay's replay window (RELAY_REPLAY_WINDOW_MS ${duration(this.config.replayWindowMs)}): events are being lost at the relay`,
        );
      }
    }
    const q = this.ingester.stats();
    const standby = this.role !== 'active';
    return {
      ok: reasons.length === 0,
      reasons,
      details: {
        role: this.role === 'starting' ? 'standby' : this.role,
        ...(standby && this.holder ? { leaseHolder: this.holder } : {}),
        ...(this.pacing.paced ? { pacedBy: { group: this.pacing.group, backlog: this.pacing.backlog, sinceSeconds: Math.round((now - this.pacing.since) / 1000) } } : {}),
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
      // The first attempts, then one line every 10 s (a restarting Redis is
      // asked every 100 ms), and whenever the reason changes: "refused" then
      // "starting" is how a restart reads.
      const now = Date.now();
      if (attempt <= 3 || error !== this.redisDownLogged || now - this.redisDownLogAt >= DETAIL_WINDOW_MS) {
        this.redisDownLogAt = now;
        this.redisDownLogged = error;
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
    ing.on('role', (role, holder, message) => this.onRole(role, holder, message));
    ing.on('resync', (r) => {
      this.metrics.resync(r.lost, r.previous !== null && r.cursor !== null && BigInt(r.cursor) < BigInt(r.previous));
      if (r.lost !== null || (r.previous !== null && r.cursor !== null && BigInt(r.cursor) < BigInt(r.previous))) {
        this.log.error({ cursor: r.cursor, acknowledged: r.previous, lost: r.lost }, r.message);
      } else {
        this.log.warn({ cursor: r.cursor, previous: r.previous }, r.message);
      }
      this.durable = r.cursor;
      this.metrics.setCursor(r.cursor);
      if (r.reconnect && this.role === 'active' && !this.stopping) this.relay.restart(r.message);
    });
    ing.on('pacing', (p) => this.onPacing(p));
    ing.on('node', (node, message) => {
      this.metrics.node(node, message !== '');
      if (message) this.log.warn({ node }, `${message}; writing to ${node}`);
      else this.log.info({ node }, `writing to Redis at ${node}`);
    });
    ing.on('log', (level, message) => this.log[level](message));
  }

  private onRole(role: 'active' | 'standby', holder: string, message: string): void {
    const was = this.role;
    this.role = role;
    this.holder = holder;
    this.redisProblem = null;
    this.metrics.role(role, was === 'standby' && role === 'active');
    if (role === 'active') {
      this.log.info({ role, instance: this.config.instanceId }, message);
      if (!this.stopping) this.relay.start();
    } else {
      // A standby holds no relay connection: it reads nothing it would drop.
      if (was === 'active') this.log.error({ role, holder }, message);
      else this.log.info({ role, holder }, message);
      void this.relay.stop();
      this.metrics.relay(false);
    }
  }

  private onPacing(p: { paced: boolean; group: string | null; backlog: number; groups: GroupState[] }): void {
    const now = Date.now();
    this.metrics.groups(p.groups, p.paced);
    if (p.paced === this.pacing.paced) {
      this.pacing.backlog = p.backlog;
      this.pacing.group = p.group;
      return;
    }
    const since = this.pacing.since;
    this.pacing = { paced: p.paced, group: p.group, backlog: p.backlog, since: p.paced ? now : since };
    // One line per paced period, but never more than one pair every 10 s.
    if (now - this.pacedLogAt < DETAIL_WINDOW_MS && p.paced) {
      this.pacedQuiet++;
      return;
    }
    if (p.paced) {
      this.pacedLogAt = now;
      const more = this.pacedQuiet ? ` (${this.pacedQuiet} shorter periods not shown)` : '';
      this.pacedQuiet = 0;
      this.log.warn(
        { group: p.group, backlog: p.backlog },
        `paced by consumer group ${p.group} (${p.backlog} entries behind, cap ${this.config.maxStreamLen}): reading from the relay pauses until it catches up${more}`,
      );
    } else if (this.pacedQuiet === 0) {
      this.log.info({ group: p.group, pacedSeconds: Math.round((now - since) / 1000) }, `pacing ended after ${Math.round((now - since) / 1000)} s: consumer groups caught up`);
    }
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
    for (const f of b.stale) {
      this.invalidLog.warn({ seq: f.seq, previous: f.previous }, `frame with seq ${f.seq} skipped: not above the previous seq ${f.previous} (a relay replaying, or a corrupt seq); the cursor stays`);
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
    if (this.role === 'standby') {
      if (!final) this.log.info({ role: 'standby', holder: this.holder }, `standby: ${this.holder ? `instance ${this.holder.replace(/ \S+$/, '')}` : 'nobody'} holds the lease; nothing written`);
      return;
    }
    const paced = this.pacing.paced;
    if (this.progressEvents === 0 && !final && !paced) return;
    const rate = secs > 0 ? Math.round(this.progressEvents / secs) : 0;
    const lag = this.lastEventTime === undefined ? null : Math.round((now - this.lastEventTime) / 100) / 10;
    const pacedBy = paced ? `; paced by group ${this.pacing.group} (${this.pacing.backlog} behind)` : '';
    this.log.info(
      { events: this.totalEvents, rate, cursor: this.durable, lagSeconds: lag, role: this.role, ...(paced ? { pacedBy: this.pacing.group, backlog: this.pacing.backlog } : {}) },
      `Processed ${this.totalEvents} events (~${rate} events/sec, cursor: ${this.durable ?? 'none'}${lag === null ? '' : `, lag: ${lag} s`}) as the active instance${pacedBy}`,
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
      // -1: once the writer drains, which pacing may make take long.
      const next = delayMs >= 0 ? `in ${delayMs} ms` : this.pacing.paced ? 'once the consumer groups catch up' : 'once the writer catches up';
      const msg = `relay connection ended (${reason}: ${detail}); reconnecting ${next}`;
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
