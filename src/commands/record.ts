/**
 * `firehose-redis record <file>`: save a relay's raw messages as a capture,
 * for replay, tests and benchmarks. Stops after a count, a time, or Ctrl-C.
 *
 * The file is created only once the relay has accepted the connection, so a
 * relay that cannot be reached leaves an existing file alone. A recording
 * that fails before its first message leaves no empty file behind.
 */
import fs from 'node:fs';
import WebSocket from 'ws';
import { CaptureWriter, MAX_CAPTURE_MESSAGE_BYTES } from '../capture.js';

export interface RecordOptions {
  file: string;
  relayUrl: string;
  cursor?: string;
  count?: number;
  seconds?: number;
}

export function runRecord(opts: RecordOptions, err: NodeJS.WritableStream): Promise<number> {
  const url = `${opts.relayUrl}/xrpc/com.atproto.sync.subscribeRepos${opts.cursor ? `?cursor=${encodeURIComponent(opts.cursor)}` : ''}`;
  err.write(`recording ${url} into ${opts.file}\n`);
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_CAPTURE_MESSAGE_BYTES });
  return new Promise((resolve) => {
    let out: CaptureWriter | undefined;
    let code = 0;
    let finished = false;
    const finish = () => {
      // Messages already on their way still arrive while the close completes.
      finished = true;
      ws.close(1000);
    };
    const timer = opts.seconds ? setTimeout(finish, opts.seconds * 1000) : undefined;
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    ws.on('open', () => {
      try {
        out = new CaptureWriter(opts.file);
      } catch (e) {
        err.write(`firehose-redis: ${(e as Error).message}\n`);
        code = 1;
        ws.terminate();
      }
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || finished || !out) return;
      out.write(data);
      if (opts.count && out.frames >= opts.count) finish();
    });
    ws.on('error', (e) => {
      err.write(`relay error: ${e.message}\n`);
      code = 1;
    });
    ws.on('close', (closeCode: number, reason: Buffer) => {
      clearTimeout(timer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      if (!finished && code === 0) {
        // Only Ctrl-C, --count or --seconds end a recording well.
        err.write(`relay closed the connection (${closeCode}${reason.length ? ` ${reason.toString()}` : ''})\n`);
        code = 1;
      }
      if (!out) {
        err.write(`nothing recorded; ${opts.file} was not written\n`);
      } else {
        out.close();
        if (code !== 0 && out.frames === 0) {
          fs.rmSync(opts.file, { force: true });
          err.write(`nothing recorded; removed the empty ${opts.file}\n`);
        } else {
          err.write(`recorded ${out.frames} frames (${out.bytes} bytes) into ${opts.file}\n`);
        }
      }
      resolve(code);
    });
  });
}
