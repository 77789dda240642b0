/**
 * Single DAG-CBOR values through the addon's decodeValue: the atproto data
 * model fixtures, IPLD's generic codec fixtures, DASL's strictness cases and
 * real records. Every value also goes through the reference decoder, which
 * must give the same text or also reject.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CID } from 'multiformats/cid';
import { FirehoseError } from '../src/errors.js';
import { addon } from '../src/native.js';
import { referenceDecodeValue } from '../src/reference-decoder.js';
import { cidOf } from './support/dag.js';
import { parseJsonExact, readFixture, readJson } from './support/fixtures.js';

/** decodeValue's JSON text, checked against the reference; or the rejection message. */
function decode(bytes: Uint8Array, asRecord = false): { json: string } | { error: string } {
  let native: { json: string } | { error: string };
  try {
    native = { json: addon.decodeValue(bytes, asRecord) };
  } catch (err) {
    assert.ok(err instanceof FirehoseError && err.code === 'ERR_CBOR_INVALID', String(err));
    native = { error: err.message };
  }
  let reference: { json: string } | { error: string };
  try {
    reference = { json: referenceDecodeValue(bytes, asRecord) };
  } catch (err) {
    reference = { error: (err as Error).message };
  }
  if ('json' in native) assert.deepEqual(reference, native, 'the reference decoder disagrees');
  else assert.ok('error' in reference, `the reference decoder accepted what native rejects (${native.error})`);
  return native;
}

function accepted(bytes: Uint8Array, asRecord = false): string {
  const r = decode(bytes, asRecord);
  assert.ok('json' in r, `rejected: ${'error' in r ? r.error : ''}`);
  return r.json;
}

function rejected(bytes: Uint8Array, message: RegExp): void {
  const r = decode(bytes);
  assert.ok('error' in r, `accepted: ${'json' in r ? r.json : ''}`);
  assert.match(r.error, message);
}

describe('atproto-interop-tests data-model fixtures', () => {
  const fixtures = readJson<Array<{ json: unknown; cbor_base64: string; cid: string }>>(
    'atproto-interop-tests/data-model/data-model-fixtures.json',
  );
  test('there are 3', () => assert.equal(fixtures.length, 3));
  fixtures.forEach((f, i) => {
    test(`fixture ${i}`, () => {
      const bytes = Buffer.from(f.cbor_base64, 'base64');
      assert.deepEqual(JSON.parse(accepted(bytes)), f.json);
      assert.equal(cidOf(bytes).toString(), f.cid);
    });
  });
});

/** DAG-JSON's {"/": cid} and {"/": {"bytes": b64}} in atproto's $link/$bytes form. */
function dagJsonToAtproto(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dagJsonToAtproto);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const slash = o['/'];
  if (Object.keys(o).length === 1 && typeof slash === 'string') return { $link: slash };
  if (Object.keys(o).length === 1 && slash && typeof slash === 'object') {
    return { $bytes: String((slash as { bytes: string }).bytes).replace(/=+$/, '') };
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, dagJsonToAtproto(x)]));
}

function links(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => links(x, out));
  else if (v !== null && typeof v === 'object') {
    const slash = (v as Record<string, unknown>)['/'];
    if (typeof slash === 'string') out.push(slash);
    else Object.values(v).forEach((x) => links(x, out));
  }
  return out;
}

/** The CIDs atproto allows in data: v1, dag-cbor or raw, sha2-256 or blake3, 32-byte digest. */
function isDasl(text: string): boolean {
  const cid = CID.parse(text);
  return (
    cid.version === 1 &&
    (cid.code === 0x71 || cid.code === 0x55) &&
    (cid.multihash.code === 0x12 || cid.multihash.code === 0x1e) &&
    cid.multihash.size === 32
  );
}

describe('ipld codec-fixtures (generic DAG-CBOR)', () => {
  const fixtures = readJson<Array<{ name: string; dag_cbor_cid: string; dag_cbor_base64: string; dag_json: string }>>(
    'ipld-codec-fixtures/dag-cbor-fixtures.json',
  );
  // Policy: every value inside the atproto data model decodes exactly,
  // including 64-bit floats and integers over the whole CBOR range (as
  // bigint-exact JSON). A link that is not a DASL CID (CIDv0, identity
  // hash, dag-pb, blake2b, ...) rejects the value, naming the rule. No
  // fixture here holds NaN, Infinity or -0.
  let inside = 0;
  let outside = 0;
  for (const f of fixtures) {
    const bytes = Buffer.from(f.dag_cbor_base64, 'base64');
    const expected = parseJsonExact(f.dag_json);
    const dasl = links(expected).every(isDasl);
    if (dasl) inside++;
    else outside++;
    test(f.name, () => {
      assert.equal(cidOf(bytes).toString(), f.dag_cbor_cid);
      if (dasl) {
        assert.deepEqual(parseJsonExact(accepted(bytes)), dagJsonToAtproto(expected));
      } else {
        rejected(bytes, /^(CIDv0 is not allowed in a link|CID codec 0x[0-9a-f]+ is neither|CID hash 0x[0-9a-f]+ is neither).* at byte \d+$/);
      }
    });
  }
  test('inside and outside the data model', () => {
    assert.equal(inside, 85);
    assert.equal(outside, 43);
  });

  test('integers beyond 2^53 stay exact', () => {
    const ints = new Map(fixtures.filter((f) => f.name.startsWith('int-')).map((f) => [f.name.slice(4), f]));
    for (const n of ['18446744073709551615', '-11959030306112471732', '9223372036854775807', '-9223372036854775808', '-9007199254740993']) {
      assert.equal(accepted(Buffer.from(ints.get(n)!.dag_cbor_base64, 'base64')), n);
    }
  });

  test('negative fixture: duplicate map keys', () => {
    const [dup] = readJson<Array<{ hex: string; error: string }>>('ipld-codec-fixtures/negative/dag-cbor-decode-duplicate-keys.json');
    rejected(Buffer.from(dup!.hex, 'hex'), /^duplicate map key "foo" at byte \d+$/);
  });
});

