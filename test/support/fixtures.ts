/**
 * Paths to test/fixtures and small readers for the fixture formats. Tests
 * run from dist/test/, so the repository root is two levels up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCapture, type CapturedFrame } from '../../src/capture.js';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures');

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

export function readFixture(...parts: string[]): Buffer {
  return fs.readFileSync(fixture(...parts));
}

export function readJson<T = unknown>(...parts: string[]): T {
  return JSON.parse(fs.readFileSync(fixture(...parts), 'utf8')) as T;
}

export function readJsonl<T = unknown>(...parts: string[]): T[] {
  return fs
    .readFileSync(fixture(...parts), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** Rows of a tab-separated file with a header line, as objects keyed by column. */
export function readTsv(...parts: string[]): Array<Record<string, string>> {
  const [head, ...rows] = fs.readFileSync(fixture(...parts), 'utf8').trim().split('\n');
  const columns = head!.split('\t');
  return rows.map((row) => Object.fromEntries(row.split('\t').map((v, i) => [columns[i], v])));
}

export function readFrames(...parts: string[]): CapturedFrame[] {
  return readCapture(fixture(...parts));
}

/** The real captures: every frame in them is as a relay or PDS sent it. */
export const CAPTURES = [
  'jetstream-corpus/frames.bin',
  'pds-capture/frames.bin',
  'pds-capture/error-frame-futurecursor/frames.bin',
] as const;

/**
 * JSON.parse, except that integers become bigints so that values beyond
 * 2^53 compare exactly. Other numbers stay numbers.
 */
export function parseJsonExact(text: string): unknown {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (token) =>
    /^-?\d+$/.test(token) ? `{"$int":"${token}"}` : token,
  );
  return JSON.parse(marked, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && Object.keys(value).length === 1 && '$int' in value
      ? BigInt((value as { $int: string }).$int)
      : value,
  );
}
