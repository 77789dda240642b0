/**
 * The CLI (`node dist/src/cli.js ...`) as a child process, the way an
 * operator runs it: environment in, JSON log lines and an exit status out.
 * Tests wait for log lines, send signals and read /healthz and /metrics;
 * every process started here is killed by stopAllServices() (call it from
 * an after/afterEach hook) if the test did not end it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after, afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config.js';
import type { Redis } from 'ioredis';
import { FakeRelay, type FakeRelayOptions, type RelayFrame } from './fake-relay.js';
import { freePort, RedisServer, type RedisServerOptions } from './redis.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** pino's numeric levels. */
export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** One parsed JSON log line; `time` is pino's epoch milliseconds. */
export interface LogLine {
  level: number;
  time: number;
  msg: string;
  [field: string]: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Settings small enough for tests; each can be overridden through env. */
export const TEST_DEFAULTS: Record<string, string> = {
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'info',
  HTTP_HOST: '127.0.0.1',
  RECONNECT_MIN_MS: '50',
  RECONNECT_MAX_MS: '400',
  STALL_TIMEOUT_MS: '1000',
  PING_INTERVAL_MS: '300',
  SHUTDOWN_TIMEOUT_MS: '3000',
  REDIS_CONNECT_TIMEOUT_MS: '500',
  REDIS_COMMAND_TIMEOUT_MS: '2000',
  REDIS_MAX_STREAM_LEN: '0',
};

export interface StartOptions {
  /** CLI arguments; none means `run`. */
  args?: string[];
  /** Settings; undefined removes a default. HTTP_PORT defaults to a free port. */
  env?: Record<string, string | undefined>;
  /** Skip TEST_DEFAULTS (bad-settings tests want only what they give). */
  bare?: boolean;
}

const running = new Set<ServiceProcess>();

type Waiter = { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void };

export class ServiceProcess {
  readonly logs: LogLine[] = [];
  /** Everything written to stdout, raw (decode prints entries there). */
  stdout = '';
  stderr = '';
  /** Resolves once the process has exited. */
  readonly exit: Promise<ExitStatus>;
  status: ExitStatus | undefined;
  readonly startedAt = Date.now();
  private partial = '';
  private waiters = new Set<Waiter>();

