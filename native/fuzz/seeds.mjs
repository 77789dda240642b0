// Writes the fuzz seed corpora from the real fixtures, one file per input:
//   <out>/frame      every captured relay message, behind an option byte
//   <out>/cbor       DAG-CBOR test vectors, records and every block of the captures
//   <out>/car        the CAR fixtures and the blocks CAR of every captured commit
//   <out>/websocket  RFC 6455's examples and captured messages as server
//                    frames, whole and fragmented around control frames
// Usage: node seeds.mjs <out> <fixtures dir>[:<fallback dir>...]
// A fixture path is read from the first directory that has it; missing ones
// are listed and skipped.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFirst } from 'cborg';

const [out, dirList] = process.argv.slice(2);
if (!out || !dirList) throw new Error('usage: node seeds.mjs <out> <fixtures dir>[:<dir>...]');
const dirs = dirList.split(':').filter(Boolean);
const missing = [];

const find = (rel) => {
  for (const d of dirs) if (existsSync(join(d, rel))) return join(d, rel);
  missing.push(rel);
  return null;
};
const read = (rel) => {
  const p = find(rel);
  return p ? readFileSync(p) : null;
};
const listDir = (rel, ext) => {
  const p = find(rel);
  return p ? readdirSync(p).filter((f) => f.endsWith(ext)).map((f) => `${rel}/${f}`) : [];
};

const counts = {};
const seed = (target, bytes) => {
  const dir = join(out, target);
  const name = createHash('sha1').update(bytes).digest('hex');
  writeFileSync(join(dir, name), bytes);
  counts[target] = (counts[target] ?? 0) + 1;
};

const frames = (rel) => {
  const buf = read(rel);
  const list = [];
  for (let i = 0; buf && i + 4 <= buf.length; ) {
    const n = buf.readUInt32LE(i);
    list.push(buf.subarray(i + 4, i + 4 + n));
    i += 4 + n;
  }
  return list;
};

// Tag 42 stays as its bytes (0x00 + CID): enough to find blocks and records.
const tags = [];
tags[42] = (decode) => decode();
const cbor = (bytes) => decodeFirst(bytes, { tags });

const carSections = (car) => {
  const varint = (b, i) => {
    let v = 0, shift = 0, c;
    do {
      c = b[i++];
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return [v, i];
  };
  const [hlen, start] = varint(car, 0);
  const blocks = [];
  for (let i = start + hlen; i < car.length; ) {
    const [len, at] = varint(car, i);
    if (len === 0) break;
    blocks.push(car.subarray(at, at + len));
    i = at + len;
  }
  return blocks;
};
// A section is CID + data; the CIDs here are 36-byte CIDv1s.
const blockData = (section) => section.subarray(36);

rmSync(out, { recursive: true, force: true });
for (const t of ['frame', 'cbor', 'car', 'websocket']) mkdirSync(join(out, t), { recursive: true });

const captures = ['jetstream-corpus/frames.bin', 'pds-capture/frames.bin',
  'pds-capture/error-frame-futurecursor/frames.bin'];
// One server frame, length in its shortest form; b0 is FIN/RSV/opcode.
const wsFrame = (b0, payload) => {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([b0, n])
    : n <= 0xffff ? Buffer.from([b0, 126, n >> 8, n & 0xff])
    : Buffer.concat([Buffer.from([b0, 127, 0, 0, 0, 0]), Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])]);
  return Buffer.concat([head, payload]);
};
// The websocket target's input: limit byte (7: 5 MiB), chunking byte, stream.
const wsSeed = (limit, chunking, ...frames) =>
  seed('websocket', Buffer.concat([Buffer.from([limit, chunking]), ...frames]));
const hex = (h) => Buffer.from(h.replace(/ /g, ''), 'hex');
for (const example of ['81 05 48 65 6c 6c 6f', '81 85 37 fa 21 3d 7f 9f 4d 51 58',
  '01 03 48 65 6c 80 02 6c 6f', '89 05 48 65 6c 6c 6f', '8a 85 37 fa 21 3d 7f 9f 4d 51 58']) {
  wsSeed(7, 0, hex(example));
}
wsSeed(7, 5, wsFrame(0x82, Buffer.alloc(256, 1)));
wsSeed(6, 9, wsFrame(0x82, Buffer.alloc(65536, 2)));
wsSeed(7, 3, wsFrame(0x88, Buffer.concat([hex('03e8'), Buffer.from('bye')])));
wsSeed(7, 3, wsFrame(0x88, Buffer.alloc(0)));

let index = 0;
let wsBatch = [];
for (const rel of captures) {
  for (const f of frames(rel)) {
    // Default options, and one of the 31 other option bytes in turn.
    seed('frame', Buffer.concat([Buffer.from([0]), f]));
    seed('frame', Buffer.concat([Buffer.from([1 + (index++ % 31)]), f]));
    // Streams of a few small messages, every other one fragmented around a ping.
    if (index % 2 === 0 && f.length < 2048) {
      if (index % 4 === 0) {
        const cut = f.length >> 1;
        wsBatch.push(wsFrame(0x02, f.subarray(0, cut)), wsFrame(0x89, Buffer.from('p')),
          wsFrame(0x80, f.subarray(cut)));
      } else {
        wsBatch.push(wsFrame(0x82, f));
      }
      if (wsBatch.length >= 7) {
        wsSeed(index & 7, index & 0xff, ...wsBatch);
        wsBatch = [];
      }
    }
    const [header, rest] = cbor(f);
    seed('cbor', f.subarray(0, f.length - rest.length));
    seed('cbor', rest);
    const [body] = cbor(rest);
    if (header.t === '#commit' && body.blocks instanceof Uint8Array) {
      seed('car', body.blocks);
      for (const s of carSections(body.blocks)) seed('cbor', blockData(s));
    }
  }
}

for (const rel of listDir('dasl-testing', '.json')) {
  for (const c of JSON.parse(read(rel))) seed('cbor', Buffer.from(c.data, 'hex'));
}
const ipld = read('ipld-codec-fixtures/dag-cbor-fixtures.json');
if (ipld) for (const c of JSON.parse(ipld)) seed('cbor', Buffer.from(c.dag_cbor_base64, 'base64'));
const negative = read('ipld-codec-fixtures/negative/dag-cbor-decode-duplicate-keys.json');
if (negative) for (const c of [JSON.parse(negative)].flat()) seed('cbor', Buffer.from(c.hex, 'hex'));
const model = read('atproto-interop-tests/data-model/data-model-fixtures.json');
if (model) for (const c of JSON.parse(model)) seed('cbor', Buffer.from(c.cbor_base64, 'base64'));
for (const rel of listDir('indigo/records', '.cbor')) seed('cbor', read(rel));

const cars = [...listDir('go-car', '.car'), ...listDir('indigo/cars', '.car'),
  'ipld-codec-fixtures/fixtures.car', 'skyfall/attie.car', 'rsky/valid_repo.car',
  'jetstream-corpus/getRepo/repo.car'];
for (const rel of cars) {
  const car = read(rel);
  if (car) seed('car', car);
}
const tsCars = read('atproto-ts/car-file-fixtures.json');
if (tsCars) for (const c of JSON.parse(tsCars)) seed('car', Buffer.from(c.car, 'base64'));

for (const t of ['frame', 'cbor', 'car', 'websocket']) counts[t] = readdirSync(join(out, t)).length;
console.log(`seeds: ${JSON.stringify(counts)}${missing.length ? `; missing: ${missing.join(', ')}` : ''}`);
