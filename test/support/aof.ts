/**
 * Host crashes for a redis-server of the tests, under appendfsync
 * everysec: what Redis has written but the disk has not yet synced is lost
 * with the page cache. Redis 7's multi-part AOF keeps its commands in the
 * newest incr file listed in appenddirname's manifest; a sampler notes that
 * file's size as time passes, and a crash cuts it back to its size a
 * second earlier, plus a few bytes of the next second's writes, so the cut
 * usually falls inside a command, as a partly written-back page does.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The incr file Redis appends to (the one with the highest seq in the manifest). */
export function incrFile(aofDir: string): string {
  const manifest = fs.readFileSync(path.join(aofDir, 'appendonly.aof.manifest'), 'utf8');
  let best: { name: string; seq: number } | undefined;
  for (const line of manifest.split('\n')) {
    const m = /^file (\S+) seq (\d+) type i$/.exec(line.trim());
    if (m && (!best || Number(m[2]) > best.seq)) best = { name: m[1]!, seq: Number(m[2]) };
  }
  if (!best) throw new Error(`no incr file in ${aofDir}/appendonly.aof.manifest:\n${manifest}`);
  return path.join(aofDir, best.name);
}

export interface Cut {
  file: string;
  /** Size before and after the cut. */
  from: number;
  to: number;
}

export class AofSampler {
  private samples: Array<{ at: number; file: string; size: number }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly aofDir: string, private readonly everyMs = 20) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    try {
      const file = incrFile(this.aofDir);
      this.samples.push({ at: Date.now(), file, size: fs.statSync(file).size });
      if (this.samples.length > 1000) this.samples.splice(0, 500);
    } catch {
      // Redis is restarting: nothing to note.
    }
  }

  /**
   * With Redis killed: cuts the incr file back to its size `lostMs` ago,
   * plus up to `torn` bytes of what followed. Call it right after the kill.
   */
  cutBack(lostMs = 1000, torn = 512): Cut {
    const file = incrFile(this.aofDir);
    const from = fs.statSync(file).size;
    const before = Date.now() - lostMs;
    const old = [...this.samples].reverse().find((s) => s.file === file && s.at <= before);
    const base = old?.size ?? 0;
    const to = Math.min(from, base + Math.floor(Math.random() * torn));
    fs.truncateSync(file, to);
    this.samples = [];
    return { file, from, to };
  }
}

/** Offsets of every MULTI in an AOF file (each begins a replicated script's effects). */
export function multiOffsets(file: string): number[] {
  const data = fs.readFileSync(file);
  const marker = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
  const out: number[] = [];
  for (let i = data.indexOf(marker); i >= 0; i = data.indexOf(marker, i + 1)) out.push(i);
  return out;
}

/** Offsets of the XADD commands in an AOF file between from and to. */
export function xaddOffsets(file: string, from: number, to: number): number[] {
  const data = fs.readFileSync(file).subarray(0, to);
  const marker = Buffer.from('$4\r\nXADD\r\n');
  const out: number[] = [];
  for (let i = data.indexOf(marker, from); i >= 0; i = data.indexOf(marker, i + 1)) out.push(i);
  return out;
}
