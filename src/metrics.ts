/**
 * Prometheus metrics, fed once per written batch and by relay events.
 */
import client from 'prom-client';
import type { BatchReport, FrameCounts, GroupState, QueueStats } from './native.js';
import type { ReconnectReason } from './relay.js';

export class Metrics {
  readonly registry = new client.Registry();
  private readonly events: client.Counter<'type'>;
  private readonly frames: client.Counter<'kind'>;
  private readonly bytes: client.Counter;
  private readonly dataBytes: client.Counter;
  private readonly decodeErrors: client.Counter;
  private readonly opsSkipped: client.Counter<'reason'>;
  private readonly opsFiltered: client.Counter;
  private readonly errorFrames: client.Counter<'name'>;
  private readonly reconnects: client.Counter<'reason'>;
  private readonly redisErrors: client.Counter;
  private readonly batchSize: client.Histogram;
  private readonly batchSeconds: client.Histogram;
  private readonly waitSeconds: client.Histogram;
  private readonly cursor: client.Gauge;
  private readonly lag: client.Gauge;
  private readonly relayConnected: client.Gauge;
  private readonly redisUp: client.Gauge;
  private readonly staleFrames: client.Counter;
  private readonly active: client.Gauge;
  private readonly takeovers: client.Counter;
  private readonly regressions: client.Counter;
  private readonly lostEvents: client.Counter;
  private readonly resyncs: client.Counter;
  private readonly groupUndelivered: client.Gauge<'group'>;
  private readonly groupPending: client.Gauge<'group'>;
  private readonly groupStale: client.Gauge<'group'>;
  private readonly paced: client.Gauge;
  private readonly pacedSeconds: client.Counter;
  private readonly nodeGauge: client.Gauge<'node'>;
  private readonly topologyChanges: client.Counter;
  private pacedSince: number | undefined;
  private lastTime: number | undefined;

