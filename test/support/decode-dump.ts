/**
 * Everything the addon makes of every fixture, one JSON line per input, so
 * that two builds (x64 and arm64) can be compared byte for byte:
 *   node dist/test/support/decode-dump.js <out-file>
 * Inputs: each frame of every capture (.bin) through the frame decoder;
 * every .car through readCar, and each of its blocks through decodeValue;
 * every .cbor; and every CBOR vector inside the JSON fixtures (hex under
 * `data`/`hex`, base64 under `*base64`, `bytes`, `$bytes`), as a value, as a
 * record and as a CAR. Rejections are recorded with their message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readCapture } from '../../src/capture.js';
import { addon } from '../../src/native.js';
import { FIXTURES } from './fixtures.js';

const out: string[] = [];

function record(file: string, where: string, what: () => unknown): void {
  let result: unknown;
  try {
    result = what();
  } catch (err) {
    result = { error: (err as Error).message };
  }
  out.push(JSON.stringify({ file, where, result }));
}

function car(file: string, where: string, bytes: Uint8Array): void {
  record(file, `${where} car`, () => {
    const c = addon.readCar(bytes);
    return { roots: c.roots, blocks: c.blocks.map((b) => ({ cid: b.cid, data: b.data.toString('base64') })) };
  });
}

function cbor(file: string, where: string, bytes: Uint8Array): void {
  record(file, `${where} value`, () => addon.decodeValue(bytes));
  record(file, `${where} record`, () => addon.decodeValue(bytes, true));
}

/** CBOR vectors held as strings inside a JSON fixture. */
function vectors(file: string, v: unknown, where: string): void {
  if (Array.isArray(v)) v.forEach((x, i) => vectors(file, x, `${where}[${i}]`));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const at = `${where}.${k}`;
      if (typeof x !== 'string') vectors(file, x, at);
      else if ((k === 'data' || k === 'hex') && /^([0-9a-f]{2})+$/.test(x)) cbor(file, at, Buffer.from(x, 'hex'));
      else if (/base64$/i.test(k) || k === 'bytes' || k === '$bytes') {
        const bytes = Buffer.from(x, 'base64');
        cbor(file, at, bytes);
        car(file, at, bytes);
      }
    }
  }
}

const decoder = new addon.Decoder({ emitSync: true, emitInfo: true });
const files = fs.readdirSync(FIXTURES, { recursive: true, encoding: 'utf8' }).sort();
for (const rel of files) {
  const full = path.join(FIXTURES, rel);
  if (!fs.statSync(full).isFile()) continue;
  if (rel.endsWith('.bin')) {
    readCapture(full).forEach((f, i) => record(rel, `frame ${i}`, () => decoder.decode(f.bytes)));
  } else if (rel.endsWith('.car')) {
    const bytes = fs.readFileSync(full);
    car(rel, '', bytes);
    try {
      addon.readCar(bytes).blocks.forEach((b) => cbor(rel, b.cid, b.data));
    } catch {
      // recorded above
    }
  } else if (rel.endsWith('.cbor')) {
    cbor(rel, '', fs.readFileSync(full));
  } else if (rel.endsWith('.json')) {
    vectors(rel, JSON.parse(fs.readFileSync(full, 'utf8')), '');
  }
}
fs.writeFileSync(process.argv[2]!, out.join('\n') + '\n');
process.stdout.write(`${out.length} results\n`);
