/**
 * A bounded cache of verified credentials, keyed by a SHA-256 of the credential (the credential
 * itself is never kept as a key). An entry never outlives its `expiresAt` (the token's `exp`), so a
 * cache hit can never accept an expired token. When full, the oldest entry goes (insertion order).
 */
import { hash } from 'node:crypto';
import type { Identity } from './identity.ts';

export function credentialKey(credential: string): string {
  return hash('sha256', credential, 'base64');
}

export class TokenCache {
  private readonly entries = new Map<string, { identity: Identity; until: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.maxEntries = maxEntries;
    this.now = now;
  }

  get(key: string): Identity | undefined {
    const e = this.entries.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    if (e.until <= this.now()) {
      this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return e.identity;
  }

  /** Caches until min(expiresAt, now + ttl); identities without an expiry are cached for ttl only. */
  set(key: string, identity: Identity, ttlMs: number): void {
    if (this.maxEntries <= 0 || ttlMs <= 0) return;
    const now = this.now();
    const until = Math.min(identity.expiresAt ?? Number.POSITIVE_INFINITY, now + ttlMs);
    if (until <= now) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { identity, until });
  }

  get size(): number {
    return this.entries.size;
  }
}
