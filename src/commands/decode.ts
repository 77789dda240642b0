/**
 * `firehose-redis decode <capture>`: one JSON line per stream entry the
 * capture's frames become, exactly as the service would write them.
 *
 * Two paths print the same bytes. When both outputs are file descriptors
 * (the command line), the addon reads the capture and writes every line
 * itself, with no JavaScript value per frame. Otherwise, and with a custom
 * decoder (--reference), each frame is decoded and its lines formatted
 * here. A truncated capture prints every complete frame, the summary, then
 * throws its error.
 */
import fs from 'node:fs';
import { captureEndError, captureReadError, isNotACapture, openCapture } from '../capture.js';
import { createDecoder, type DecodedFrame, type DecoderOptions } from '../decoder.js';
import { ErrorCodes, FirehoseError } from '../errors.js';

export interface DecodeCommandOptions {
  file: string;
  /** Also write non-entry frames and per-frame errors to stdout. */
  all: boolean;
  decoder: DecoderOptions;
  /** Decode with a custom implementation (the TypeScript reference, say). */
  decode?: (frame: Uint8Array) => DecodedFrame;
}

/** What the closing summary line counts. */
interface Tally {
  frames: number;
  entries: number;
  /** Entries per type, in the order the types first appeared. */
  types: Array<[string, number]>;
  silent: number;
  failed: number;
  opsSkipped: number;
}

function summary(t: Tally): string {
  const types = t.types.map(([type, n]) => `${n} ${type}`).join(', ');
  return (
    `decoded ${t.frames} frames: ${t.entries} entries${types ? ` (${types})` : ''}, ` +
    `${t.silent} without an entry, ${t.failed} failed; ${t.opsSkipped} ops left out\n`
  );
}

function fdOf(stream: NodeJS.WritableStream): number | undefined {
  const fd = (stream as { fd?: unknown }).fd;
  return typeof fd === 'number' ? fd : undefined;
}

export function runDecode(opts: DecodeCommandOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  const outFd = fdOf(out);
  const errFd = fdOf(err);
  if (opts.decode === undefined && outFd !== undefined && errFd !== undefined) {
    printInAddon(opts, outFd, errFd, err);
  } else {
    printFrameByFrame(opts, out, err);
  }
}

function printInAddon(opts: DecodeCommandOptions, outFd: number, errFd: number, err: NodeJS.WritableStream): void {
  let fd: number;
  try {
    fd = fs.openSync(opts.file, 'r');
  } catch (e) {
    throw captureReadError(opts.file, e);
  }
  let r;
  try {
    // A regular file is mapped by the addon; anything else (a pipe) is read whole first.
    let source: number | Buffer = fd;
    if (!fs.fstatSync(fd).isFile()) {
      try {
        source = fs.readFileSync(fd);
      } catch (e) {
        throw captureReadError(opts.file, e);
      }
    }
    r = createDecoder(opts.decoder).printCapture(source, outFd, errFd, opts.all);
  } finally {
    fs.closeSync(fd);
  }
  if (r.readError !== undefined) throw new FirehoseError(`cannot read capture ${opts.file}: ${r.readError}`, ErrorCodes.CAPTURE);
  if (r.writeError !== undefined) throw new FirehoseError(`cannot write the output: ${r.writeError}`, ErrorCodes.OUTPUT);
  const ended = captureEndError(opts.file, r.end);
  if (ended && isNotACapture(r.end)) throw ended;
  err.write(summary(r));
  if (ended) throw ended;
}

function printFrameByFrame(opts: DecodeCommandOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  const { frames, truncated } = openCapture(opts.file);
  const native = createDecoder(opts.decoder);
  const decode = opts.decode ?? ((f: Uint8Array) => native.decode(f));
  const byType = new Map<string, number>();
  const tally: Tally = { frames: frames.length, entries: 0, types: [], silent: 0, failed: 0, opsSkipped: 0 };
  const lines: string[] = [];
  const flush = () => {
    if (lines.length) out.write(lines.join(''));
    lines.length = 0;
  };

  for (const f of frames) {
    let r: DecodedFrame;
    try {
      r = decode(f.bytes);
    } catch (e) {
      if (!(e instanceof FirehoseError)) throw e;
      tally.failed++;
      err.write(`frame ${f.index} (offset ${f.offset}, ${f.bytes.length} bytes): ${e.message}\n`);
      if (opts.all) lines.push(JSON.stringify({ index: f.index, offset: f.offset, error: e.message }) + '\n');
      continue;
    }
    for (const s of r.skipped) {
      tally.opsSkipped++;
      err.write(`frame ${f.index} seq ${r.seq ?? '-'}: op ${s.path} left out (${s.reason}): ${s.detail}\n`);
    }
    if (r.kind === 'entry') {
      tally.entries++;
      byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
      // data is already the exact JSON text; splice it in rather than re-encode.
      lines.push(`{"type":${JSON.stringify(r.type)},"seq":${r.seq ?? 'null'},"data":${r.data}}\n`);
    } else {
      tally.silent++;
      if (opts.all) {
        const line: Record<string, unknown> = { frame: r.frame, reason: r.reason, seq: r.seq };
        if (r.error !== undefined) line.error = r.error;
        if (r.name !== undefined) line.name = r.name;
        if (r.message !== undefined) line.message = r.message;
        lines.push(JSON.stringify(line) + '\n');
      }
    }
    if (lines.length >= 256) flush();
  }
  flush();
  tally.types = [...byType];
  err.write(summary(tally));
  if (truncated) throw truncated;
}
