/**
 * A Redis Cluster of the test's own: masters with a replica each, every
 * node a redis-server on a free loopback port in a temporary directory,
 * joined by `redis-cli --cluster create` (about a second). The test can ask
 * who owns a slot, move a slot to another master the way `redis-cli
 * --cluster reshard` does (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT
 * NODE), and kill a master so that its replica takes over. stop() removes
 * everything.
 */
import { spawnSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { RedisServer } from './redis.js';

export interface ClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a silent master takes to be failed over. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
}

export interface MigrationReport {
  keys: number;
  /** Longest single MIGRATE call, in ms (the source is blocked meanwhile). */
  longestMigrateMs: number;
  totalMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  master: string;
  slots: string[];
}

function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
      return { id: id!, port: Number(/:(\d+)@/.exec(addr!)![1]), flags: flags!.split(','), master: master!, slots };
    });
}

export class RedisCluster {
  private readonly clients = new Map<RedisServer, Redis>();

  private constructor(readonly nodes: RedisServer[]) {}

  static async start(opts: ClusterOptions = {}): Promise<RedisCluster> {
    const masters = opts.masters ?? 3;
    const perMaster = opts.replicasPerMaster ?? 1;
    const args = [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000),
      '--repl-diskless-sync', 'yes',
      '--repl-diskless-sync-delay', '0',
      ...(opts.args ?? []),
    ];
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(nodes);
    try {
      nodes.push(...(await Promise.all(Array.from({ length: masters * (1 + perMaster) }, () => RedisServer.start({ args })))));
      const r = spawnSync(
        'redis-cli',
        ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(perMaster), '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}${r.stderr}`);
      await cluster.waitUntilSettled();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** A client of this node (one per node, closed by stop()). */
  client(node: RedisServer): Redis {
    let c = this.clients.get(node);
    if (!c) this.clients.set(node, (c = node.client()));
    return c;
  }

  node(port: number): RedisServer {
    const n = this.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no cluster node on port ${port}`);
    return n;
  }

  private any(): Redis {
    return this.client(this.nodes.find((x) => x.running)!);
  }

  /** CLUSTER NODES as the first running node sees it. */
  private async view(): Promise<NodeLine[]> {
    return parseNodes((await this.any().call('CLUSTER', 'NODES')) as string);
  }

  async slotOf(key: string): Promise<number> {
    return Number(await this.any().call('CLUSTER', 'KEYSLOT', key));
  }

  /** The master that owns `slot`, as the first running node sees it. */
  async owner(slot: number): Promise<RedisServer> {
    for (const l of await this.view()) {
      if (!l.flags.includes('master') || l.flags.includes('fail')) continue;
      for (const s of l.slots) {
        const [lo, hi = lo] = s.split('-').map(Number);
        if (!s.startsWith('[') && lo! <= slot && slot <= hi!) return this.node(l.port);
      }
    }
    throw new Error(`no master owns slot ${slot}`);
  }

  /** The replicas of a master. */
  async replicasOf(master: RedisServer): Promise<RedisServer[]> {
    const lines = await this.view();
    const id = lines.find((l) => l.port === master.port)!.id;
    return lines.filter((l) => l.master === id).map((l) => this.node(l.port));
  }

  /** A running master other than `not`. */
  async otherMaster(not: RedisServer): Promise<RedisServer> {
    const l = (await this.view()).find((x) => x.flags.includes('master') && !x.flags.includes('fail') && x.port !== not.port && x.slots.length > 0);
    return this.node(l!.port);
  }

  private async idOf(node: RedisServer): Promise<string> {
    return (await this.client(node).call('CLUSTER', 'MYID')) as string;
  }

  /**
   * Moves `slot` from its owner to `to` as `redis-cli --cluster reshard`
   * does: IMPORTING on the target, MIGRATING on the source, MIGRATE of its
   * keys `batch` at a time with `pauseMs` between calls, then SETSLOT NODE
   * everywhere.
   */
  async migrateSlot(slot: number, to: RedisServer, opts: { batch?: number; pauseMs?: number } = {}): Promise<MigrationReport> {
    const started = Date.now();
    const from = await this.owner(slot);
    const src = this.client(from);
    const dst = this.client(to);
    const [fromId, toId] = await Promise.all([this.idOf(from), this.idOf(to)]);
    await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    let keys = 0;
    let longest = 0;
    for (;;) {
      const batch = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, opts.batch ?? 1)) as string[];
      if (batch.length === 0) break;
      const t = Date.now();
      await src.call('MIGRATE', '127.0.0.1', to.port, '', 0, 10_000, 'KEYS', ...batch);
      longest = Math.max(longest, Date.now() - t);
      keys += batch.length;
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
    await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    for (const n of this.nodes) {
      if (n !== from && n !== to && n.running) await this.client(n).call('CLUSTER', 'SETSLOT', slot, 'NODE', toId).catch(() => {});
    }
    return { keys, longestMigrateMs: longest, totalMs: Date.now() - started };
  }

  /** Waits until a master other than `old` owns `slot` and every running node agrees; returns it. */
  async waitForNewOwner(slot: number, old: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const owner = await this.owner(slot).catch(() => undefined);
      if (owner && owner !== old && (await this.agree())) return owner;
      if (Date.now() > deadline) throw new Error(`slot ${slot} has no new owner after ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Every running node says the cluster is ok and sees the same slot owners. */
  private async agree(): Promise<boolean> {
    const views = await Promise.all(
      this.nodes
        .filter((n) => n.running)
        .map(async (n) => {
          const info = (await this.client(n).call('CLUSTER', 'INFO')) as string;
          if (!/cluster_state:ok/.test(info)) return null;
          return JSON.stringify(await this.client(n).call('CLUSTER', 'SLOTS'));
        }),
    );
    return views.every((v) => v !== null && v === views[0]);
  }

  private async waitUntilSettled(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.agree()) {
        const linked = await Promise.all(
          (await this.view())
            .filter((l) => l.flags.includes('slave'))
            .map(async (l) => /master_link_status:up/.test(await this.client(this.node(l.port)).info('replication'))),
        );
        if (linked.every(Boolean)) return;
      }
      if (Date.now() > deadline) throw new Error(`the cluster did not settle within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
