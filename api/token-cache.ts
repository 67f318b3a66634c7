/**
 * Validated tokens, kept so that not every API call asks Keystone: keyed by a hash of the token
 * (the token itself is never kept), each entry good until the earlier of the token's expiry and
 * the configured cache time. Only positive results are kept: a refused token is asked about again.
 */
import { createHash } from 'node:crypto';

export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  /**
   * @param cacheTimeMs how long an entry is trusted (0: nothing is kept)
   * @param maxEntries the most entries kept; the oldest goes first
   * @param now the clock, in ms since the epoch
   */
  constructor(
    private readonly cacheTimeMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('hex');
  }

  get(token: string): T | undefined {
    const key = TokenCache.keyOf(token);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() < entry.until) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Keeps `value` for `token`, never past `expiresAt`. */
  set(token: string, value: T, expiresAt: Date): void {
    const until = Math.min(this.now() + this.cacheTimeMs, expiresAt.getTime());
    if (until <= this.now()) return;
    const key = TokenCache.keyOf(token);
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
