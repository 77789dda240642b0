/**
 * The frame decoder again, in TypeScript on general-purpose libraries
 * (cborg, @ipld/car, multiformats): same input, same DecodedFrame, and the
 * same entry JSON byte for byte as the native one (native/core/frame.cc).
 *
 * It exists to be read and to be compared against: the differential tests
 * run both over every fixture frame, and bench/decode.ts measures the native
 * decoder against it. It decodes the whole body into JS values before
 * looking at it, which is simple and slow; keep it simple.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { decode, decodeFirst, Token, Tokenizer, Type, type DecodeOptions, type TagDecodeControl } from 'cborg';
import { CarBufferReader } from '@ipld/car/buffer-reader';
import { CID } from 'multiformats/cid';
import { ErrorCodes, FirehoseError } from './errors.js';
import type { DecodedFrame, DecoderOptions, EntryFrame, EntryType, SilentFrame, SilentReason, SkippedOp, SkipReason } from './native.js';

const MAX_MESSAGE_BYTES = 5 << 20;
const MAX_BLOCKS_BYTES = 2 << 20;
const MAX_OPS = 200;
/** Containers may nest this deep, the outermost one included. */
const MAX_DEPTH = 64;
/** Native bounds its CAR index at this many blocks; a larger CAR counts as unreadable. */
const MAX_CAR_BLOCKS = 1 << 16;

// ---------------------------------------------------------------------------
// Strict DAG-CBOR: the atproto data model.

/** A CBOR float. Boxed so that it stays apart from integers (a float seq or op is invalid). */
class Float {
  constructor(readonly value: number) {}
}

/** Integers are numbers, or bigints beyond ±(2^53-1). */
type Value = null | boolean | number | bigint | string | Uint8Array | CID | Float | Value[] | Map<string, Value>;
type Body = Map<string, Value>;

/** Tag 42: a byte string holding 0x00 then a DASL CID (v1, dag-cbor or raw, sha2-256 or blake3, 32-byte digest). */
function decodeLink(content: TagDecodeControl): CID {
  const bytes = content();
  if (!(bytes instanceof Uint8Array)) throw new Error('tag 42 must wrap a byte string');
  if (bytes[0] !== 0x00) throw new Error('CID link must start with the 0x00 identity multibase prefix');
  const cid = bytes.subarray(1);
  const dasl =
    cid.length === 36 &&
    cid[0] === 0x01 &&
    (cid[1] === 0x71 || cid[1] === 0x55) &&
    (cid[2] === 0x12 || cid[2] === 0x1e) &&
    cid[3] === 0x20;
  if (!dasl) throw new Error('CID link is not a DASL CID (v1, dag-cbor or raw, sha2-256 or blake3, 32-byte digest)');
  return CID.decode(cid);
}

const CBOR_OPTIONS: DecodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: true,
  rejectDuplicateMapKeys: true,
  useMaps: true,
  tags: { 42: decodeLink },
};

/** Length of a data item's head (initial byte plus argument), from its initial byte. */
const headLength = (initial: number) => ((initial & 31) < 24 ? 1 : 1 + (1 << ((initial & 31) - 24)));

/** cborg's tokenizer plus the rules its options do not cover, checked on the raw bytes. */
class StrictTokenizer extends Tokenizer {
  override next(): Token {
    const start = this.pos();
    const token = super.next();
    const initial = this.data[start]!;
    if (token.type === Type.string) {
      const text = this.data.subarray(start + headLength(initial), this.pos());
      if (!isUtf8(text)) throw new Error('invalid UTF-8 in text string');
      // cborg's TextDecoder drops a leading byte order mark; the text must stay as sent.
      if (text[0] === 0xef && text[1] === 0xbb && text[2] === 0xbf) token.value = '\ufeff' + token.value;
    } else if (token.type === Type.float) {
      if (initial !== 0xfb) throw new Error('only 64-bit floats are allowed');
      if (Object.is(token.value, -0)) throw new Error('negative zero is not allowed');
      token.value = new Float(token.value);
    }
    return token;
  }
}

