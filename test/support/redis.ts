/**
 * A redis-server of the test's own, on a free loopback port in a temporary
 * directory, that the test can kill and restart (same port, same data) to
 * make faults happen. stop() removes everything it made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServerOptions {
  /** AOF with appendfsync always, so a SIGKILL loses nothing acknowledged. */
  appendonly?: boolean;
  requirepass?: string;
  /** Extra redis-server arguments, e.g. ['--maxmemory', '2mb']. */
  args?: string[];
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

function ping(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let answer = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.on('connect', () => sock.write((password ? `AUTH ${password}\r\n` : '') + 'PING\r\n'));
    sock.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('+PONG')) done(true);
      else if (answer.includes('-LOADING')) done(false);
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
    const server = new RedisServer(await freePort(), dir, opts);
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

  private async launch(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--daemonize', 'no',
      '--logfile', path.join(this.dir, 'redis.log'),
      '--appendonly', this.opts.appendonly ? 'yes' : 'no',
      '--appendfsync', 'always',
      ...(this.opts.requirepass ? ['--requirepass', this.opts.requirepass] : []),
      ...(this.opts.args ?? []),
    ];
    const binary = this.opts.binary ?? 'redis-server';
    const proc = spawn(binary, args, { stdio: 'ignore' });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    this.proc = proc;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${binary} exited at start; see ${path.join(this.dir, 'redis.log')}`);
      if (await ping(this.port, this.opts.requirepass)) return;
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

  /** Starts it again on the same port with the same data directory. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
