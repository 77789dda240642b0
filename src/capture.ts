/**
 * Capture files: raw subscribeRepos messages, each a u32 little-endian
 * length followed by the message bytes (the layout of Jetstream's corpus),
 * as `firehose-redis record` writes them.
 *
 * The rules (native/core/capture.h applies the same ones to the `decode`
 * command's native path):
 * - A file is taken for a capture only when its first length is plausible
 *   (1 byte to MAX_CAPTURE_MESSAGE_BYTES) and the bytes after it that the
 *   file holds (up to 4) begin a DAG-CBOR header map: 0xa1 or 0xa2, then the
 *   key "t" or "op", as every subscribeRepos message does. Anything else,
 *   including a file of 1 to 3 bytes, is "not a capture". An empty file is a
 *   capture of no messages.
 * - A capture that ends inside a message (a recording cut short) still
 *   yields every complete message before that point; what follows them is
 *   reported as one error.
 */
import fs from 'node:fs';
import { FirehoseError, ErrorCodes } from './errors.js';

/** The largest message `record` accepts from a relay, hence the largest plausible first length. */
export const MAX_CAPTURE_MESSAGE_BYTES = 64 << 20;

export interface CapturedFrame {
  /** 0-based position in the capture. */
  index: number;
  /** Byte offset of the frame's length prefix. */
  offset: number;
  bytes: Buffer;
}

/** Every complete frame of a capture, and what went wrong after the last of them. */
export interface Capture {
  frames: CapturedFrame[];
  /** The capture ends inside a frame: `frames` holds every frame before it. */
  truncated?: FirehoseError;
}

/**
 * How a walk over a capture ended: complete, not a capture at all
 * (too-short, bad-length, not-a-message), or cut short (truncated, stray).
 * The native walker reports the same shape.
 */
export interface CaptureEnd {
  kind: 'complete' | 'too-short' | 'bad-length' | 'not-a-message' | 'truncated' | 'stray';
  /** truncated, stray: index of the frame that is cut short. */
  frame: number;
  /** truncated, stray: where that frame's length prefix starts. */
  offset: number;
  /** bad-length, truncated: the length prefix's value. */
  length: number;
  /** too-short: the file's size; truncated: bytes after the prefix; stray: bytes left. */
  remain: number;
}

const WHAT_A_CAPTURE_IS =
  'a capture holds subscribeRepos messages, each after its length as a u32 little-endian, as `firehose-redis record` writes them';

/** The error an unsuccessful end is reported as, or undefined for a complete capture. */
export function captureEndError(name: string, end: CaptureEnd): FirehoseError | undefined {
  let message: string;
  switch (end.kind) {
    case 'complete':
      return undefined;
    case 'too-short':
      message = `not a capture: ${name} holds ${end.remain} byte${end.remain === 1 ? '' : 's'}, too few for a message's length prefix; ${WHAT_A_CAPTURE_IS}`;
      break;
    case 'bad-length':
      message =
        `not a capture: ${name} starts with a length prefix of ${end.length} bytes, ` +
        `outside 1 to ${MAX_CAPTURE_MESSAGE_BYTES}; ${WHAT_A_CAPTURE_IS}`;
      break;
    case 'not-a-message':
      message = `not a capture: the first message of ${name} does not start with a DAG-CBOR header map; ${WHAT_A_CAPTURE_IS}`;
      break;
    case 'truncated':
      message = `${name} is truncated: frame ${end.frame} at offset ${end.offset} claims ${end.length} bytes but only ${end.remain} remain`;
      break;
    case 'stray':
      message = `${name} is truncated: ${end.remain} stray bytes at offset ${end.offset} after frame ${end.frame - 1}`;
      break;
  }
  return new FirehoseError(message, ErrorCodes.CAPTURE);
}

const KEY_T = Buffer.from([0x61, 0x74]);
const KEY_OP = Buffer.from([0x62, 0x6f, 0x70]);

function startsLike(key: Buffer, want: Buffer): boolean {
  const n = Math.min(key.length, want.length);
  return key.subarray(0, n).equals(want.subarray(0, n));
}

