/**
 * Exponential backoff with full jitter: the n-th delay is uniform in
 * [0, min(max, min * 2^n)], so reconnecting clients spread out instead of
 * arriving together.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the ceiling. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 32);
    return Math.round(this.random() * ceiling);
  }

  /** The largest delay, for errors that must never cause a tight loop. */
  max(): number {
    this.attempt = Math.min(this.attempt + 1, 32);
    return this.maxMs;
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
