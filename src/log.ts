/**
 * pino logger: JSON lines for machines, colourised lines on a terminal.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger } from 'pino';

export function createLogger(level: LogLevel, format: LogFormat, stream: NodeJS.WritableStream = process.stdout): Logger {
  const usePretty = format === 'pretty' || (format === 'auto' && (stream as { isTTY?: boolean }).isTTY === true);
  const options = { level, base: { name: 'firehose-redis' } };
  if (usePretty) {
    // Messages carry everything a person needs; the fields repeat them for machines.
    return pino(options, pretty({ destination: stream, sync: true, colorize: true, ignore: 'pid,hostname,name', hideObject: true }));
  }
  // Synchronous writes: rare lines, and none may be lost when the process exits.
  if (stream === process.stdout) return pino(options, pino.destination({ dest: 1, sync: true }));
  return pino(options, stream);
}
