/**
 * Corpus tools: real relay frames given fresh, increasing seq numbers, so a
 * hundred real frames can stand in for a long stream (tests of resume and
 * de-duplication, benchmarks). Only the body's top-level seq changes; every
 * other byte of the frame is kept.
 */

/** Offset just past the CBOR data item that starts at off. */
function skipItem(b: Uint8Array, off: number): number {
  const head = b[off]!;
  const major = head >> 5;
  const ai = head & 31;
  let p = off + 1;
  let arg = ai;
  if (ai === 24) {
    arg = b[p++]!;
  } else if (ai === 25) {
    arg = (b[p]! << 8) | b[p + 1]!;
    p += 2;
  } else if (ai === 26) {
    arg = ((b[p]! << 24) >>> 0) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!;
    p += 4;
  } else if (ai === 27) {
    arg = Number(Buffer.from(b.buffer, b.byteOffset + p, 8).readBigUInt64BE());
    p += 8;
  }
  switch (major) {
    case 2:
    case 3:
      return p + arg;
    case 4:
      for (let i = 0; i < arg; i++) p = skipItem(b, p);
      return p;
    case 5:
      for (let i = 0; i < 2 * arg; i++) p = skipItem(b, p);
      return p;
    case 6:
      return skipItem(b, p);
    default:
      return p; // integers, simple values and floats: the head was all of it
  }
}

function encodeUint(n: number): Buffer {
  if (n < 24) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([24, n]);
  if (n < 0x10000) return Buffer.from([25, n >> 8, n & 255]);
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

const SEQ_KEY = Buffer.from([0x63, 0x73, 0x65, 0x71]); // text "seq"

/** The frame with its body's seq replaced; throws if the body has none. */
export function withSeq(frame: Uint8Array, seq: number): Buffer {
  const b = frame;
  const bodyStart = skipItem(b, 0);
  const head = b[bodyStart]!;
  if (head >> 5 !== 5) throw new Error('frame body is not a map');
  let count = head & 31;
  let p = bodyStart + 1;
  if (count === 24) {
    count = b[p++]!;
  } else if (count === 25) {
    count = (b[p]! << 8) | b[p + 1]!;
    p += 2;
  }
  for (let i = 0; i < count; i++) {
    const keyEnd = skipItem(b, p);
    const isSeq = keyEnd - p === 4 && Buffer.compare(Buffer.from(b.subarray(p, keyEnd)), SEQ_KEY) === 0;
    const valueEnd = skipItem(b, keyEnd);
    if (isSeq) {
      return Buffer.concat([b.subarray(0, keyEnd), encodeUint(seq), b.subarray(valueEnd)]);
    }
    p = valueEnd;
  }
  throw new Error('frame body has no seq');
}

/** The seq of a frame's body, or null. */
export function seqOf(frame: Uint8Array): number | null {
  const b = frame;
  const bodyStart = skipItem(b, 0);
  const head = b[bodyStart]!;
  if (head >> 5 !== 5) return null;
  let count = head & 31;
  let p = bodyStart + 1;
  if (count === 24) count = b[p++]!;
  for (let i = 0; i < count; i++) {
    const keyEnd = skipItem(b, p);
    const valueEnd = skipItem(b, keyEnd);
    if (keyEnd - p === 4 && Buffer.compare(Buffer.from(b.subarray(p, keyEnd)), SEQ_KEY) === 0) {
      const v = b[keyEnd]!;
      const ai = v & 31;
      if (v >> 5 !== 0) return null;
      if (ai < 24) return ai;
      const bytes = Buffer.from(b.subarray(keyEnd + 1, valueEnd));
      return bytes.length === 8 ? Number(bytes.readBigUInt64BE()) : bytes.readUIntBE(0, bytes.length);
    }
    p = valueEnd;
  }
  return null;
}

/**
 * count frames cycling through base (frames without a seq are left out),
 * numbered firstSeq, firstSeq + 1, ...
 */
export function syntheticStream(base: Uint8Array[], count: number, firstSeq = 1): Array<{ seq: number; bytes: Buffer }> {
  const usable = base.filter((f) => seqOf(f) !== null);
  if (usable.length === 0) throw new Error('no frame with a seq to build a stream from');
  const out: Array<{ seq: number; bytes: Buffer }> = [];
  for (let i = 0; i < count; i++) out.push({ seq: firstSeq + i, bytes: withSeq(usable[i % usable.length]!, firstSeq + i) });
  return out;
}