  constructor(queue: () => QueueStats) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.events = new client.Counter({ name: 'firehose_events_total', help: 'Stream entries written, by type', labelNames: ['type'], registers });
    this.frames = new client.Counter({ name: 'firehose_frames_total', help: 'Relay frames processed, by kind', labelNames: ['kind'], registers });
    this.bytes = new client.Counter({ name: 'firehose_frame_bytes_total', help: 'Bytes of relay frames processed', registers });
    this.dataBytes = new client.Counter({ name: 'firehose_entry_bytes_total', help: 'Bytes of entry JSON written', registers });
    this.decodeErrors = new client.Counter({ name: 'firehose_decode_errors_total', help: 'Frames that could not be decoded', registers });
    this.opsSkipped = new client.Counter({ name: 'firehose_ops_skipped_total', help: 'Create/update ops left out because their record could not be produced, by reason', labelNames: ['reason'], registers });
    this.opsFiltered = new client.Counter({ name: 'firehose_ops_filtered_total', help: 'Ops dropped by COLLECTIONS', registers });
    this.errorFrames = new client.Counter({ name: 'firehose_error_frames_total', help: 'Error frames (op -1) from the relay, by name', labelNames: ['name'], registers });
    this.reconnects = new client.Counter({ name: 'firehose_reconnects_total', help: 'Relay reconnections, by reason', labelNames: ['reason'], registers });
    this.redisErrors = new client.Counter({ name: 'firehose_redis_errors_total', help: 'Failed Redis attempts (each is retried)', registers });
    this.batchSize = new client.Histogram({ name: 'firehose_batch_entries', help: 'Entries per MULTI/EXEC batch', buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500], registers });
    this.batchSeconds = new client.Histogram({ name: 'firehose_batch_write_seconds', help: 'MULTI/EXEC round trip per batch', buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1], registers });
    this.waitSeconds = new client.Histogram({ name: 'firehose_frame_wait_seconds', help: 'From arrival of a batch\'s oldest frame to Redis acknowledging it', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers });
    this.cursor = new client.Gauge({ name: 'firehose_cursor', help: 'Durable cursor (relay seq) in Redis', registers });
    // Registered once the first event is written: until then the lag is
    // unknown, and an absent series (not a 0) lets `absent()` alert on it.
    this.lag = new client.Gauge({
      name: 'firehose_lag_seconds',
      help: 'Now minus the time of the newest written event; absent until one is written',
      registers: [],
      collect: () => {
        if (this.lastTime !== undefined) this.lag.set((Date.now() - this.lastTime) / 1000);
      },
    });
    this.relayConnected = new client.Gauge({ name: 'firehose_relay_connected', help: '1 while the relay WebSocket is open', registers });
    this.redisUp = new client.Gauge({ name: 'firehose_redis_up', help: '1 while Redis accepts writes', registers });
    this.staleFrames = new client.Counter({ name: 'firehose_stale_frames_total', help: 'Frames whose seq was not above the previous one: nothing written, the cursor unmoved', registers });
    this.active = new client.Gauge({ name: 'firehose_active', help: '1 while this instance holds the lease and writes; 0 on standby', registers });
    this.takeovers = new client.Counter({ name: 'firehose_takeovers_total', help: 'Times this instance took the lease over from another', registers });
    this.regressions = new client.Counter({ name: 'firehose_cursor_regressions_total', help: 'Times Redis came back with a cursor behind what it had acknowledged (lost writes)', registers });
    this.lostEvents = new client.Counter({ name: 'firehose_redis_lost_events_total', help: 'Acknowledged events Redis lost (fetched again from the relay)', registers });
    this.resyncs = new client.Counter({ name: 'firehose_resyncs_total', help: 'Times the writer followed a cursor in Redis that it had not written', registers });
    this.groupUndelivered = new client.Gauge({ name: 'firehose_group_undelivered', help: 'Entries not yet delivered to each consumer group', labelNames: ['group'], registers });
    this.groupPending = new client.Gauge({ name: 'firehose_group_pending', help: 'Entries delivered to each consumer group and not acknowledged', labelNames: ['group'], registers });
    this.groupStale = new client.Gauge({ name: 'firehose_group_stale', help: '1 for a group that no longer paces the writer (all consumers idle past PACE_STALE_AFTER_MS)', labelNames: ['group'], registers });
    this.paced = new client.Gauge({ name: 'firehose_paced', help: '1 while the writer waits for a consumer group', registers });
    this.pacedSeconds = new client.Counter({
      name: 'firehose_paced_seconds_total',
      help: 'Seconds spent waiting for consumer groups',
      registers,
      collect: () => {
        if (this.pacedSince === undefined) return;
        const now = Date.now();
        this.pacedSeconds.inc((now - this.pacedSince) / 1000);
        this.pacedSince = now;
      },
    });
    this.nodeGauge = new client.Gauge({ name: 'firehose_redis_node', help: '1 for the Redis node being written', labelNames: ['node'], registers });
    this.topologyChanges = new client.Counter({ name: 'firehose_redis_topology_changes_total', help: 'Times the written node changed (failover, slot move)', registers });
    new client.Gauge({ name: 'firehose_queue_bytes', help: 'Bytes of frames waiting for the writer', registers, collect() { this.set(queue().queueBytes); } });
    new client.Gauge({ name: 'firehose_queue_frames', help: 'Frames waiting for the writer', registers, collect() { this.set(queue().queueFrames); } });
  }

  batch(b: BatchReport): void {
    const c: FrameCounts = b.counts;
    for (const type of ['commit', 'identity', 'account'] as const) if (c[type]) this.events.inc({ type }, c[type]);
    for (const [kind, n] of Object.entries(c)) if (n) this.frames.inc({ kind }, n);
    // sync and info only become entries when EXTRA_TYPES asks for them.
    const extra = b.entries - c.commit - c.identity - c.account;
    if (extra > 0) this.events.inc({ type: 'other' }, extra);
    this.bytes.inc(b.bytes);
    this.dataBytes.inc(b.dataBytes);
    if (c.invalid) this.decodeErrors.inc(c.invalid);
    if (c.stale) this.staleFrames.inc(c.stale);
    if (b.opsFiltered) this.opsFiltered.inc(b.opsFiltered);
    for (const [reason, n] of Object.entries(b.skippedByReason)) if (n) this.opsSkipped.inc({ reason }, n);
    if (b.entries) this.batchSize.observe(b.entries);
    this.batchSeconds.observe(b.writeMs / 1000);
    this.waitSeconds.observe(b.maxWaitMs / 1000);
    if (b.cursor !== null) this.cursor.set(Number(b.cursor));
    if (b.lastTime !== null) {
      const t = Date.parse(b.lastTime);
      if (!Number.isNaN(t)) {
        if (this.lastTime === undefined) this.registry.registerMetric(this.lag);
        this.lastTime = t;
      }
    }
    this.redisUp.set(1);
  }

  errorFrame(name: string): void {
    this.errorFrames.inc({ name });
  }

  reconnect(reason: ReconnectReason | 'switch'): void {
    this.reconnects.inc({ reason });
  }

  relay(connected: boolean): void {
    this.relayConnected.set(connected ? 1 : 0);
  }

  redis(up: boolean): void {
    this.redisUp.set(up ? 1 : 0);
    if (!up) this.redisErrors.inc();
  }

  role(role: 'active' | 'standby', takeover: boolean): void {
    this.active.set(role === 'active' ? 1 : 0);
    if (takeover) this.takeovers.inc();
  }

  resync(lost: number | null, regression: boolean): void {
    this.resyncs.inc();
    if (regression) this.regressions.inc();
    if (lost !== null && lost > 0) this.lostEvents.inc(lost);
  }

  groups(groups: GroupState[], paced: boolean): void {
    this.groupUndelivered.reset();
    this.groupPending.reset();
    this.groupStale.reset();
    for (const g of groups) {
      this.groupUndelivered.set({ group: g.name }, g.undelivered);
      this.groupPending.set({ group: g.name }, g.pending);
      this.groupStale.set({ group: g.name }, g.stale ? 1 : 0);
    }
    const now = Date.now();
    if (this.pacedSince !== undefined) this.pacedSeconds.inc((now - this.pacedSince) / 1000);
    this.pacedSince = paced ? now : undefined;
    this.paced.set(paced ? 1 : 0);
  }

  node(node: string, changed: boolean): void {
    this.nodeGauge.reset();
    this.nodeGauge.set({ node }, 1);
    if (changed) this.topologyChanges.inc();
  }

  setCursor(cursor: string | null): void {
    if (cursor !== null) this.cursor.set(Number(cursor));
  }
}
