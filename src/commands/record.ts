/**
 * `firehose-redis record <file>`: save a relay's raw messages as a capture,
 * for replay, tests and benchmarks. Stops after a count, a time, or Ctrl-C.
 */
import WebSocket from 'ws';
import { CaptureWriter } from '../capture.js';

export interface RecordOptions {
  file: string;
  relayUrl: string;
  cursor?: string;
  count?: number;
  seconds?: number;
}

export function runRecord(opts: RecordOptions, err: NodeJS.WritableStream): Promise<number> {
  const out = new CaptureWriter(opts.file);
  const url = `${opts.relayUrl}/xrpc/com.atproto.sync.subscribeRepos${opts.cursor ? `?cursor=${encodeURIComponent(opts.cursor)}` : ''}`;
  err.write(`recording ${url} into ${opts.file}\n`);
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20 });
  return new Promise((resolve) => {
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
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || finished) return;
      out.write(data);
      if (opts.count && out.frames >= opts.count) finish();
    });
    ws.on('error', (e) => {
      err.write(`relay error: ${e.message}\n`);
      code = 1;
    });
    ws.on('close', () => {
      clearTimeout(timer);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      out.close();
      err.write(`recorded ${out.frames} frames (${out.bytes} bytes) into ${opts.file}\n`);
      resolve(code);
    });
  });
}
