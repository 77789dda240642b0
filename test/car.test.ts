/**
 * CAR v1 reading (the addon's readCar): real repo exports and firehose
 * blocks, the TypeScript implementation's fixture, and go-car's edge cases.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { CID } from 'multiformats/cid';
import { FirehoseError } from '../src/errors.js';
import { addon } from '../src/native.js';
import { sha256 } from './support/dag.js';
import { fixture, readFixture, readJson } from './support/fixtures.js';

type Car = ReturnType<typeof addon.readCar>;

function readCar(...parts: string[]): Car {
  const car = addon.readCar(readFixture(...parts));
  assertHashes(car);
  return car;
}

/** Blocks are not verified while reading, so check here that the fixtures hash to their CIDs. */
function assertHashes(car: Car): number {
  let checked = 0;
  for (const b of car.blocks) {
    const cid = CID.parse(b.cid);
    if (cid.multihash.code !== 0x12) continue;
    assert.deepEqual(Buffer.from(cid.multihash.digest), sha256(b.data), `block ${b.cid}`);
    checked++;
  }
  return checked;
}

function block(car: Car, cid: string): Buffer {
  const b = car.blocks.find((x) => x.cid === cid);
  assert.ok(b, `block ${cid} not in the CAR`);
  return b.data;
}

/** Records are the blocks that decode as a map with a $type. */
function records(car: Car): Array<{ cid: string; $type: string }> {
  return car.blocks.flatMap((b) => {
    try {
      return [{ cid: b.cid, $type: JSON.parse(addon.decodeValue(b.data, true)).$type as string }];
    } catch {
      return [];
    }
  });
}

describe('real atproto CARs', () => {
  test('skyfall attie.car: firehose blocks of one commit', () => {
    const car = readCar('skyfall/attie.car');
    assert.deepEqual(car.roots, ['bafyreibcmaq3rvoyt3a7xzl6sgthpnv3do4wgrpc47zmhpzvl6bogi57ra']);
    assert.equal(car.blocks.length, 5);
    const post = JSON.parse(addon.decodeValue(block(car, 'bafyreidhl65lbe663nhoxwkxktx2m3gtoas4xd6srypcvztyif6mqhskgy'), true));
    assert.equal(post.$type, 'app.bsky.feed.post');
    assert.ok(post.text.startsWith('New Attie feature, thanks for feedback from users:'), post.text);
    const commit = JSON.parse(addon.decodeValue(block(car, car.roots[0]!)));
    assert.equal(commit.did, 'did:plc:v7lt2fu7igydcjszoexxrvl2');
    assert.equal(commit.rev, '3mt37ifab7n2f');
  });

  test('rsky valid_repo.car: a whole repo with 6 records', () => {
    const car = readCar('rsky/valid_repo.car');
    assert.equal(car.blocks.length, 12);
    assert.equal(JSON.parse(addon.decodeValue(block(car, car.roots[0]!))).did, 'did:plc:r7fdhqmw3h2cifeakw5hmvy6');
    assert.equal(records(car).length, 6);
  });

  test('jetstream getRepo repo.car: commit and every record listed by goat', () => {
    const car = readCar('jetstream-corpus/getRepo/repo.car');
    const info = fs.readFileSync(fixture('jetstream-corpus/getRepo/car_expected_commit.txt'), 'utf8');
    const field = (name: string) => info.match(new RegExp(`^${name}: (.+)$`, 'm'))![1];
    const commit = JSON.parse(addon.decodeValue(block(car, car.roots[0]!)));
    assert.equal(commit.did, field('DID'));
    assert.equal(commit.data.$link, field('Data CID'));
    assert.equal(commit.rev, field('Revision'));
    const listed = fs.readFileSync(fixture('jetstream-corpus/getRepo/car_expected_records.tsv'), 'utf8').trim().split('\n');
    assert.equal(listed.length, 23);
    for (const line of listed) {
      const [path, cid] = line.split('\t') as [string, string];
      const record = JSON.parse(addon.decodeValue(block(car, cid), true));
      assert.equal(record.$type, path.split('/')[0]);
    }
    assert.equal(records(car).length, 23);
  });

  const indigo: Array<[string, number]> = [
    ['bafyreieovfuizojpw3zresz7sx3nk4trm2by23pt5rxbey3jme4uo5ogiu.car', 10],
    ['divy.repo', 9],
    ['fakermaker.repo.car', 690],
    ['greenground.repo.car', 4],
    ['paul_staging.repo.car', 458],
    ['repo_slice.car', 5],
  ];
  for (const [file, blocks] of indigo) {
    test(`indigo ${file}`, () => {
      const car = readCar('indigo/cars', file);
      assert.equal(car.blocks.length, blocks);
      assert.equal(car.roots.length, 1);
      // The root is the signed commit, in the CAR.
      assert.match(JSON.parse(addon.decodeValue(block(car, car.roots[0]!))).did, /^did:plc:/);
      if (file.startsWith('bafyrei')) assert.equal(car.roots[0], file.replace('.car', ''));
    });
  }
});

