/**
 * loadConfig(): the defaults the contract fixes, every refusal (FirehoseError
 * ERR_CONFIG, one line starting with the variable's name), the list
 * settings, relay de-duplication, cursorKeyFor(), and the README's settings
 * table against SETTINGS.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SETTINGS, cursorKeyFor, loadConfig } from '../src/config.js';
import { FirehoseError } from '../src/errors.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('defaults: the table of CONTRACT.md', () => {
  const c = loadConfig({});
  assert.deepEqual(c.relayUrls, ['wss://bsky.network']);
  assert.equal(c.redisUrl, 'redis://localhost:6379');
  assert.deepEqual(c.redis, { host: 'localhost', port: 6379, db: 0, tls: false });
  assert.equal(c.streamKey, 'firehose:events');
  assert.equal(c.cursorKey, 'firehose:python_cursor');
  assert.equal(c.maxStreamLen, 500000);
  const byName = Object.fromEntries(SETTINGS.map((s) => [s.name, s.default]));
  assert.deepEqual(
    ['RELAY_URL', 'REDIS_URL', 'REDIS_STREAM_KEY', 'REDIS_CURSOR_KEY', 'REDIS_MAX_STREAM_LEN'].map((n) => byName[n]),
    ['wss://bsky.network', 'redis://localhost:6379', 'firehose:events', 'firehose:python_cursor', '500000'],
  );
});

test('defaults: the rest as SETTINGS says, contract-safe choices', () => {
  const c = loadConfig({});
  const byName = Object.fromEntries(SETTINGS.map((s) => [s.name, s.default]));
  assert.deepEqual(c.collections, [], 'no filter: every op');
  assert.equal(c.emitSync, false, '#sync entries are opt-in');
  assert.equal(c.emitInfo, false, '#info entries are opt-in');
  assert.equal(c.batchMaxEvents, Number(byName.BATCH_MAX_EVENTS));
  assert.equal(c.batchMaxBytes, Number(byName.BATCH_MAX_BYTES));
  assert.equal(c.queueMaxBytes, Number(byName.QUEUE_MAX_BYTES));
  assert.equal(c.maxMessageBytes, 5 * 1024 * 1024);
  assert.equal(c.maxBlocksBytes, 2 * 1024 * 1024);
  assert.equal(c.maxCommitOps, 200);
  assert.equal(c.logLevel, 'info');
  assert.equal(c.logFormat, 'auto');
  assert.equal(c.httpPort, 8080);
  assert.equal(c.dashboardStatus, true);
  assert.equal(c.dashboardRecentEvents, false);
  assert.equal(c.dashboardBroadcast, false);
  // Every setting has a unique name and a doc line.
  assert.equal(new Set(SETTINGS.map((s) => s.name)).size, SETTINGS.length);
  for (const s of SETTINGS) assert.ok(s.doc.length > 10 && !s.doc.includes('\n'), s.name);
});

test('values are read, trimmed; blank means the default', () => {
  const c = loadConfig({
    RELAY_URL: ' wss://relay.example.com/ ',
    REDIS_URL: 'redis://:pw@cache:6380/2',
    REDIS_STREAM_KEY: 'my:events',
    REDIS_CURSOR_KEY: '  my:cursor',
    REDIS_MAX_STREAM_LEN: '0',
    HTTP_PORT: '0',
    LOG_LEVEL: 'DEBUG',
    LOG_FORMAT: 'Json',
    BATCH_MAX_EVENTS: '   ',
  });
  assert.deepEqual(c.relayUrls, ['wss://relay.example.com']);
  assert.deepEqual(c.redis, { host: 'cache', port: 6380, db: 2, tls: false, password: 'pw' });
  assert.equal(c.streamKey, 'my:events');
  assert.equal(c.cursorKey, 'my:cursor');
  assert.equal(c.maxStreamLen, 0);
  assert.equal(c.httpPort, 0);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.logFormat, 'json');
  assert.equal(c.batchMaxEvents, 1000, "blank means the default");
});

test('booleans: true/1/yes/on and false/0/no/off, any case', () => {
  for (const v of ['true', '1', 'yes', 'on', 'TRUE', 'On']) assert.equal(loadConfig({ DASHBOARD_BROADCAST: v }).dashboardBroadcast, true, v);
  for (const v of ['false', '0', 'no', 'off', 'FALSE', 'Off']) assert.equal(loadConfig({ DASHBOARD_STATUS: v }).dashboardStatus, false, v);
});

test('COLLECTIONS: NSIDs and prefixes, comma-separated', () => {
  assert.deepEqual(loadConfig({ COLLECTIONS: 'app.bsky.feed.post' }).collections, ['app.bsky.feed.post']);
  assert.deepEqual(
    loadConfig({ COLLECTIONS: ' app.bsky.feed.post , app.bsky.graph.*,,com.example.x-y ' }).collections,
    ['app.bsky.feed.post', 'app.bsky.graph.*', 'com.example.x-y'],
  );
  assert.deepEqual(loadConfig({ COLLECTIONS: '*' }).collections, ['*']);
  assert.deepEqual(loadConfig({ COLLECTIONS: '' }).collections, []);
});

test('EXTRA_TYPES: sync, info', () => {
  assert.deepEqual([loadConfig({ EXTRA_TYPES: 'sync' }).emitSync, loadConfig({ EXTRA_TYPES: 'sync' }).emitInfo], [true, false]);
  const both = loadConfig({ EXTRA_TYPES: 'info, sync' });
  assert.deepEqual([both.emitSync, both.emitInfo], [true, true]);
});

test('RELAY_URLS: fallbacks after RELAY_URL, duplicates dropped', () => {
  const c = loadConfig({
    RELAY_URL: 'wss://a.example',
    RELAY_URLS: 'wss://b.example, wss://a.example/ ,wss://b.example,ws://c.example:8080/',
  });
  assert.deepEqual(c.relayUrls, ['wss://a.example', 'wss://b.example', 'ws://c.example:8080']);
  assert.deepEqual(loadConfig({ RELAY_URLS: 'wss://bsky.network' }).relayUrls, ['wss://bsky.network']);
});

test('cursorKeyFor: REDIS_CURSOR_KEY for the first relay, one key per fallback host', () => {
  const c = loadConfig({ RELAY_URL: 'wss://a.example', RELAY_URLS: 'wss://b.example,ws://c.example:8080', REDIS_CURSOR_KEY: 'cur' });
  assert.equal(cursorKeyFor(c, 0), 'cur');
  assert.equal(cursorKeyFor(c, 1), 'cur:b.example');
  assert.equal(cursorKeyFor(c, 2), 'cur:c.example:8080');
  assert.equal(cursorKeyFor(loadConfig({}), 0), 'firehose:python_cursor', 'the existing producer\'s key, unchanged');
});

/** loadConfig(env) throws FirehoseError ERR_CONFIG, one line, starting with `name`. */
function refused(env: Record<string, string>, name: string, re?: RegExp): void {
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => {
      const what = JSON.stringify(env);
      assert.ok(e instanceof FirehoseError, `${what}: a FirehoseError, got ${e}`);
      assert.equal(e.code, 'ERR_CONFIG', what);
      assert.ok(e.message.startsWith(`${name} `), `${what}: "${e.message}" does not start with ${name}`);
      assert.doesNotMatch(e.message, /\n/, `${what}: one line`);
      if (re) assert.match(e.message, re, what);
      return true;
    },
  );
}

