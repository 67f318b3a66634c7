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
    readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Whether there is a limit at all (a rate of 0 is none). */
  get limited(): boolean {
    return this.perMinute !== 0;
  }

  /**
   * Takes `count` calls for `key`, all or none: 0 when allowed, else the whole seconds to wait
   * before that many are (never, for more than the burst: the caller refuses those first).
   */
  take(key: string, count = 1): number {
    if (!this.limited) return 0;
    const at = this.now();
    const tokens = this.tokensAt(key, at);
    if (tokens >= count) {
      this.buckets.set(key, { tokens: tokens - count, at });
      this.forgetFull(at);
      return 0;
    }
    this.buckets.set(key, { tokens, at });
    return this.secondsUntil(tokens, count);
  }

  /** As `take`, without taking: the whole seconds until `count` calls for `key` would be allowed (0: now). */
  wait(key: string, count = 1): number {
    if (!this.limited) return 0;
    const tokens = this.tokensAt(key, this.now());
    return tokens >= count ? 0 : this.secondsUntil(tokens, count);
  }

  private tokensAt(key: string, at: number): number {
    const held = this.buckets.get(key);
    return held === undefined ? this.burst : Math.min(this.burst, held.tokens + (at - held.at) * this.perMs);
  }

  private secondsUntil(tokens: number, count: number): number {
    return Math.max(1, Math.ceil((count - tokens) / this.perMs / 1000));
  }

  /** Buckets that have refilled are the same as no bucket: drop them now and then, to stay small. */
  private forgetFull(at: number): void {
    if (this.buckets.size < 10_000) return;
    for (const [key, bucket] of this.buckets) if (bucket.tokens + (at - bucket.at) * this.perMs >= this.burst) this.buckets.delete(key);
  }
}
