/**
 * `firehose-redis decode <capture>`: one JSON line per stream entry the
 * capture's frames become, exactly as the service would write them.
 */
import { readCapture } from '../capture.js';
import { createDecoder, type DecodedFrame, type DecoderOptions } from '../decoder.js';
import { FirehoseError } from '../errors.js';

export interface DecodeCommandOptions {
  file: string;
  /** Also write non-entry frames and per-frame errors to stdout. */
  all: boolean;
  decoder: DecoderOptions;
  /** Decode with a custom implementation (the TypeScript reference, say). */
  decode?: (frame: Uint8Array) => DecodedFrame;
}

export function runDecode(opts: DecodeCommandOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void {
  const frames = readCapture(opts.file);
  const native = createDecoder(opts.decoder);
  const decode = opts.decode ?? ((f: Uint8Array) => native.decode(f));
  const byType = new Map<string, number>();
  let entries = 0;
  let silent = 0;
  let failed = 0;
  let skippedOps = 0;
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
      failed++;
      err.write(`frame ${f.index} (offset ${f.offset}, ${f.bytes.length} bytes): ${e.message}\n`);
      if (opts.all) lines.push(JSON.stringify({ index: f.index, offset: f.offset, error: e.message }) + '\n');
      continue;
    }
    for (const s of r.skipped) {
      skippedOps++;
      err.write(`frame ${f.index} seq ${r.seq ?? '-'}: op ${s.path} left out (${s.reason}): ${s.detail}\n`);
    }
    if (r.kind === 'entry') {
      entries++;
      byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
      // data is already the exact JSON text; splice it in rather than re-encode.
      lines.push(`{"type":${JSON.stringify(r.type)},"seq":${r.seq ?? 'null'},"data":${r.data}}\n`);
    } else {
      silent++;
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
  const types = [...byType].map(([t, n]) => `${n} ${t}`).join(', ');
  err.write(
    `decoded ${frames.length} frames: ${entries} entries${types ? ` (${types})` : ''}, ` +
      `${silent} without an entry, ${failed} failed; ${skippedOps} ops left out\n`,
  );
}