describe('dasl-testing strict DAG-CBOR', () => {
  // Entries tagged dag-cbor, basic or dasl-cid are the atproto rules. Those
  // tagged only rfc8949, CBOR-Core, dCBOR or CDE describe other CBOR
  // profiles (some contradict DAG-CBOR, e.g. preferring 16-bit floats), so
  // they are not asserted. invalid_out cases are about encoders.
  const NORMATIVE = ['dag-cbor', 'basic', 'dasl-cid'];
  const REJECTIONS: Record<string, RegExp | Record<string, RegExp>> = {
    'cid.json': {
      'long CID tag': /^integer or length not in shortest form at byte 0$/,
      'invalid CID': /^CID of 0 bytes is too short/,
      CIDv0: /^CIDv0 is not allowed in a link/,
      'invalid hash size': /^CID is 35 bytes, a 32-byte digest makes it 36/,
      'empty CID': /^CID digest length 0 is not 32/,
      'short hash digest': /^CID digest length 31 is not 32/,
      'long hash digest': /^CID digest length 33 is not 32/,
      "CIDv1 that isn't raw or cbor": /^CID codec 0x70 is neither dag-cbor \(0x71\) nor raw \(0x55\)/,
      'disallowed hash type (SHA-1)': /^CID hash 0x11 is neither sha2-256 \(0x12\) nor blake3 \(0x1e\)/,
      'CID with no null byte': /^CID link must start with the 0x00 identity multibase prefix/,
    },
    'concat.json': /^trailing bytes after the value at byte 1$/,
    'floats.json': /^(only 64-bit floats are allowed|NaN is not allowed|Infinity is not allowed|negative zero is not allowed) at byte 0$/,
    'indefinite.json': /^indefinite-length items are not allowed at byte 0$/,
    'integer_range.json': /^tag 2 is not allowed \(only 42, a CID\) at byte 0$/,
    'map_keys.json': {
      'map with int key': /^map key is not a text string at byte 1$/,
      'map keys in incorrect order': /^map key "a" out of canonical order \(length first, then bytewise\) at byte 4$/,
      'duplicate map keys': /^duplicate map key "a" at byte 4$/,
    },
    'short_form.json': /^integer or length not in shortest form at byte 0$/,
    'simple.json': /^(undefined|simple value) is not allowed at byte 0$/,
    'tags.json': /^tag (32|55799) is not allowed \(only 42, a CID\) at byte 0$/,
    'utf8.json': /^invalid UTF-8 in text string at byte 1$/,
  };
  let rejects = 0;
  let accepts = 0;
  for (const [file, rule] of Object.entries(REJECTIONS)) {
    const cases = readJson<Array<{ type: string; data: string; name: string; tags: string[] }>>('dasl-testing', file);
    for (const c of cases.filter((c) => c.tags.some((t) => NORMATIVE.includes(t)))) {
      const bytes = Buffer.from(c.data, 'hex');
      if (c.type === 'invalid_in') {
        const message = rule instanceof RegExp ? rule : rule[c.name];
        assert.ok(message, `no expected message for ${file} ${c.name}`);
        rejects++;
        test(`${file}: rejects ${c.name}`, () => rejected(bytes, message));
      } else if (c.type === 'roundtrip') {
        accepts++;
        test(`${file}: accepts ${c.name}`, () => void accepted(bytes));
      }
    }
  }
  test('case counts', () => {
    assert.equal(rejects, 60);
    assert.equal(accepts, 23);
  });

  test('a few accepted values, exactly', () => {
    assert.equal(accepted(Buffer.from('3bffffffffffffffff', 'hex')), '-18446744073709551616');
    assert.equal(accepted(Buffer.from('fb0000000000000001', 'hex')), '5e-324');
    assert.equal(accepted(Buffer.from('630d0a09', 'hex')), '"\\r\\n\\t"');
  });
});

describe('indigo records', () => {
  test('feedpost_record.cbor equals its expected JSON', () => {
    const json = accepted(readFixture('indigo/records/feedpost_record.cbor'), true);
    assert.deepEqual(JSON.parse(json), readJson('indigo/records/feedpost_record.expected.json'));
  });

  test('post_richtext_link.cbor has the published CID and decodes as a post', () => {
    const bytes = readFixture('indigo/records/post_richtext_link.cbor');
    assert.equal(cidOf(bytes).toString(), 'bafyreigxouugvadvd2noqcqqycqatqziucpyngh6kulds5czd2752icwvi');
    const record = JSON.parse(accepted(bytes, true));
    assert.equal(record.$type, 'app.bsky.feed.post');
    assert.equal(record.facets[0].features[0].$type, 'app.bsky.richtext.facet#link');
    assert.match(record.embed.media.external.thumb.ref.$link, /^bafkrei/);
  });

  test('as a record, a value must be a map with a $type', () => {
    assert.throws(() => addon.decodeValue(Buffer.from('a0', 'hex'), true), /record has no \$type/);
    assert.throws(() => addon.decodeValue(Buffer.from('80', 'hex'), true), /record is not a map/);
    assert.throws(() => referenceDecodeValue(Buffer.from('a0', 'hex'), true), /record has no \$type/);
  });
});