/** Whether the first bytes of the first message can begin a header map {t, op}. */
function beginsHeader(b: Buffer): boolean {
  if (b.length === 0) return true;
  if (b[0] !== 0xa1 && b[0] !== 0xa2) return false;
  return startsLike(b.subarray(1), KEY_T) || startsLike(b.subarray(1), KEY_OP);
}

const COMPLETE: CaptureEnd = { kind: 'complete', frame: 0, offset: 0, length: 0, remain: 0 };

/** Why the file is not a capture, judged from its start; undefined when it may be one. */
function notACapture(buf: Buffer): CaptureEnd | undefined {
  if (buf.length === 0) return undefined;
  if (buf.length < 4) return { ...COMPLETE, kind: 'too-short', remain: buf.length };
  const length = buf.readUInt32LE(0);
  if (length === 0 || length > MAX_CAPTURE_MESSAGE_BYTES) return { ...COMPLETE, kind: 'bad-length', length };
  return beginsHeader(buf.subarray(4, 4 + Math.min(length, 4))) ? undefined : { ...COMPLETE, kind: 'not-a-message' };
}

/** Splits a capture held in memory into its complete frames and how it ended. */
export function walkCapture(buf: Buffer): { frames: CapturedFrame[]; end: CaptureEnd } {
  const frames: CapturedFrame[] = [];
  const refused = notACapture(buf);
  if (refused) return { frames, end: refused };
  let off = 0;
  while (off < buf.length) {
    const rest = buf.length - off;
    if (rest < 4) return { frames, end: { kind: 'stray', frame: frames.length, offset: off, length: 0, remain: rest } };
    const len = buf.readUInt32LE(off);
    if (len > rest - 4) return { frames, end: { kind: 'truncated', frame: frames.length, offset: off, length: len, remain: rest - 4 } };
    frames.push({ index: frames.length, offset: off, bytes: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  return { frames, end: COMPLETE };
}

/** Whether the walk ended because the file is no capture at all (rather than one cut short). */
export function isNotACapture(end: CaptureEnd): boolean {
  return end.kind === 'too-short' || end.kind === 'bad-length' || end.kind === 'not-a-message';
}

/** The error for a capture file that cannot be opened or read. */
export function captureReadError(file: string, err: unknown): FirehoseError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'ENOENT' ? 'no such file' : e.message;
  return new FirehoseError(`cannot read capture ${file}: ${why}`, ErrorCodes.CAPTURE);
}

/**
 * Every complete frame of a capture file. Throws ERR_CAPTURE when the file
 * cannot be read or is not a capture; a capture cut short is returned with
 * `truncated` set.
 */
export function openCapture(file: string): Capture {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw captureReadError(file, err);
  }
  const { frames, end } = walkCapture(buf);
  const error = captureEndError(file, end);
  if (error && isNotACapture(end)) throw error;
  return error ? { frames, truncated: error } : { frames };
}

/**
 * A whole capture file: throws ERR_CAPTURE when it is missing, not a
 * capture, or truncated (use openCapture to keep the frames of a truncated
 * one).
 */
export function readCapture(file: string): CapturedFrame[] {
  const { frames, truncated } = openCapture(file);
  if (truncated) throw truncated;
  return frames;
}

/** A whole capture held in memory; throws ERR_CAPTURE as readCapture does. */
export function splitCapture(buf: Buffer, name = 'capture'): CapturedFrame[] {
  const { frames, end } = walkCapture(buf);
  const error = captureEndError(name, end);
  if (error) throw error;
  return frames;
}

/** Appends frames to a capture file as they arrive. */
export class CaptureWriter {
  private readonly fd: number;
  frames = 0;
  bytes = 0;

  constructor(file: string) {
    try {
      this.fd = fs.openSync(file, 'w');
    } catch (err) {
      throw new FirehoseError(`cannot write capture ${file}: ${(err as Error).message}`, ErrorCodes.CAPTURE);
    }
  }

  write(frame: Uint8Array): void {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(frame.length, 0);
    fs.writeSync(this.fd, len);
    fs.writeSync(this.fd, frame);
    this.frames++;
    this.bytes += frame.length;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
