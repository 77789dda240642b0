/**
 * A redis-server of the test's own, on a free loopback port in a temporary
 * directory, that the test can kill and restart (same port, same data) to
 * make faults happen. stop() removes everything it made.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServerOptions {
  /** AOF with appendfsync always, so a SIGKILL loses nothing acknowledged. */
  appendonly?: boolean;
  /** appendfsync (default always); a host crash under everysec loses up to a second or two. */
  appendfsync?: 'always' | 'everysec';
  /**
   * Before every start, `redis-check-aof --fix` the AOF, as a container
   * entrypoint would: a torn transaction is cut before its MULTI, which
   * Redis itself does not do (see README, Redis durability).
   */
  checkAofAtStart?: boolean;
  requirepass?: string;
  /** Extra redis-server arguments, e.g. ['--maxmemory', '2mb']. */
  args?: string[];
  /** This port instead of a free one (topologies that name each other before they start). */
  port?: number;
  /** Run as a sentinel with these configuration lines (sentinel.conf in its directory, rewritten by it). */
  sentinel?: string[];
  /** The server program: redis-server (default) or valkey-server, which takes the same arguments. */
  binary?: string;
}

/** The servers that suites parametrized over "Redis and Valkey" run against: Debian 12's, and bookworm-backports'. */
export const SERVERS = [
  { name: 'redis-server 7.0', binary: 'redis-server' },
  { name: 'valkey-server 8', binary: 'valkey-server' },
] as const;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** 'pong', 'loading' (accepting connections, still loading its data), or false. */
export function ping(port: number, password?: string): Promise<'pong' | 'loading' | false> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (r: 'pong' | 'loading' | false) => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.on('connect', () => sock.write((password ? `AUTH ${password}\r\n` : '') + 'PING\r\n'));
    sock.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('+PONG')) done('pong');
      else if (answer.includes('-LOADING')) done('loading');
    });
  });
}

// A test that dies early must not leave servers behind.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class RedisServer {
  private proc: ChildProcess | undefined;
  private readonly clients: Redis[] = [];

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: RedisServerOptions,
  ) {}

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-test-'));
    const server = new RedisServer(opts.port ?? (await freePort()), dir, opts);
    await server.launch();
    return server;
  }

  /** REDIS_URL for this server (with the password when there is one). */
  get url(): string {
    return `redis://${this.opts.requirepass ? `:${encodeURIComponent(this.opts.requirepass)}@` : ''}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The multi-part AOF's directory (appenddirname). */
  get aofDir(): string {
    return path.join(this.dir, 'appendonlydir');
  }

  /** The server's own log. */
  log(): string {
    return fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8');
  }

  private checkAof(): void {
    const manifest = path.join(this.aofDir, 'appendonly.aof.manifest');
    if (!fs.existsSync(manifest)) return;
    const r = spawnSync('redis-check-aof', ['--fix', manifest], { input: 'y\n', encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`redis-check-aof --fix failed: ${r.stdout}${r.stderr}`);
  }

  /** until: 'ready' waits for PONG; 'loading' returns as soon as the server answers at all. */
  private async launch(extraArgs: string[] = [], until: 'ready' | 'loading' = 'ready'): Promise<void> {
    if (this.opts.checkAofAtStart) this.checkAof();
    const conf = path.join(this.dir, 'sentinel.conf');
    // A sentinel keeps its state in its file: write it only the first time.
    if (this.opts.sentinel && !fs.existsSync(conf)) fs.writeFileSync(conf, this.opts.sentinel.join('\n') + '\n');
    const args = [
      ...(this.opts.sentinel ? [conf, '--sentinel'] : []),
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--daemonize', 'no',
      '--logfile', path.join(this.dir, 'redis.log'),
      '--appendonly', this.opts.appendonly ? 'yes' : 'no',
      '--appendfsync', this.opts.appendfsync ?? 'always',
      ...(this.opts.requirepass ? ['--requirepass', this.opts.requirepass] : []),
      ...(this.opts.args ?? []),
      ...extraArgs,
    ];
    const binary = this.opts.binary ?? 'redis-server';
    // Not the sanitizer runtimes that test:sanitize preloads for the addon:
    // valkey-server's jemalloc crashes under them.
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    delete env.ASAN_OPTIONS;
    const proc = spawn(binary, args, { stdio: 'ignore', env });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    this.proc = proc;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${binary} exited at start; see ${path.join(this.dir, 'redis.log')}`);
      const r = await ping(this.port, this.opts.requirepass);
      if (r === 'pong' || (r === 'loading' && until === 'loading')) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${binary} on port ${this.port} did not answer within 10 s`);
  }

  /** An ioredis client, closed by stop(). */
  client(): Redis {
    const c = new Redis({ port: this.port, host: '127.0.0.1', password: this.opts.requirepass, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  /** Kills the server (SIGKILL by default) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill(signal);
    await exited;
  }

  /** Sends a signal that does not end it (SIGSTOP, SIGCONT). */
  signal(sig: NodeJS.Signals): void {
    if (this.running) this.proc!.kill(sig);
  }

  /** Starts it again on the same port with the same data directory. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /**
   * Starts a killed server again (after the test changed its files), with
   * these extra arguments this time; until 'loading' returns once it
   * answers, before it has loaded its data.
   */
  async startAgain(extraArgs: string[] = [], until: 'ready' | 'loading' = 'ready'): Promise<void> {
    if (this.running) throw new Error('redis-server is still running');
    await this.launch(extraArgs, until);
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
