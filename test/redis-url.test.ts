/**
 * REDIS_URL: every accepted form, the defaults, every refusal, and the
 * password kept out of error messages and logs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FirehoseError } from '../src/errors.js';
import { parseRedisUrl, redactRedisUrl } from '../src/redis-url.js';

test('redis://host:port with the defaults: port 6379, db 0, no TLS, no credentials', () => {
  assert.deepEqual(parseRedisUrl('redis://localhost:6379'), { host: 'localhost', port: 6379, db: 0, tls: false });
  assert.deepEqual(parseRedisUrl('redis://redis.internal'), { host: 'redis.internal', port: 6379, db: 0, tls: false });
  assert.deepEqual(parseRedisUrl('redis://10.0.0.7:7000/'), { host: '10.0.0.7', port: 7000, db: 0, tls: false });
  // The scheme in any case; the host as written (DNS does not care).
  assert.deepEqual(parseRedisUrl('REDIS://Cache.Example:6380'), { host: 'Cache.Example', port: 6380, db: 0, tls: false });
});

test('rediss:// sets the TLS flag', () => {
  assert.deepEqual(parseRedisUrl('rediss://cache.example:6380'), { host: 'cache.example', port: 6380, db: 0, tls: true });
  assert.equal(parseRedisUrl('rediss://cache.example').port, 6379);
});

test('the database from the path', () => {
  assert.equal(parseRedisUrl('redis://h:6379/0').db, 0);
  assert.equal(parseRedisUrl('redis://h:6379/2').db, 2);
  assert.equal(parseRedisUrl('redis://h/15').db, 15);
  assert.equal(parseRedisUrl('redis://h/2147483647').db, 2 ** 31 - 1);
});

test('user and password, percent-decoded', () => {
  assert.deepEqual(parseRedisUrl('redis://alice:s3cret@h:6379/1'), { host: 'h', port: 6379, db: 1, tls: false, username: 'alice', password: 's3cret' });
  const t = parseRedisUrl('redis://us%40er:p%40ss%3Aw%2Frd%25%23%3F@h');
  assert.equal(t.username, 'us@er');
  assert.equal(t.password, 'p@ss:w/rd%#?');
  // The password alone (requirepass), or the user alone.
  const p = parseRedisUrl('redis://:pw@h');
  assert.equal(p.password, 'pw');
  assert.equal('username' in p, false);
  const u = parseRedisUrl('redis://bob@h');
  assert.equal(u.username, 'bob');
  assert.equal('password' in u, false);
  assert.equal(parseRedisUrl('redis://:%C3%A9t%C3%A9@h').password, 'été');
});

test('IPv6 hosts come out without brackets', () => {
  assert.deepEqual(parseRedisUrl('redis://[::1]:6380/3'), { host: '::1', port: 6380, db: 3, tls: false });
  assert.equal(parseRedisUrl('redis://[2001:db8::7]').host, '2001:db8::7');
  assert.equal(parseRedisUrl('rediss://u:p@[fe80::1]:7000').host, 'fe80::1');
});

test('unix:// sockets: path, ?db=N, credentials', () => {
  assert.deepEqual(parseRedisUrl('unix:///var/run/redis/redis.sock'), { path: '/var/run/redis/redis.sock', db: 0, tls: false });
  assert.deepEqual(parseRedisUrl('unix:///tmp/redis.sock?db=2'), { path: '/tmp/redis.sock', db: 2, tls: false });
  assert.deepEqual(parseRedisUrl('unix:///tmp/my%20redis.sock'), { path: '/tmp/my redis.sock', db: 0, tls: false });
  // unix://[[user][:password]@]/path, as the module documents.
  assert.deepEqual(parseRedisUrl('unix://alice:p%2Fw@/tmp/redis.sock?db=4'), { path: '/tmp/redis.sock', db: 4, tls: false, username: 'alice', password: 'p/w' });
  assert.deepEqual(parseRedisUrl('unix://:pw@/tmp/redis.sock'), { path: '/tmp/redis.sock', db: 0, tls: false, password: 'pw' });
});

const PASSWORD = 'Sup3rSecretPw';

/** Throws FirehoseError ERR_CONFIG, one line, starting with REDIS_URL, matching `re`, without the password. */
function refused(url: string, re: RegExp): void {
  assert.throws(
    () => parseRedisUrl(url),
    (e: unknown) => {
      assert.ok(e instanceof FirehoseError, `${url}: a FirehoseError`);
      assert.equal(e.code, 'ERR_CONFIG');
      assert.match(e.message, /^REDIS_URL /, url);
      assert.match(e.message, re, url);
      assert.doesNotMatch(e.message, /\n/);
      for (const part of [PASSWORD, PASSWORD.slice(0, 6), PASSWORD.slice(-6)]) {
        assert.ok(!e.message.includes(part), `${url}: the message shows the password: ${e.message}`);
      }
      return true;
    },
  );
}

