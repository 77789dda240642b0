/**
 * Frame decoding throughput on the real fixture captures (Jetstream relay
 * frames and the official PDS's firehose), repeated to a few hundred MB, in
 * one run:
 *   native core     the C++ decoder as the writer thread runs it, one frame
 *                   after another with no JavaScript value per frame;
 *   native binding  the same decoder through decode(), which also builds a
 *                   JavaScript object and string per frame;
 *   reference       the TypeScript decoder on cborg and @ipld/car.
 *
 *   npm run bench:decode -- [--only native|reference] [--mb 256] [--runs 5]
 *
 * MB here is 10^6 bytes.
 * --only runs one decoder, for profiling it alone (node --prof, --cpu-prof).
 * The reference decoder gets a tenth of the work by default: it is slow
 * enough that the full amount would take minutes. Rates are per second, so
 * the ratio still compares like with like.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCapture } from '../src/capture.js';
import { createDecoder, type DecodedFrame } from '../src/decoder.js';
import { referenceDecodeFrame } from '../src/reference-decoder.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures');
const CAPTURES = ['jetstream-corpus/frames.bin', 'pds-capture/frames.bin'];
const MB = 1e6;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    mb: { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
  },
});
if (values.only !== undefined && values.only !== 'native' && values.only !== 'reference') {
  console.error('--only takes native or reference');
  process.exit(2);
}
const runs = Number(values.runs);
const frames = CAPTURES.flatMap((c) => readCapture(path.join(FIXTURES, c)).map((f) => f.bytes));
const corpusBytes = frames.reduce((n, f) => n + f.length, 0);

interface Result {
  name: string;
  framesPerSec: number;
  mbPerSec: number;
}

function measure(name: string, decode: (frame: Uint8Array) => DecodedFrame, mb: number): Result {
  const passes = Math.max(1, Math.round((mb * MB) / corpusBytes));
  // Touch every result so that none of the work can be optimised away.
  let sink = 0;
  const pass = () => {
    for (const f of frames) {
      const r = decode(f);
      sink += r.kind === 'entry' ? r.data.length : 1;
    }
  };
  for (let i = 0; i < Math.min(passes, 20); i++) pass(); // warm-up
  const seconds: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < passes; i++) pass();
    seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  seconds.sort((a, b) => a - b);
  const median = seconds[Math.floor(seconds.length / 2)]!;
  if (sink === 0) throw new Error('nothing decoded');
  const result = {
    name,
    framesPerSec: (passes * frames.length) / median,
    mbPerSec: (passes * corpusBytes) / MB / median,
  };
  console.log(
    `${name.padEnd(15)} ${result.framesPerSec.toFixed(0).padStart(10)} frames/s ${result.mbPerSec.toFixed(1).padStart(9)} MB/s` +
      `   (median of ${runs} runs of ${((passes * corpusBytes) / MB).toFixed(0)} MB, ${passes * frames.length} frames)`,
  );
  return result;
}

/** The whole corpus as one capture buffer, decoded inside the addon. */
function measureCore(mb: number): Result {
  const capture = Buffer.concat(frames.flatMap((f) => [Buffer.from(new Uint32Array([f.length]).buffer), f]));
  const passes = Math.max(1, Math.round((mb * MB) / corpusBytes));
  const decoder = createDecoder();
  decoder.decodeCapture(capture, Math.min(passes, 20)); // warm-up
  const rates: Array<{ f: number; b: number }> = [];
  for (let run = 0; run < runs; run++) {
    const r = decoder.decodeCapture(capture, passes);
    if (r.invalid !== 0 || r.entries === 0) throw new Error(`unexpected decode result ${JSON.stringify(r)}`);
    rates.push({ f: r.frames / (r.nanoseconds / 1e9), b: r.bytes / (r.nanoseconds / 1e9) });
  }
  rates.sort((a, b) => a.b - b.b);
  const median = rates[Math.floor(rates.length / 2)]!;
  const result = { name: 'native core', framesPerSec: median.f, mbPerSec: median.b / MB };
  console.log(
    `${result.name.padEnd(15)} ${result.framesPerSec.toFixed(0).padStart(10)} frames/s ${result.mbPerSec.toFixed(1).padStart(9)} MB/s` +
      `   (median of ${runs} runs of ${((passes * corpusBytes) / MB).toFixed(0)} MB, ${passes * frames.length} frames)`,
  );
  return result;
}

console.log(`corpus: ${frames.length} frames, ${(corpusBytes / MB).toFixed(2)} MB (${CAPTURES.join(', ')})`);
const mb = Number(values.mb);
const results: Result[] = [];
if (values.only !== 'reference') {
  results.push(measureCore(mb * 4));
  const native = createDecoder();
  results.push(measure('native binding', (f) => native.decode(f), mb));
}
if (values.only !== 'native') {
  results.push(measure('reference', (f) => referenceDecodeFrame(f), mb / 10));
}
const reference = results.find((r) => r.name === 'reference');
for (const r of results) {
  if (reference && r !== reference) console.log(`${r.name} / reference: ${(r.mbPerSec / reference.mbPerSec).toFixed(1)}x`);
}
