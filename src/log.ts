/**
 * pino logger: JSON lines for machines, colourised lines on a terminal.
 */
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

// pino-pretty and its dependencies cost a service that logs JSON a tenth of
// its start-up: loaded only for a terminal.
const require = createRequire(import.meta.url);

export type { Logger } from 'pino';

export function createLogger(level: LogLevel, format: LogFormat, stream: NodeJS.WritableStream = process.stdout): Logger {
  const usePretty = format === 'pretty' || (format === 'auto' && (stream as { isTTY?: boolean }).isTTY === true);
  const options = { level, base: { name: 'firehose-redis' } };
  if (usePretty) {
    // Messages carry everything a person needs; the fields repeat them for machines.
    const pretty = require('pino-pretty') as typeof PinoPretty;
    return pino(options, pretty({ destination: stream, sync: true, colorize: true, ignore: 'pid,hostname,name', hideObject: true }));
  }
  // Synchronous writes: rare lines, and none may be lost when the process exits.
  if (stream === process.stdout) return pino(options, pino.destination({ dest: 1, sync: true }));
  return pino(options, stream);
}
