/**
 * The native frame decoder as a library function: one relay message in, the
 * stream entry it becomes (or why it becomes none) out.
 */
import { addon, type DecodedFrame, type DecoderOptions, type NativeDecoder } from './native.js';

export type { DecodedFrame, DecoderOptions, EntryFrame, SilentFrame, SkippedOp } from './native.js';

let shared: NativeDecoder | undefined;

/**
 * Decodes one subscribeRepos message. Throws FirehoseError (ERR_FRAME_INVALID)
 * with the reason when the message is malformed.
 */
export function decodeFrame(frame: Uint8Array, options?: DecoderOptions): DecodedFrame {
  if (options) return new addon.Decoder(options).decode(frame);
  shared ??= new addon.Decoder();
  return shared.decode(frame);
}

/** A decoder that keeps its options and buffers across calls. */
export function createDecoder(options: DecoderOptions = {}): NativeDecoder {
  return new addon.Decoder(options);
}
