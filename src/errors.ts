/**
 * The one error type of firehose-redis. The native addon receives this class
 * when it loads and throws it too, so every error a caller sees carries one
 * of these codes.
 */
export const ErrorCodes = {
  /** A setting is missing or malformed (the CLI exits with code 2). */
  CONFIG: 'ERR_CONFIG',
  /** An argument of the wrong type reached the native addon. */
  INVALID_ARG: 'ERR_INVALID_ARG',
  /** A relay message could not be decoded. */
  FRAME_INVALID: 'ERR_FRAME_INVALID',
  /** A DAG-CBOR value is malformed or outside the atproto data model (decodeValue). */
  CBOR_INVALID: 'ERR_CBOR_INVALID',
  /** A CAR file is malformed (readCar). */
  CAR_INVALID: 'ERR_CAR_INVALID',
  /** A capture file is missing, unreadable or truncated. */
  CAPTURE: 'ERR_CAPTURE',
  /** A command's output could not be written (a full disk, a closed pipe). */
  OUTPUT: 'ERR_OUTPUT',
  /** Redis refused the writer for good (wrong key type, bad credentials, ACL). */
  REDIS_FATAL: 'ERR_REDIS_FATAL',
  /** The native addon is missing or was built for another platform. */
  ADDON: 'ERR_ADDON',
  /** The ingester was used after close(). */
  CLOSED: 'ERR_CLOSED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class FirehoseError extends Error {
  readonly code: ErrorCode;

  constructor(message: string, code: ErrorCode) {
    super(message);
    this.name = 'FirehoseError';
    this.code = code;
  }
}