test('every bad value: ERR_CONFIG, one line, starting with the variable', () => {
  refused({ RELAY_URL: 'bsky.network' }, 'RELAY_URL');
  refused({ RELAY_URL: 'not a url' }, 'RELAY_URL', /not a URL/);
  refused({ RELAY_URL: 'https://bsky.network' }, 'RELAY_URL', /wss:\/\/ or ws:\/\//);
  refused({ RELAY_URL: 'wss://bsky.network?cursor=5' }, 'RELAY_URL', /query/);
  refused({ RELAY_URL: 'wss://bsky.network#x' }, 'RELAY_URL');
  refused({ RELAY_URLS: 'wss://ok.example,http://bad.example' }, 'RELAY_URLS');
  refused({ REDIS_URL: 'http://localhost:6379' }, 'REDIS_URL', /scheme/);
  refused({ REDIS_URL: 'redis://localhost:6379/x' }, 'REDIS_URL', /database/);
  refused({ REDIS_STREAM_KEY: 'my events' }, 'REDIS_STREAM_KEY', /white space/);
  refused({ REDIS_CURSOR_KEY: 'a\tb' }, 'REDIS_CURSOR_KEY', /white space/);
  for (const v of ['-1', 'abc', '1.5', '1e6', '500k']) refused({ REDIS_MAX_STREAM_LEN: v }, 'REDIS_MAX_STREAM_LEN');
  refused({ COLLECTIONS: 'app.bsky.feed.post,not a collection' }, 'COLLECTIONS', /not a collection/);
  refused({ COLLECTIONS: 'app.*.post' }, 'COLLECTIONS');
  refused({ COLLECTIONS: 'app.bsky.feed.post/rkey' }, 'COLLECTIONS');
  refused({ EXTRA_TYPES: 'sync,commit' }, 'EXTRA_TYPES', /commit/);
  refused({ BATCH_MAX_EVENTS: '0' }, 'BATCH_MAX_EVENTS');
  refused({ BATCH_MAX_EVENTS: '100001' }, 'BATCH_MAX_EVENTS');
  refused({ BATCH_MAX_BYTES: '1023' }, 'BATCH_MAX_BYTES');
  refused({ REDIS_TRIM: 'blind' }, 'REDIS_TRIM', /groups, maxlen/);
  refused({ PACE_STALE_AFTER_MS: '10' }, 'PACE_STALE_AFTER_MS', /1000/);
  refused({ RELAY_REPLAY_WINDOW_MS: '72h' }, 'RELAY_REPLAY_WINDOW_MS');
  refused({ INSTANCE_ID: 'two words' }, 'INSTANCE_ID', /white space/);
  refused({ LEASE_TTL_MS: '100' }, 'LEASE_TTL_MS', /500/);
  refused({ REDIS_RETRY_MIN_MS: '0' }, 'REDIS_RETRY_MIN_MS');
  refused({ REDIS_RETRY_MIN_MS: '500', REDIS_RETRY_MAX_MS: '100' }, 'REDIS_RETRY_MAX_MS', /REDIS_RETRY_MIN_MS/);
  refused({ REDIS_SENTINELS: 'sentinel-a' }, 'REDIS_SENTINELS', /host:port/);
  refused({ REDIS_SENTINELS: 'a:26379' }, 'REDIS_SENTINEL_NAME', /master/);
  refused({ REDIS_SENTINEL_NAME: 'mymaster' }, 'REDIS_SENTINEL_NAME', /REDIS_SENTINELS/);
  refused({ REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'unix:///tmp/r.sock' }, 'REDIS_SENTINELS', /unix/);
  refused({ QUEUE_MAX_BYTES: String((1 << 20) - 1) }, 'QUEUE_MAX_BYTES');
  refused({ STALL_TIMEOUT_MS: '99' }, 'STALL_TIMEOUT_MS');
  refused({ PING_INTERVAL_MS: 'often' }, 'PING_INTERVAL_MS');
  refused({ RECONNECT_MIN_MS: '0' }, 'RECONNECT_MIN_MS');
  refused({ RECONNECT_MIN_MS: '5000', RECONNECT_MAX_MS: '1000' }, 'RECONNECT_MAX_MS', /RECONNECT_MIN_MS/);
  refused({ SHUTDOWN_TIMEOUT_MS: '-5' }, 'SHUTDOWN_TIMEOUT_MS');
  refused({ REDIS_CONNECT_TIMEOUT_MS: '0' }, 'REDIS_CONNECT_TIMEOUT_MS');
  refused({ REDIS_COMMAND_TIMEOUT_MS: 'x' }, 'REDIS_COMMAND_TIMEOUT_MS');
  refused({ MAX_MESSAGE_BYTES: '100' }, 'MAX_MESSAGE_BYTES');
  refused({ MAX_MESSAGE_BYTES: '1048576', MAX_BLOCKS_BYTES: '2097152' }, 'MAX_BLOCKS_BYTES');
  refused({ MAX_COMMIT_OPS: '0' }, 'MAX_COMMIT_OPS');
  refused({ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /verbose/);
  refused({ LOG_FORMAT: 'xml' }, 'LOG_FORMAT');
  refused({ HTTP_PORT: '65536' }, 'HTTP_PORT');
  refused({ HTTP_PORT: 'eighty' }, 'HTTP_PORT');
  refused({ DASHBOARD_STATUS: 'maybe' }, 'DASHBOARD_STATUS', /true or false/);
  refused({ DASHBOARD_RECENT_EVENTS: '2' }, 'DASHBOARD_RECENT_EVENTS');
  refused({ DASHBOARD_BROADCAST: 'y' }, 'DASHBOARD_BROADCAST');
});

test('the REDIS_TLS_* files: only with rediss://, must exist, certificate and key together', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-config-test-'));
  try {
    const file = path.join(dir, 'ca.pem');
    fs.writeFileSync(file, 'not really a certificate\n');
    refused({ REDIS_TLS_CA_FILE: file }, 'REDIS_TLS_CA_FILE', /rediss:\/\//);
    refused({ REDIS_URL: 'rediss://h', REDIS_TLS_CA_FILE: path.join(dir, 'missing.pem') }, 'REDIS_TLS_CA_FILE', /does not exist/);
    refused({ REDIS_URL: 'rediss://h', REDIS_TLS_CERT_FILE: file }, 'REDIS_TLS_CERT_FILE', /REDIS_TLS_KEY_FILE/);
    const c = loadConfig({ REDIS_URL: 'rediss://h', REDIS_TLS_CA_FILE: file });
    assert.equal(c.redis.tls, true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the password of REDIS_URL never shows in a configuration error', () => {
  const secret = 'VeryS3cretPassw0rd';
  for (const url of [`redis://u:${secret}@h/abc`, `ftp://u:${secret}@h`, `redis://u:${secret}%zz@h`, `redis://u:123/${secret}@h`]) {
    assert.throws(
      () => loadConfig({ REDIS_URL: url }),
      (e: unknown) => e instanceof FirehoseError && e.message.startsWith('REDIS_URL ') && !e.message.includes(secret),
    );
  }
});

test('README.md documents every entry of SETTINGS, with its default', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const line of readme.split('\n')) {
    const m = /^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/.exec(line);
    if (m) rows.set(m[1]!, line);
  }
  const missing = SETTINGS.filter((s) => !rows.has(s.name)).map((s) => s.name);
  assert.deepEqual(missing, [], 'settings missing from the README table');
  const unknown = [...rows.keys()].filter((name) => !SETTINGS.some((s) => s.name === name));
  assert.deepEqual(unknown, [], 'README documents settings that do not exist');
  for (const s of SETTINGS) {
    if (s.default !== '') assert.ok(rows.get(s.name)!.includes(`\`${s.default}\``), `README gives ${s.name} another default than ${s.default}: ${rows.get(s.name)}`);
  }
});
