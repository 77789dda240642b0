/**
 * The README as a new user follows it: the library example runs exactly as
 * printed, the run commands start the service directly, and the licence
 * the package declares is there.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { syntheticStream } from '../bench/corpus.js';
import { SAMPLE_CAPTURE } from '../src/commands/replay.js';
import { readCapture } from '../src/capture.js';
import { SETTINGS } from '../src/config.js';
import { decodeFrame } from '../src/decoder.js';
import { FakeRelay } from './support/fake-relay.js';
import { readFrames } from './support/fixtures.js';
import { RedisServer } from './support/redis.js';
import { ServiceProcess, TEST_DEFAULTS, until } from './support/service-process.js';
import { GroupWorker } from './support/workers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** The text of a `## title` section, up to the next one. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has no section "${title}"`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

function codeBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => {});
});

/** Runs the README's example as a program inside the package, so that `import 'firehose-redis'` resolves to it. */
async function runExample(env: Record<string, string>) {
  const [code] = codeBlocks(section('Use it as a library'), 'js');
  assert.ok(code, 'the library section has a js block');
  const dir = fs.mkdtempSync(path.join(ROOT, 'dist', 'readme-example-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'example.mjs');
  fs.writeFileSync(file, code);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !SETTINGS.some((s) => s.name === k)));
  const child = spawn(process.execPath, [file], { cwd: dir, env: { ...inherited, ...TEST_DEFAULTS, HTTP_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

test('the library example runs as printed: decodes, writes a capture, runs the service, stops on SIGTERM', async () => {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const redis = server.client();
  const pds = readFrames('pds-capture', 'frames.bin').map((f, i) => ({ seq: i + 1, bytes: f.bytes }));
  const relay = await FakeRelay.start(pds);
  cleanups.push(() => relay.close());
  const sample = readCapture(SAMPLE_CAPTURE);
  const lastSeq = String(decodeFrame(sample.at(-1)!.bytes).seq);

  for (const round of [1, 2]) {
    const run = await runExample({ REDIS_URL: server.url, RELAY_URL: relay.url });
    await until(() => /"msg":"connected to /.test(run.out()), 20_000, `round ${round}: the service connected\n${run.out()}\n${run.err()}`);
    if (round === 1) await until(async () => (await redis.get('firehose:python_cursor')) === String(pds.length), 10_000, 'the relay\'s frames written');
    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 0, `${run.out()}\n${run.err()}`);
    const out = run.out();
    assert.match(out, new RegExp(`^commit ${decodeFrame(sample[0]!.bytes).seq} \\{`, 'm'), 'the first frame, decoded, with data parsed from its JSON string');
    assert.match(out, new RegExp(`^stored cursor: ${round === 1 ? 'null' : lastSeq}$`, 'm'));
    assert.match(out, /^0 frames left unwritten$/m);
    assert.match(out, /"msg":"stopped cleanly/);
    assert.equal(run.err(), '');
    if (round === 2) break; // it read back the cursor the first run saved (skipping what it covers is replay.test.ts's)
    const written = [...out.matchAll(/^(\d+) entries written, cursor (\d+)$/gm)];
    assert.equal(written.reduce((n, m) => n + Number(m[1]), 0), sample.length);
    assert.equal(written.at(-1)![2], lastSeq);
    assert.equal(await redis.xlen('example:events'), sample.length);
    assert.equal(await redis.get('example:cursor'), lastSeq);
    assert.equal(await redis.get('firehose:python_cursor'), String(pds.length), 'the service wrote the relay\'s frames');
  }
});

test('the README runs the service directly: npm start (exec of the bin path), node for supervisors, npx only as a dependency', () => {
  assert.equal(PKG.bin['firehose-redis'], 'dist/src/cli.js');
  assert.equal(PKG.scripts.start, `exec node ${PKG.bin['firehose-redis']}`, 'npm hands its signals to the service itself');
  const run = section('Run it');
  const [steps] = codeBlocks(run, 'sh');
  assert.ok(steps);
  assert.match(steps, /^npm ci\b/m);
  assert.match(steps, /^npm start\b/m);
  assert.doesNotMatch(steps, /^npm run build\s*(#|$)/m, 'npm ci already compiled the addon once');
  assert.match(run, /`node \/path\/to\/firehose-redis\/dist\/src\/cli\.js`/);
  for (const block of codeBlocks(README, '[a-z]*')) assert.doesNotMatch(block, /\bnpx firehose-redis\b/);
  assert.deepEqual([...README.matchAll(/npx firehose-redis[^\n]*/g)].map((m) => m[0]), ['npx firehose-redis` runs the same file from `node_modules/.bin`.']);
});

test('LICENSE: the MIT licence that package.json declares, and npm packs it', () => {
  assert.equal(PKG.license, 'MIT');
  const license = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} .+\n\nPermission is hereby granted, free of charge,/);
  assert.match(license, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' }));
  assert.ok(packed.files.some((f: { path: string }) => f.path === 'LICENSE'));
});

test('Redis permissions: the service runs as the ACL user the README defines, with every feature that writes on', { timeout: 60_000 }, async () => {
  const [block] = codeBlocks(section('Redis permissions'), '');
  const rule = block!.trim().split(/\s+/);
  assert.deepEqual(rule.slice(0, 3), ['ACL', 'SETUSER', 'firehose']);
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  const admin = server.client();
  await admin.call('ACL', ...rule.slice(1));
  const frames = syntheticStream(readFrames('jetstream-corpus', 'frames.bin').map((f) => f.bytes), 310, 1);
  const lastSeq = String(frames.at(-1)!.seq);
  // The last 10 come once the worker has read the rest: their batch trims, whatever the timing before.
  const relay = await FakeRelay.start(frames.slice(0, 300));
  cleanups.push(() => relay.close());
  // A group to pace by and trim for, and a worker that keeps up.
  await GroupWorker.createGroup(admin, 'workers', '0');
  const worker = new GroupWorker(server.client(), 'workers', 'w1', { count: 20, everyMs: 0 }).start();
  cleanups.push(() => worker.stop());
  const svc = await ServiceProcess.start({
    env: {
      RELAY_URL: relay.url,
      REDIS_URL: `redis://firehose:change-me@127.0.0.1:${server.port}/0`,
      REDIS_MAX_STREAM_LEN: '20',
      DASHBOARD_STATUS: 'true',
      DASHBOARD_RECENT_EVENTS: 'true',
      DASHBOARD_BROADCAST: 'true',
    },
  });
  await until(async () => worker.seqs.length >= 300, 20_000, `the worker has read the first 300\n${svc.tail()}`);
  relay.append(frames.slice(300));
  await until(async () => (await admin.get('firehose:python_cursor')) === lastSeq, 20_000, `the relay's frames written\n${svc.tail()}`);
  svc.signal('SIGTERM');
  assert.equal((await svc.waitForExit()).code, 0, svc.tail());
  // Waiting for the group is a warning that this test may well cause; nothing else is.
  const warnings = svc.logs.filter((l) => l.level >= 40 && !/^paced by consumer group workers /.test(l.msg));
  assert.deepEqual(warnings.map((l) => l.msg), [], 'no other warning, no error');
  assert.equal(await admin.exists('firehose:status', 'firehose:recent_events', 'firehose:events:lease', 'firehose:events:fence'), 4);
  assert.ok((await admin.xlen('firehose:events')) <= 20 + 100, 'trimmed to about the cap');
});
