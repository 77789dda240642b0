/**
 * firehose-redis as a library: the writer (createIngester), the frame
 * decoder (decodeFrame), and the whole service.
 */
export { createIngester, Ingester, DASHBOARD_KEYS } from './ingester.js';
export type { IngesterOptions, IngesterEvents, BatchReport, ControlFrame, FrameCounts, QueueStats } from './ingester.js';
export { decodeFrame, createDecoder } from './decoder.js';
export type { DecodedFrame, DecoderOptions, EntryFrame, SilentFrame, SkippedOp } from './decoder.js';
export { Service } from './service.js';
export { loadConfig, cursorKeyFor, SETTINGS, type Config, type Setting } from './config.js';
export { createLogger, type Logger } from './log.js';
export { parseRedisUrl, redactRedisUrl, type RedisTarget } from './redis-url.js';
export { readCapture, splitCapture, CaptureWriter, type CapturedFrame } from './capture.js';
export { SAMPLE_CAPTURE } from './commands/replay.js';
export { FirehoseError, ErrorCodes, type ErrorCode } from './errors.js';