function compareKeys(a: string, b: string): number {
  return Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Map keys are text in canonical order (shorter first, then bytewise), and nesting is bounded. */
function checkCanonical(v: Value, depth: number): void {
  if (!(v instanceof Map) && !Array.isArray(v)) return;
  if (depth >= MAX_DEPTH) throw new Error(`nesting deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(v)) {
    for (const item of v) checkCanonical(item, depth + 1);
    return;
  }
  let prev: string | undefined;
  for (const [key, item] of v as Map<unknown, Value>) {
    if (typeof key !== 'string') throw new Error('map key is not a text string');
    if (prev !== undefined && compareKeys(prev, key) >= 0) {
      throw new Error(`map key ${JSON.stringify(key)} out of canonical order (length first, then bytewise)`);
    }
    prev = key;
    checkCanonical(item, depth + 1);
  }
}

/** The first DAG-CBOR value in bytes, and the bytes after it. */
function decodeValueFirst(bytes: Uint8Array): [Value, Uint8Array] {
  const tokenizer = new StrictTokenizer(bytes, CBOR_OPTIONS);
  const [value, rest] = decodeFirst(bytes, { ...CBOR_OPTIONS, tokenizer }) as [Value, Uint8Array];
  checkCanonical(value, 0);
  return [value, rest];
}

/** Exactly one DAG-CBOR value. */
function decodeValueOnly(bytes: Uint8Array): Value {
  const tokenizer = new StrictTokenizer(bytes, CBOR_OPTIONS);
  const value = decode(bytes, { ...CBOR_OPTIONS, tokenizer }) as Value;
  checkCanonical(value, 0);
  return value;
}

// ---------------------------------------------------------------------------
// atproto JSON, written by hand so that map keys keep their CBOR order.

function toJson(v: Value): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
    case 'number':
      return JSON.stringify(v);
    case 'bigint':
      return v.toString();
    case 'string':
      return JSON.stringify(v);
  }
  if (v instanceof Float) return JSON.stringify(v.value);
  if (v instanceof CID) return `{"$link":"${v.toString()}"}`;
  if (v instanceof Uint8Array) return `{"$bytes":"${base64(v)}"}`;
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  return `{${[...v].map(([key, item]) => `${JSON.stringify(key)}:${toJson(item)}`).join(',')}}`;
}

/** Standard alphabet, no padding. */
function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** A record: a map whose $type is a non-empty string. */
function recordJson(bytes: Uint8Array): string {
  const record = decodeValueOnly(bytes);
  if (!(record instanceof Map)) throw new Error('record is not a map');
  const type = record.get('$type');
  if (type === undefined) throw new Error('record has no $type');
  if (typeof type !== 'string' || type === '') throw new Error('record $type is not a non-empty string');
  return toJson(record);
}

/**
 * Like the addon's decodeValue: one DAG-CBOR value as atproto JSON text; as a
 * record it must also be a map with a $type. Throws ERR_CBOR_INVALID.
 */
export function referenceDecodeValue(bytes: Uint8Array, asRecord = false): string {
  try {
    return asRecord ? recordJson(bytes) : toJson(decodeValueOnly(bytes));
  } catch (err) {
    throw new FirehoseError((err as Error).message, ErrorCodes.CBOR_INVALID);
  }
}

// ---------------------------------------------------------------------------
// Frames.

function invalid(message: string): FirehoseError {
  return new FirehoseError(message, ErrorCodes.FRAME_INVALID);
}

function kindOf(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'bigint') return 'an integer';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'string') return 'a text string';
  if (v instanceof Float) return 'a float';
  if (v instanceof CID) return 'a CID link';
  if (v instanceof Uint8Array) return 'a byte string';
  return Array.isArray(v) ? 'an array' : 'a map';
}

function decodePart(bytes: Uint8Array, what: string): [Value, Uint8Array] {
  try {
    return decodeValueFirst(bytes);
  } catch (err) {
    // Also catches the RangeError of a stack overflowed by absurd nesting.
    throw invalid(`${what}: ${(err as Error).message}`);
  }
}

/** A text field; absent gives undefined, anything but text rejects the frame. */
function textField(body: Body, key: string, where: string): string | undefined {
  const v = body.get(key);
  if (v === undefined || typeof v === 'string') return v;
  throw invalid(`${where} ${key} is ${kindOf(v)}, expected a text string`);
}

/** Like textField, but null also means absent. */
function optionalTextField(body: Body, key: string, where: string): string | undefined {
  return body.get(key) === null ? undefined : textField(body, key, where);
}

const isSeq = (v: Value | undefined): v is number | bigint =>
  (typeof v === 'number' && v >= 0) || (typeof v === 'bigint' && v >= 0n && v < 2n ** 63n);

function seqField(body: Body): number | null {
  const v = body.get('seq');
  if (v === undefined) return null;
  if (!isSeq(v)) throw invalid(`seq is ${kindOf(v)}, expected an unsigned integer below 2^63`);
  return Number(v);
}

function entry(frame: string, type: EntryType, seq: number | null, data: string, time: string | undefined): EntryFrame {
  return { kind: 'entry', type, frame, seq, data, ...(time ? { time } : {}), skipped: [] };
}

function silent(frame: string, reason: SilentReason, seq: number | null, extra: Partial<SilentFrame> = {}): SilentFrame {
  const r: SilentFrame = { kind: 'silent', reason, frame, seq, ...extra, skipped: [] };
  // Absent fields are absent, not undefined, as in the addon's objects.
  for (const key of ['time', 'error', 'name', 'message'] as const) if (!r[key]) delete r[key];
  return r;
}

/**
 * Decodes one subscribeRepos message into the stream entry it becomes (or
 * why it becomes none), exactly as decodeFrame() does. Throws FirehoseError
 * ERR_FRAME_INVALID when the message is malformed.
 */
export function referenceDecodeFrame(frame: Uint8Array, options: DecoderOptions = {}): DecodedFrame {
  const maxMessage = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  if (frame.length > maxMessage) {
    throw invalid(`message of ${frame.length} bytes exceeds the limit of ${maxMessage} (MAX_MESSAGE_BYTES)`);
  }
  if (frame.length === 0) throw invalid('empty message');

  const [header, afterHeader] = decodePart(frame, 'header');
  if (!(header instanceof Map)) throw invalid(`header is ${kindOf(header)}, expected a map`);
  const op = header.get('op');
  const t = textField(header, 't', 'header');
  if (op === undefined) throw invalid('header has no op');
  if (op !== 1 && op !== -1) throw invalid('header op is neither 1 (message) nor -1 (error)');
  if (op === 1 && !t) throw invalid('header has no t');

  const [body, rest] = decodePart(afterHeader, 'body');
  if (rest.length > 0) throw invalid(`${rest.length} trailing bytes after the body`);
  if (!(body instanceof Map)) throw invalid(`${op === -1 ? 'error frame' : t} body is not a map`);

  if (op === -1) return errorFrame(body);
  switch (t!) {
    case '#commit':
      return commitFrame(body, options);
    case '#identity':
      return identityFrame(body);
    case '#account':
      return accountFrame(body);
    case '#sync':
      return syncFrame(body, options);
    case '#info':
      return infoFrame(body, options);
    case '#handle':
    case '#migrate':
    case '#tombstone':
      return otherFrame(t!, body, 'legacy');
    default:
      return otherFrame(t!, body, 'unknown');
  }
}

interface Op {
  action: string;
  path: string;
  cid?: CID;
  /** Why the op is malformed. */
  bad?: string;
}

function readOp(v: Value): Op {
  if (!(v instanceof Map)) return { action: '', path: '', bad: `op is ${kindOf(v)}, expected a map` };
  const action = v.get('action');
  const path = v.get('path');
  const cid = v.get('cid');
  const op: Op = {
    action: typeof action === 'string' ? action : '',
    path: typeof path === 'string' ? path : '',
    ...(cid instanceof CID ? { cid } : {}),
  };
  const slash = op.path.indexOf('/');
  if (action !== undefined && typeof action !== 'string') op.bad = `action is ${kindOf(action)}, expected a text string`;
  else if (path !== undefined && typeof path !== 'string') op.bad = `path is ${kindOf(path)}, expected a text string`;
  else if (cid !== undefined && cid !== null && !(cid instanceof CID)) op.bad = `cid is ${kindOf(cid)}, expected a CID link or null`;
  else if (!op.action) op.bad = 'op has no action';
  else if (!op.path) op.bad = 'op has no path';
  else if (slash <= 0 || slash === op.path.length - 1) op.bad = `path ${JSON.stringify(op.path)} is not <collection>/<rkey>`;
  return op;
}

/** The opt-in collection filter (exact NSIDs, `prefix.*`, `*`); null keeps everything. */
function collectionFilter(patterns: string[] = []): ((collection: string) => boolean) | null {
  if (patterns.length === 0 || patterns.includes('*')) return null;
  return (collection) =>
    patterns.some((p) =>
      p.endsWith('.*') ? collection.length > p.length - 1 && collection.startsWith(p.slice(0, -1)) : collection === p,
    );
}

/** The commit's CAR, or why it cannot be read. Only opened when an op needs a record. */
function openCar(blocks: Uint8Array | undefined, tooBig: boolean): CarBufferReader | string {
  if (tooBig) return 'commit is tooBig: the relay left its records out of the frame';
  if (!blocks) return 'commit has no blocks';
  let car: CarBufferReader;
  try {
    // @ipld/car is laxer than native about the CAR header itself: it does not
    // check key order, takes undefined, and multiformats reads a root CID
    // written with an explicit version 0 as a CIDv0. No relay sends those.
    car = CarBufferReader.fromBytes(blocks);
  } catch (err) {
    return `blocks are not a CAR: ${(err as Error).message}`;
  }
  if (car.version !== 1) return `unsupported CAR version ${car.version} (expected 1)`;
  if (car.blocks().length > MAX_CAR_BLOCKS) return `CAR has more than ${MAX_CAR_BLOCKS} blocks`;
  return car;
}

function commitFrame(body: Body, options: DecoderOptions): DecodedFrame {
  const maxBlocks = options.maxBlocksBytes ?? MAX_BLOCKS_BYTES;
  const maxOps = options.maxOps ?? MAX_OPS;
  const seq = seqField(body);
  const repo = textField(body, 'repo', '#commit');
  const rev = textField(body, 'rev', '#commit');
  const time = textField(body, 'time', '#commit');
  const commit = body.get('commit');
  if (commit !== undefined && commit !== null && !(commit instanceof CID)) {
    throw invalid(`#commit commit is ${kindOf(commit)}, expected a CID link`);
  }
  const blocks = body.get('blocks');
  if (blocks !== undefined && !(blocks instanceof Uint8Array)) {
    throw invalid(`#commit blocks is ${kindOf(blocks)}, expected a byte string`);
  }
  if (blocks && blocks.length > maxBlocks) {
    throw invalid(`#commit blocks of ${blocks.length} bytes exceed the limit of ${maxBlocks} (MAX_BLOCKS_BYTES)`);
  }
  // Deprecated, but a relay that set it sent no records.
  const tooBig = body.get('tooBig') === true;
  const rawOps = body.get('ops');
  if (rawOps !== undefined && !Array.isArray(rawOps)) throw invalid(`#commit ops is ${kindOf(rawOps)}, expected an array`);
  if (rawOps && rawOps.length > maxOps) {
    throw invalid(`#commit has ${rawOps.length} ops, more than the limit of ${maxOps} (MAX_COMMIT_OPS)`);
  }
  if (repo === undefined) throw invalid('#commit body has no repo');
  if (rawOps === undefined) throw invalid('#commit body has no ops');

  // Malformed ops are never filtered out: they are reported whatever the filter.
  const keeps = collectionFilter(options.collections);
  const ops = rawOps.map(readOp);
  const kept = ops.filter((op) => op.bad || !keeps || keeps(op.path.slice(0, op.path.indexOf('/'))));
  const counts = { opsTotal: ops.length, opsFiltered: ops.length - kept.length };
  if (keeps && kept.length === 0) return silent('#commit', 'filtered', seq, { time, ...counts });

  const written: string[] = [];
  const skipped: SkippedOp[] = [];
  const skip = (op: Op, reason: SkipReason, detail: string) => skipped.push({ path: op.path, reason, detail });
  let car: CarBufferReader | string | undefined;
  for (const op of kept) {
    if (op.bad) {
      skip(op, 'bad_op', op.bad);
      continue;
    }
    if (op.action === 'delete') {
      written.push(`{"action":"delete","path":${JSON.stringify(op.path)}}`);
      continue;
    }
    if (op.action !== 'create' && op.action !== 'update') {
      skip(op, 'bad_op', `unknown action ${JSON.stringify(op.action)}`);
      continue;
    }
    if (!op.cid) {
      skip(op, 'no_cid', `${op.action} op has no cid`);
      continue;
    }
    car ??= openCar(blocks, tooBig);
    if (typeof car === 'string') {
      skip(op, 'bad_car', car);
      continue;
    }
    const block = car.get(op.cid);
    if (!block) {
      skip(op, 'block_missing', `record block ${op.cid} is not in the commit's blocks`);
      continue;
    }
    let record: string;
    try {
      record = recordJson(block.bytes);
    } catch (err) {
      skip(op, 'bad_record', `record ${op.cid}: ${(err as Error).message}`);
      continue;
    }
    written.push(
      `{"action":${JSON.stringify(op.action)},"path":${JSON.stringify(op.path)},"cid":"${op.cid}","record":${record}}`,
    );
  }

  let data = `{"repo":${JSON.stringify(repo)},"ops":[${written.join(',')}]`;
  if (rev) data += `,"rev":${JSON.stringify(rev)}`;
  if (commit instanceof CID) data += `,"commit":"${commit}"`;
  // Every entry ends with the event's time.
  if (time) data += `,"time":${JSON.stringify(time)}`;
  data += '}';
  return { ...entry('#commit', 'commit', seq, data, time), ...counts, skipped };
}

function identityFrame(body: Body): DecodedFrame {
  const seq = seqField(body);
  const did = textField(body, 'did', '#identity');
  const time = textField(body, 'time', '#identity');
  const handle = optionalTextField(body, 'handle', '#identity');
  if (!did) throw invalid('#identity body has no did');
  // Consumers expect a handle; an event without one gets the DID.
  let data = `{"did":${JSON.stringify(did)},"handle":${JSON.stringify(handle || did)}`;
  if (time) data += `,"time":${JSON.stringify(time)}`;
  return entry('#identity', 'identity', seq, data + '}', time);
}

function accountFrame(body: Body): DecodedFrame {
  const seq = seqField(body);
  const did = textField(body, 'did', '#account');
  const time = textField(body, 'time', '#account');
  const status = optionalTextField(body, 'status', '#account');
  const active = body.get('active');
  if (active !== undefined && typeof active !== 'boolean') {
    throw invalid(`#account active is ${kindOf(active)}, expected a boolean`);
  }
  if (!did) throw invalid('#account body has no did');
  if (active === undefined) throw invalid('#account body has no active');
  let data = `{"did":${JSON.stringify(did)},"active":${active}`;
  if (status) data += `,"status":${JSON.stringify(status)}`;
  if (time) data += `,"time":${JSON.stringify(time)}`;
  return entry('#account', 'account', seq, data + '}', time);
}

function syncFrame(body: Body, options: DecoderOptions): DecodedFrame {
  const seq = seqField(body);
  const did = textField(body, 'did', '#sync');
  const rev = textField(body, 'rev', '#sync');
  const time = textField(body, 'time', '#sync');
  if (!options.emitSync) return silent('#sync', 'sync', seq, { time });
  if (!did) throw invalid('#sync body has no did');
  let data = `{"did":${JSON.stringify(did)}`;
  if (rev) data += `,"rev":${JSON.stringify(rev)}`;
  if (time) data += `,"time":${JSON.stringify(time)}`;
  return entry('#sync', 'sync', seq, data + '}', time);
}

/** A message that is not text is dropped, not an error: it is only ever logged. */
function messageField(body: Body): string | undefined {
  const message = body.get('message');
  return typeof message === 'string' ? message : undefined;
}

/** #info carries no seq: it is the relay talking, not an event. */
function infoFrame(body: Body, options: DecoderOptions): DecodedFrame {
  const name = textField(body, 'name', '#info') ?? '';
  const message = messageField(body);
  if (!options.emitInfo) return silent('#info', 'info', null, { name, message });
  let data = `{"name":${JSON.stringify(name)}`;
  if (message) data += `,"message":${JSON.stringify(message)}`;
  return { ...entry('#info', 'info', null, data + '}', undefined), ...(name ? { name } : {}), ...(message ? { message } : {}) };
}

function errorFrame(body: Body): DecodedFrame {
  const error = textField(body, 'error', 'error frame');
  if (!error) throw invalid('error frame has no error name');
  return silent('error', 'error', null, { error, message: messageField(body) });
}

/** Frames that make no entry and are not checked further; a seq still lets the cursor move on. */
function otherFrame(t: string, body: Body, reason: SilentReason): DecodedFrame {
  const seq = body.get('seq');
  const time = body.get('time');
  return silent(t, reason, isSeq(seq) ? Number(seq) : null, typeof time === 'string' ? { time } : {});
}
