#!/usr/bin/env node
/**
 * The firehose-redis command line: run (default), decode, record, replay.
 * Exit codes: 0 success, 1 failure at run time, 2 bad settings or usage.
 */
import { parseArgs } from 'node:util';
import { loadConfig, SETTINGS, unknownSettings } from './config.js';
import { FirehoseError, ErrorCodes } from './errors.js';

const HELP = `firehose-redis: the AT Protocol firehose into Redis Streams

Usage:
  firehose-redis [run]                 read RELAY_URL, write REDIS_URL (settings come from the environment)
  firehose-redis decode <capture>      print the stream entries a capture becomes, one JSON line each
      --all                            also print frames that make no entry, and per-frame errors
      --collections <list>             keep only these collections (as COLLECTIONS)
      --reference                      decode with the TypeScript reference decoder instead
  firehose-redis record <capture>      save RELAY_URL's raw messages into a capture file
      --count <n>                      stop after n messages
      --seconds <s>                    stop after s seconds
      --cursor <seq>                   start from this seq instead of live
  firehose-redis replay [capture]      write a capture into REDIS_URL through the writer, no relay
                                       (no file: a bundled sample of 100 real relay frames, into REDIS_STREAM_KEY + ":sample");
                                       frames up to the replay's cursor are skipped, so a rerun writes nothing twice;
                                       gives up (exit code 1) when Redis does not answer within REDIS_CONNECT_TIMEOUT_MS
      --stream-key <key>               stream to write (default: REDIS_STREAM_KEY, or the sample's own)
      --cursor-key <key>               the replay's cursor key (default: the stream key + ":replay-cursor")
      --into-live-stream               write even into a stream that a service feeds (its REDIS_CURSOR_KEY exists);
                                       without it, replay refuses with exit code 2
  firehose-redis --help | --version

A capture is raw subscribeRepos messages, each a u32 little-endian length then the bytes.
Exit codes: 0 success, 1 failure, 2 bad settings or usage (or replay refusing a live stream).
Environment variables that look like misspelt settings are warned about at start.

Settings (environment variables):
${SETTINGS.map((s) => `  ${s.name} (default: ${s.default === '' ? 'none' : s.default})\n      ${s.doc}`).join('\n')}
`;

/**
 * The TypeScript reference decoder needs cborg, @ipld/car and multiformats,
 * development dependencies: loaded only for `decode --reference`.
 */
async function loadReferenceDecoder(): Promise<typeof import('./reference-decoder.js').referenceDecodeFrame> {
  try {
    return (await import('./reference-decoder.js')).referenceDecodeFrame;
  } catch (err) {
    throw new FirehoseError(
      `decode --reference needs the development dependencies (${(err as Error).message.split('\n')[0]}): run npm install cborg @ipld/car multiformats, or npm ci in a clone`,
      ErrorCodes.CONFIG,
    );
  }
}

function usage(message: string): never {
  throw new FirehoseError(`${message} (see firehose-redis --help)`, ErrorCodes.CONFIG);
}

/** The commands without a logger say it on stderr; the service logs it. */
function warnUnknownSettings(): void {
  for (const u of unknownSettings()) process.stderr.write(`firehose-redis: warning: ${u.message}\n`);
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) === 0) usage(`--${name} takes a positive whole number, got "${v}"`);
  return Number(v);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      all: { type: 'boolean' },
      reference: { type: 'boolean' },
      collections: { type: 'string' },
      count: { type: 'string' },
      seconds: { type: 'string' },
      cursor: { type: 'string' },
      'cursor-key': { type: 'string' },
      'stream-key': { type: 'string' },
      'into-live-stream': { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    const { createRequire } = await import('node:module');
    process.stdout.write(`${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const [command = 'run', ...rest] = positionals;
  switch (command) {
    case 'run': {
      if (rest.length) usage(`run takes no arguments, got "${rest.join(' ')}"`);
      // Imported here, so that a missing addon is reported like any error.
      const { runService } = await import('./commands/run.js');
      return runService();
    }
    case 'decode': {
      const file = rest[0] ?? usage('decode needs a capture file: firehose-redis decode <capture>');
      const { runDecode } = await import('./commands/decode.js');
      // Loading cborg and @ipld/car costs more than decoding a few MB natively: only when asked.
      const reference = values.reference ? await loadReferenceDecoder() : undefined;
      const collections = values.collections?.split(',').map((s) => s.trim()).filter(Boolean);
      runDecode(
        {
          file,
          all: values.all ?? false,
          decoder: { collections },
          ...(reference ? { decode: (f: Uint8Array) => reference(f, { collections }) } : {}),
        },
        process.stdout,
        process.stderr,
      );
      return 0;
    }
    case 'record': {
      const file = rest[0] ?? usage('record needs a file to write: firehose-redis record <capture>');
      const config = loadConfig();
      warnUnknownSettings();
      const { runRecord } = await import('./commands/record.js');
      if (values.cursor !== undefined && !/^\d+$/.test(values.cursor)) usage(`--cursor takes a seq number, got "${values.cursor}"`);
      return runRecord(
        {
          file,
          relayUrl: config.relayUrls[0]!,
          cursor: values.cursor,
          count: positiveInt('count', values.count),
          seconds: positiveInt('seconds', values.seconds),
        },
        process.stderr,
      );
    }
    case 'replay': {
      if (rest.length > 1) usage(`replay takes one capture file, got "${rest.join(' ')}"`);
      const config = loadConfig();
      warnUnknownSettings();
      const { runReplay } = await import('./commands/replay.js');
      for (const flag of ['stream-key', 'cursor-key'] as const) {
        const key = values[flag];
        if (key !== undefined && (key === '' || /\s/.test(key))) usage(`--${flag} takes a key without white space, got "${key}"`);
      }
      const opts = { file: rest[0], streamKey: values['stream-key'], cursorKey: values['cursor-key'], intoLiveStream: values['into-live-stream'] ?? false };
      return runReplay(config, opts, process.stderr);
    }
    default:
      return usage(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: unknown }).code;
    const usageError = code === ErrorCodes.CONFIG || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
    if (err instanceof FirehoseError || usageError) {
      process.stderr.write(`firehose-redis: ${(err as Error).message}\n`);
      process.exitCode = usageError ? 2 : 1;
    } else {
      process.stderr.write(`firehose-redis: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
