/**
 * unknownSettings(): variables that look like settings but are not, each
 * with the setting probably meant; the rest of an environment is left alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTINGS, unknownSettings } from '../src/config.js';

const suggested = (env: Record<string, string>) => Object.fromEntries(unknownSettings(env).map((u) => [u.name, u.suggestions]));

test('slips of a setting name: the setting is named', () => {
  assert.deepEqual(
    suggested({
      REDIS_URI: 'redis://x',
      REDIS_STREAMKEY: 'k',
      redis_url: 'redis://x',
      LOGLEVEL: 'debug',
      REDSI_CURSOR_KEY: 'c',
      COLLECTION: 'app.bsky.feed.post',
      HTTP_POST: '80',
    }),
    {
      COLLECTION: ['COLLECTIONS'],
      HTTP_POST: ['HTTP_PORT', 'HTTP_HOST'],
      LOGLEVEL: ['LOG_LEVEL'],
      REDIS_STREAMKEY: ['REDIS_STREAM_KEY'],
      REDIS_URI: ['REDIS_URL'],
      REDSI_CURSOR_KEY: ['REDIS_CURSOR_KEY'],
      redis_url: ['REDIS_URL'],
    },
  );
  const [u] = unknownSettings({ REDIS_URI: 'redis://secret@host' });
  assert.equal(u!.message, 'REDIS_URI is not a setting and is ignored: did you mean REDIS_URL?');
  assert.doesNotMatch(u!.message, /secret/, 'values are never repeated');
});

test('our prefixes: the closest setting of the family, or REDIS_URL for the parts of a Redis address', () => {
  const found = Object.fromEntries(
    unknownSettings({ REDIS_MAXLEN: '10', REDIS_PASSWORD: 'pw', REDIS_HOST: 'h', DASHBOARD_RECENT: 'true', REDIS_FOO: '1' }).map((u) => [u.name, u]),
  );
  assert.deepEqual(found.REDIS_MAXLEN!.suggestions, ['REDIS_MAX_STREAM_LEN']);
  assert.deepEqual(found.DASHBOARD_RECENT!.suggestions, ['DASHBOARD_RECENT_EVENTS']);
  for (const name of ['REDIS_PASSWORD', 'REDIS_HOST']) {
    assert.deepEqual(found[name]!.suggestions, ['REDIS_URL']);
    assert.match(found[name]!.message, /go in REDIS_URL \(redis:\/\/user:password@host:port\/db\)$/);
  }
  // Nothing closer to go by: the family is listed.
  const family = SETTINGS.map((s) => s.name).filter((n) => n.startsWith('REDIS_'));
  assert.deepEqual(found.REDIS_FOO!.suggestions, family);
  assert.match(found.REDIS_FOO!.message, /the REDIS_ settings are REDIS_URL, /);
});

test('an ordinary environment, the settings themselves and other programs\' conventions: no warning', () => {
  const env: Record<string, string> = {
    PATH: '/usr/bin',
    HOME: '/root',
    HOSTNAME: 'box',
    LOGNAME: 'root',
    USER: 'root',
    LANG: 'C.UTF-8',
    TERM: 'xterm',
    SHELL: '/bin/bash',
    NODE_ENV: 'production',
    NODE_OPTIONS: '--enable-source-maps',
    npm_config_cache: '/root/.npm',
    npm_lifecycle_event: 'start',
    INIT_CWD: '/app',
    HTTP_PROXY: 'http://proxy:3128',
    https_proxy: 'http://proxy:3128',
    NO_PROXY: 'localhost',
    // Kubernetes service links for a Service named "redis".
    REDIS_SERVICE_HOST: '10.0.0.5',
    REDIS_SERVICE_PORT: '6379',
    REDIS_PORT: 'tcp://10.0.0.5:6379',
    REDIS_PORT_6379_TCP: 'tcp://10.0.0.5:6379',
    REDIS_PORT_6379_TCP_ADDR: '10.0.0.5',
    REDIS_PORT_6379_TCP_PORT: '6379',
    REDIS_PORT_6379_TCP_PROTO: 'tcp',
  };
  for (const s of SETTINGS) env[s.name] = s.default;
  assert.deepEqual(unknownSettings(env), []);
  // A REDIS_PORT a person set is ours to warn about.
  assert.deepEqual(suggested({ REDIS_PORT: '6380' }), { REDIS_PORT: ['REDIS_URL'] });
});

test('a setting added to SETTINGS is known at once', () => {
  const added = { name: 'REDIS_SOMETHING_NEW', default: '', doc: 'for this test' };
  (SETTINGS as unknown as Array<typeof added>).push(added);
  try {
    assert.deepEqual(unknownSettings({ REDIS_SOMETHING_NEW: 'x' }), []);
    assert.deepEqual(suggested({ REDIS_SOMETHING_NWE: 'x' }), { REDIS_SOMETHING_NWE: ['REDIS_SOMETHING_NEW'] });
  } finally {
    (SETTINGS as unknown as Array<typeof added>).pop();
  }
});