test('refused: unknown schemes', () => {
  refused(`http://u:${PASSWORD}@h:6379`, /unknown scheme "http:"/);
  refused(`tcp://h:6379`, /unknown scheme/);
  refused('localhost:6379', /unknown scheme/); // the scheme forgotten
  refused(`valkey://:${PASSWORD}@h`, /use redis:\/\/, rediss:\/\/ or unix:\/\//);
});

test('refused: not a URL at all', () => {
  refused('', /not a URL/);
  refused('just some words', /not a URL/);
  refused(`redis://u:${PASSWORD}@h:99999`, /not a URL/); // port out of range
  refused(`redis://u:${PASSWORD}@:6379`, /not a URL/); // credentials, no host
});

test('refused: a database that is not a number or out of range', () => {
  refused(`redis://u:${PASSWORD}@h/abc`, /database "abc" is not a number/);
  refused(`redis://:${PASSWORD}@h/-1`, /not a number/);
  refused(`redis://:${PASSWORD}@h/1.5`, /not a number/);
  refused(`redis://:${PASSWORD}@h/2/3`, /not a number/);
  refused(`redis://:${PASSWORD}@h/2147483648`, /out of range/);
  refused(`unix://:${PASSWORD}@/tmp/r.sock?db=x`, /database "x" is not a number/);
});

test('refused: no host, no socket path', () => {
  refused('redis://', /names no host/);
  refused('rediss://:6379', /names no host|not a URL/);
  refused('unix://', /names no socket path/);
  refused('unix:///', /names no socket path/);
});

test('refused: malformed percent-escapes, without echoing the part', () => {
  refused(`redis://u:${PASSWORD}%zz@h`, /malformed percent-escape in its password/);
  refused(`redis://u%zz:${PASSWORD}@h`, /malformed percent-escape in its user name/);
});

test('refused: an unescaped "/", "?" or "#" in the password, without any of it in the message', () => {
  // new URL() reads "default:123" as host:port and the rest of the password as the path.
  refused(`redis://default:123/${PASSWORD}@h:6379`, /percent-encode/);
  refused(`redis://default:123?${PASSWORD}@h:6379`, /percent-encode/);
  refused(`redis://default:123#${PASSWORD}@h:6379`, /percent-encode/);
});

test('refused: query parameters on redis://, unknown ones on unix://, port 0', () => {
  const refused = (url: string, message: RegExp) =>
    assert.throws(() => parseRedisUrl(url), (e: unknown) => e instanceof FirehoseError && e.code === 'ERR_CONFIG' && message.test(e.message));
  refused('redis://h?db=3', /^REDIS_URL takes no query parameters: put the database in the path, redis:\/\/host:6379\/<db>$/);
  refused('redis://h:0', /^REDIS_URL has port 0/);
  refused('unix:///tmp/r.sock?foo=1', /^REDIS_URL has an unknown parameter "foo"/);
  refused('unix:///tmp/r.sock?db=x', /^REDIS_URL database "x" is not a number \(unix:\/\/\/path\/to\/redis\.sock\?db=0\)$/);
});

test('redactRedisUrl: the password replaced, everything else kept', () => {
  assert.equal(redactRedisUrl(`redis://alice:${PASSWORD}@h:6379/2`), 'redis://alice:***@h:6379/2');
  assert.equal(redactRedisUrl(`redis://:${PASSWORD}@h`), 'redis://:***@h');
  assert.equal(redactRedisUrl(`rediss://u:${encodeURIComponent('p@ss/w')}@[::1]:7000`), 'rediss://u:***@[::1]:7000');
  assert.equal(redactRedisUrl(`unix://u:${PASSWORD}@/tmp/redis.sock?db=1`), 'unix://u:***@/tmp/redis.sock?db=1');
  assert.equal(redactRedisUrl('redis://localhost:6379'), 'redis://localhost:6379');
  assert.equal(redactRedisUrl('redis://bob@h'), 'redis://bob@h', 'a user name is not a secret');
  assert.equal(redactRedisUrl('unix:///tmp/redis.sock'), 'unix:///tmp/redis.sock');
  for (const bad of [`not a url ${PASSWORD}`, `redis://u:${PASSWORD}@h:99999`, `redis://default:123/${PASSWORD}@h`]) {
    const r = redactRedisUrl(bad);
    assert.ok(!r.includes(PASSWORD) && !r.includes(PASSWORD.slice(-6)), `${bad} -> ${r}`);
  }
  assert.equal(redactRedisUrl('::::'), '(unparsable REDIS_URL)');
});
