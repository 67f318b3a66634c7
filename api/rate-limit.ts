/**
 * A token bucket per key (a function id): `burst` calls at once, refilled at `perMinute`. Kept in
 * the API process's memory, so with several pratai-api processes each allows its own share.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  /**
   * @param perMinute calls a minute allowed once the burst is spent (0: no limit)
   * @param burst calls allowed at once
   * @param now the clock, in ms since the epoch
   */
  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes one call for `key`: 0 when allowed, else the whole seconds to wait before one is. */
  take(key: string): number {
    if (this.perMinute === 0) return 0;
    const at = this.now();
    const held = this.buckets.get(key);
    const tokens = held === undefined ? this.burst : Math.min(this.burst, held.tokens + (at - held.at) * this.perMs);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at });
      this.forgetFull(at);
      return 0;
    }
    this.buckets.set(key, { tokens, at });
    return Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  /** Buckets that have refilled are the same as no bucket: drop them now and then, to stay small. */
  private forgetFull(at: number): void {
    if (this.buckets.size < 10_000) return;
    for (const [key, bucket] of this.buckets) if (bucket.tokens + (at - bucket.at) * this.perMs >= this.burst) this.buckets.delete(key);
  }
}