  private constructor(
    private readonly proc: ChildProcess,
    readonly env: Record<string, string>,
    readonly httpPort: number,
  ) {
    proc.stdout!.setEncoding('utf8');
    proc.stderr!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => this.onStdout(d));
    proc.stderr!.on('data', (d: string) => (this.stderr += d));
    this.exit = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        // stdout may still hold data after 'exit': wait for 'close' as well.
        proc.once('close', () => {
          if (this.partial) this.onLine(this.partial);
          this.partial = '';
          this.status = { code, signal };
          running.delete(this);
          resolve(this.status);
        });
      });
    });
  }

  static async start(opts: StartOptions = {}): Promise<ServiceProcess> {
    // The developer's own settings must not leak into a test.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !SETTINGS.some((s) => s.name === k)),
    ) as Record<string, string>;
    const env: Record<string, string> = { ...inherited, ...(opts.bare ? {} : TEST_DEFAULTS) };
    if (!opts.bare && !('HTTP_PORT' in (opts.env ?? {}))) env.HTTP_PORT = String(await freePort());
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    const proc = spawn(process.execPath, [CLI, ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sp = new ServiceProcess(proc, env, Number(env.HTTP_PORT ?? 0));
    running.add(sp);
    return sp;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get alive(): boolean {
    return this.status === undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private onStdout(d: string): void {
    this.stdout += d;
    const text = this.partial + d;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) this.onLine(line);
  }

  private onLine(line: string): void {
    if (!line.startsWith('{')) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    const l = parsed as LogLine;
    if (typeof l.level !== 'number' || typeof l.msg !== 'string') return;
    this.logs.push(l);
    for (const w of [...this.waiters]) {
      if (w.pred(l)) {
        this.waiters.delete(w);
        w.resolve(l);
      }
    }
  }

  /** Log lines whose message matches. */
  find(re: RegExp): LogLine[] {
    return this.logs.filter((l) => re.test(l.msg));
  }

  /** The last lines of output, for failure messages. */
  tail(n = 25): string {
    return (
      `--- last ${n} log lines of pid ${this.proc.pid} ---\n` +
      this.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n') +
      (this.stderr ? `\n--- stderr ---\n${this.stderr.slice(-4000)}` : '') +
      (this.status ? `\n--- exited: ${JSON.stringify(this.status)}` : '')
    );
  }

  /**
   * The first log line (from index `from` on) that satisfies pred: one
   * already logged, or the next one. Rejects on timeout or exit.
   */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    const seen = this.logs.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`no matching log line within ${timeoutMs} ms: ${pred.toString()}\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(w);
      void this.exit.then(() => {
        if (!this.waiters.has(w)) return;
        this.waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`exited before a matching log line: ${pred.toString()}\n${this.tail()}`));
      });
    });
  }

  /** waitForLog on the message text. */
  waitForMsg(re: RegExp, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    return this.waitForLog((l) => re.test(l.msg), timeoutMs, from);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.proc.kill(sig);
  }

  /** The exit status, or a rejection naming the deadline. */
  async waitForExit(timeoutMs = 10_000): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exit, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL and wait (no-op once exited). */
  async kill(): Promise<ExitStatus> {
    this.signal('SIGKILL');
    return this.exit;
  }

  /** GET on the service's HTTP port. */
  async http(path: string): Promise<{ status: number; body: string; json: () => any }> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}${path}`);
    const body = await res.text();
    return { status: res.status, body, json: () => JSON.parse(body) };
  }
}

/** Runs the CLI to completion (it must exit within timeoutMs). */
export async function runCli(
  args: string[],
  opts: Omit<StartOptions, 'args'> & { timeoutMs?: number } = {},
): Promise<ServiceProcess & { status: ExitStatus }> {
  const p = await ServiceProcess.start({ ...opts, args });
  try {
    await p.waitForExit(opts.timeoutMs ?? 20_000);
  } finally {
    await p.kill();
  }
  return p as ServiceProcess & { status: ExitStatus };
}

/** Kills every process started here that is still running. */
export async function stopAllServices(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/** Polls until fn returns a truthy value (or throws after timeoutMs). */
type Falsy = false | null | undefined | 0 | '';
export async function until<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition', everyMs = 25): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Exclude<T, Falsy>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * For a test file that starts services: after each test every service is
 * stopped and the cleanups pushed run, newest first (the Redis servers and
 * relays started through the kit among them). until() is the one above,
 * with the last log lines of the services pushed in its error.
 */
export function serviceTestKit() {
  const cleanups: Array<() => Promise<unknown>> = [];
  const services: ServiceProcess[] = [];
  afterEach(async () => {
    services.length = 0;
    await stopAllServices();
    while (cleanups.length) await cleanups.pop()!().catch(() => {});
  });
  after(stopAllServices);
  const untilLogged = async <T>(fn: () => Promise<T> | T, timeoutMs?: number, what?: string) => {
    try {
      return await until(fn, timeoutMs, what);
    } catch (e) {
      (e as Error).message += services.map((s) => `\n${s.tail()}`).join('');
      throw e;
    }
  };
  const redisServer = async (opts: RedisServerOptions = {}): Promise<{ server: RedisServer; redis: Redis }> => {
    const server = await RedisServer.start(opts);
    cleanups.push(() => server.stop());
    return { server, redis: server.client() };
  };
  const fakeRelay = async (frames: RelayFrame[], opts: FakeRelayOptions = {}): Promise<FakeRelay> => {
    const relay = await FakeRelay.start(frames, opts);
    cleanups.push(() => relay.close());
    return relay;
  };
  return { cleanups, services, until: untilLogged, redisServer, fakeRelay };
}
