/**
 * Capture files: raw subscribeRepos messages, each a u32 little-endian
 * length followed by the message bytes (the layout of Jetstream's corpus).
 */
import fs from 'node:fs';
import { FirehoseError, ErrorCodes } from './errors.js';

export interface CapturedFrame {
  /** 0-based position in the capture. */
  index: number;
  /** Byte offset of the frame's length prefix. */
  offset: number;
  bytes: Buffer;
}

/** Reads a whole capture; throws ERR_CAPTURE when it is missing or truncated. */
export function readCapture(file: string): CapturedFrame[] {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.message;
    throw new FirehoseError(`cannot read capture ${file}: ${why}`, ErrorCodes.CAPTURE);
  }
  return splitCapture(buf, file);
}

export function splitCapture(buf: Buffer, name = 'capture'): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < 4) {
      throw new FirehoseError(
        `${name} is truncated: ${buf.length - off} stray bytes at offset ${off} after frame ${frames.length - 1}`,
        ErrorCodes.CAPTURE,
      );
    }
    const len = buf.readUInt32LE(off);
    if (len > buf.length - off - 4) {
      throw new FirehoseError(
        `${name} is truncated: frame ${frames.length} at offset ${off} claims ${len} bytes but only ${buf.length - off - 4} remain`,
        ErrorCodes.CAPTURE,
      );
    }
    frames.push({ index: frames.length, offset: off, bytes: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
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