test('atproto car-file-fixtures: root and blocks in order', () => {
  const [f] = readJson<Array<{ root: string; blocks: Array<{ cid: string; bytes: string }>; car: string }>>(
    'atproto-ts/car-file-fixtures.json',
  );
  const car = addon.readCar(Buffer.from(f!.car, 'base64'));
  assert.deepEqual(car.roots, [f!.root]);
  assert.deepEqual(
    car.blocks.map((b) => ({ cid: b.cid, bytes: b.data.toString('base64').replace(/=+$/, '') })),
    f!.blocks.map((b) => ({ cid: b.cid, bytes: b.bytes.replace(/=+$/, '') })),
  );
  assert.ok(assertHashes(car) > 0);
});

test('ipld codec-fixtures fixtures.car: other codecs, no roots', () => {
  const car = readCar('ipld-codec-fixtures/fixtures.car');
  assert.deepEqual(car.roots, []);
  assert.equal(car.blocks.length, 273);
  assert.ok(assertHashes(car) > 200);
});

describe('go-car edge cases', () => {
  test('sample-v1.car: 1043 blake2b dag-cbor blocks and 6 identity raw blocks', () => {
    const car = readCar('go-car/sample-v1.car');
    assert.deepEqual(car.roots, ['bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy']);
    assert.equal(car.blocks.length, 1049);
    const hashes = car.blocks.map((b) => CID.parse(b.cid).multihash.code);
    assert.equal(hashes.filter((h) => h === 0xb220).length, 1043);
    assert.equal(hashes.filter((h) => h === 0x00).length, 6);
  });

  test('simple-unixfs.car: dag-pb blocks under CIDv0 names', () => {
    const car = readCar('go-car/simple-unixfs.car');
    assert.deepEqual(car.roots, ['QmPLPpnptHc1DMhJAWNYMTqBTqqRQNy5WsY7F9pZgsBfMT']);
    assert.equal(car.blocks.length, 22);
    assert.ok(assertHashes(car) > 0);
  });

  const malformed: Array<[string, RegExp]> = [
    ['badheaderlength.car', /^CAR header length \d+ is invalid for a CAR of 38 bytes$/],
    ['badsectionlength.car', /^CAR section at byte 18 claims \d+ bytes but only 46 remain$/],
    ['sample-corrupt-pragma.car', /^CAR header length 18 is invalid for a CAR of 16 bytes$/],
    ['sample-rootless-v42.car', /^unsupported CAR version 42 \(expected 1\)$/],
    ['sample-rw-bs-v2.car', /^unsupported CAR version 2 \(expected 1\)$/],
    ['sample-v1-tailing-corrupt-section.car', /^CAR section at byte 479518 claims 387 bytes but only 374 remain$/],
    ['sample-v1-with-zero-len-section2.car', /^CAR section at byte 20819 has length 0$/],
  ];
  for (const [file, message] of malformed) {
    test(`${file} is rejected`, () => {
      assert.throws(
        () => addon.readCar(readFixture('go-car', file)),
        (err: unknown) => err instanceof FirehoseError && err.code === 'ERR_CAR_INVALID' && message.test(err.message),
      );
    });
  }
});
