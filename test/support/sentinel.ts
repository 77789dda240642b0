/**
 * A Sentinel-managed Redis of the test's own: one primary, its replicas and
 * the sentinels watching them, each a redis-server on a free loopback port
 * in a temporary directory. The sentinels are told about each other and
 * about the replicas in their configuration files, so they agree from the
 * first second instead of after their discovery rounds; startup takes about
 * a second. stop() removes everything.
 */
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisServer, freePort } from './redis.js';

export interface SentinelSetOptions {
  /** The master's name in the sentinels' configuration (default mymaster). */
  name?: string;
  replicas?: number;
  sentinels?: number;
  /** sentinel down-after-milliseconds: how soon a silent master is down. */
  downAfterMs?: number;
  /** sentinel failover-timeout: also how long before a second failover of the same master may start. */
  failoverTimeoutMs?: number;
  /** requirepass of the data nodes (the replicas' masterauth, the sentinels' auth-pass). */
  password?: string;
  /** requirepass of the sentinels. */
  sentinelPassword?: string;
  /** Extra redis-server arguments for every data node. */
  args?: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fields of a Redis reply given as a flat [name, value, ...] list. */
function fields(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const a = flat as string[];
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]!] = a[i + 1]!;
  return out;
}

export class SentinelSet {
  private readonly clients = new Map<RedisServer, Redis>();

  private constructor(
    readonly name: string,
    /** Every data node, the first one primary at start. */
    readonly nodes: RedisServer[],
    readonly sentinels: RedisServer[],
  ) {}

  static async start(opts: SentinelSetOptions = {}): Promise<SentinelSet> {
    const name = opts.name ?? 'mymaster';
    const pw = opts.password;
    const dataArgs = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', ...(pw ? ['--masterauth', pw] : []), ...(opts.args ?? [])];
    const nodes: RedisServer[] = [];
    const sentinels: RedisServer[] = [];
    const set = new SentinelSet(name, nodes, sentinels);
    try {
      nodes.push(await RedisServer.start({ args: dataArgs, requirepass: pw }));
      const primary = nodes[0]!;
      const replicas = await Promise.all(
        Array.from({ length: opts.replicas ?? 2 }, () =>
          RedisServer.start({ args: [...dataArgs, '--replicaof', '127.0.0.1', String(primary.port)], requirepass: pw }),
        ),
      );
      nodes.push(...replicas);
      for (const r of replicas) await set.waitForLink(r);
      const count = opts.sentinels ?? 3;
      const peers = await Promise.all(
        Array.from({ length: count }, async () => ({ port: await freePort(), id: crypto.randomBytes(20).toString('hex') })),
      );
      const started = await Promise.all(
        peers.map((me) =>
          RedisServer.start({
            port: me.port,
            requirepass: opts.sentinelPassword,
            sentinel: [
              `sentinel myid ${me.id}`,
              `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${Math.floor(count / 2) + 1}`,
              ...(pw ? [`sentinel auth-pass ${name} ${pw}`] : []),
              `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
              `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 4000}`,
              `sentinel parallel-syncs ${name} ${Math.max(1, replicas.length)}`,
              ...replicas.map((r) => `sentinel known-replica ${name} 127.0.0.1 ${r.port}`),
              ...peers.filter((p) => p !== me).map((p) => `sentinel known-sentinel ${name} 127.0.0.1 ${p.port} ${p.id}`),
            ],
          }),
        ),
      );
      sentinels.push(...started);
      await set.waitUntilReady(primary.port, replicas.length);
      return set;
    } catch (err) {
      await set.stop();
      throw err;
    }
  }

  /** REDIS_SENTINELS for this set. */
  get sentinelList(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** The data node on this port. */
  node(port: number): RedisServer {
    const n = this.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no data node on port ${port}`);
    return n;
  }

  /** The master's port as the first sentinel that answers names it. */
  async masterPort(): Promise<number> {
    for (const s of this.sentinels) {
      const port = await this.named(s);
      if (port) return port;
    }
    throw new Error('no sentinel names a master');
  }

  /** Waits until every sentinel names a master other than `oldPort` and that node says it is master; returns it. */
  async waitForNewMaster(oldPort: number, timeoutMs = 20_000): Promise<RedisServer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const named = await Promise.all(this.sentinels.map((s) => this.named(s)));
      const port = named[0]!;
      if (port && port !== oldPort && named.every((p) => p === port)) {
        const node = this.node(port);
        const role = (await this.conn(node).call('ROLE').catch(() => null)) as unknown[] | null;
        if (role?.[0] === 'master') return node;
      }
      if (Date.now() > deadline) throw new Error(`sentinels did not agree on a new master within ${timeoutMs} ms (named: ${named.join(', ')})`);
      await sleep(20);
    }
  }

  /** SENTINEL FAILOVER on the first sentinel: a failover without asking the others. */
  async failover(): Promise<void> {
    await this.conn(this.sentinels[0]!).call('SENTINEL', 'FAILOVER', this.name);
  }

  /** A client of the data node on this port (one per node, closed by stop()). */
  client(port: number): Redis {
    return this.conn(this.node(port));
  }

  private conn(s: RedisServer): Redis {
    let c = this.clients.get(s);
    if (!c) this.clients.set(s, (c = s.client()));
    return c;
  }

  private async named(s: RedisServer): Promise<number> {
    if (!s.running) return 0;
    const addr = (await this.conn(s).call('SENTINEL', 'get-master-addr-by-name', this.name).catch(() => null)) as string[] | null;
    return addr ? Number(addr[1]) : 0;
  }

  private async waitForLink(replica: RedisServer, timeoutMs = 10_000): Promise<void> {
    const c = this.conn(replica);
    const deadline = Date.now() + timeoutMs;
    while (!/master_link_status:up/.test(await c.info('replication'))) {
      if (Date.now() > deadline) throw new Error(`replica on port ${replica.port} did not link to its master within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Every sentinel sees the master up, every replica linked, and the other sentinels. */
  private async waitUntilReady(primaryPort: number, replicas: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const s of this.sentinels) {
      const c = this.conn(s);
      for (;;) {
        const m = fields(await c.call('SENTINEL', 'MASTER', this.name));
        const rs = ((await c.call('SENTINEL', 'REPLICAS', this.name)) as unknown[]).map(fields);
        const linked = rs.filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok').length;
        if (
          m.port === String(primaryPort) &&
          m.flags === 'master' &&
          Number(m['num-other-sentinels']) === this.sentinels.length - 1 &&
          linked === replicas
        ) {
          break;
        }
        if (Date.now() > deadline) throw new Error(`sentinel on port ${s.port} not ready within ${timeoutMs} ms: ${JSON.stringify(m)}`);
        await sleep(20);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.nodes].map((s) => s.stop()));
  }
}
