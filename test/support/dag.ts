/**
 * DAG-CBOR and CAR helpers built on cborg and multiformats, independent of
 * both decoders under test: they make synthetic frames and compute expected
 * values.
 */
import { createHash } from 'node:crypto';
import { decode, encode, Token, Type } from 'cborg';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';

export const DAG_CBOR = 0x71;
export const RAW = 0x55;
const SHA2_256 = 0x12;

export function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** The CIDv1 (sha2-256) of some bytes. */
export function cidOf(bytes: Uint8Array, codec = DAG_CBOR): CID {
  return CID.createV1(codec, Digest.create(SHA2_256, sha256(bytes)));
}

/** atproto JSON to the values encodeDagCbor takes: {$link} becomes a CID, {$bytes} bytes. */
export function fromAtprotoJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromAtprotoJson);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && typeof o.$link === 'string') return CID.parse(o.$link);
  if (keys.length === 1 && typeof o.$bytes === 'string') return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
  return Object.fromEntries(keys.map((k) => [k, fromAtprotoJson(o[k])]));
}

/** The reverse, for values from decodeDagCborLenient. */
export function toAtprotoJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toAtprotoJson);
  if (v === null || typeof v !== 'object') return v;
  const cid = CID.asCID(v);
  if (cid) return { $link: cid.toString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('base64').replace(/=+$/, '') };
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toAtprotoJson(x)]));
}

const cidEncoder = (obj: unknown): Token[] | null => {
  const cid = CID.asCID(obj);
  if (!cid) return null;
  const bytes = new Uint8Array(cid.bytes.length + 1);
  bytes.set(cid.bytes, 1);
  return [new Token(Type.tag, 42), new Token(Type.bytes, bytes)];
};

/** cborg's default encoding is canonical DAG-CBOR (shortest forms, keys length-first); CIDs become tag 42. */
export function encodeDagCbor(v: unknown): Uint8Array {
  return encode(v, { typeEncoders: { Object: cidEncoder } });
}

/** cborg with its default (lenient) options and tag 42, for expected values. */
export function decodeDagCborLenient(bytes: Uint8Array): unknown {
  return decode(bytes, { tags: { 42: (content) => CID.decode((content() as Uint8Array).subarray(1)) } });
}

/** A subscribeRepos message: the header, then the body. */
export function encodeFrame(header: unknown, body: unknown): Buffer {
  return Buffer.concat([encodeDagCbor(header), encodeDagCbor(body)]);
}

function uvarint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** A CAR v1 file: header {roots, version: 1}, then one section per block. */
export function encodeCar(roots: CID[], blocks: Array<{ cid: CID; bytes: Uint8Array }>): Buffer {
  const header = encodeDagCbor({ roots, version: 1 });
  const parts = [uvarint(header.length), header];
  for (const { cid, bytes } of blocks) parts.push(uvarint(cid.bytes.length + bytes.length), cid.bytes, bytes);
  return Buffer.concat(parts);
}
