/**
 * The shared-state store: one small interface, two implementations (memory: one process; redis:
 * every gateway instance). Every operation is atomic in its implementation.
 */
import type { Rule, Verdict } from '../ratelimit/algorithms.ts';

export interface LimitCheck {
  /** Full key, e.g. `rl:{consumer:acme}:orders-read#0`; checks sharing a `{tag}` are charged atomically together. */
  key: string;
  rule: Rule;
}

export interface Store {
  readonly kind: 'memory' | 'redis' | 'cluster';
  /**
   * Checks every limit and charges all of them only when all pass (a rejected request costs nothing).
   * Verdicts are in the order of `checks`.
   */
  consume(checks: readonly LimitCheck[], cost?: number): Verdict[] | Promise<Verdict[]>;
  /** Adds one to a counter that expires `ttlMs` after its first increment; returns the new count. */
  increment(key: string, ttlMs: number): number | Promise<number>;
  /** Sets a flag that expires after `ttlMs`. */
  setFlag(key: string, ttlMs: number): void | Promise<void>;
  /** Milliseconds a flag has left, or 0 when it is not set. */
  flagTtl(key: string): number | Promise<number>;
  /** Milliseconds each flag has left (0: not set), in one call. */
  flagTtls(keys: readonly string[]): number[] | Promise<number[]>;
  deleteKey(key: string): void | Promise<void>;
  /**
   * Up to `max` live keys starting with `prefix` and the ms each has left (admin views: the ban
   * list). Not for the request path: it walks the key space (Redis: SCAN, on every Cluster master).
   */
  listKeys(prefix: string, max: number): Promise<{ key: string; ttlMs: number }[]>;
  /** Counters for the metrics (errors, evictions), read at scrape time. */
  readonly stats: Readonly<Record<string, number>>;
  /**
   * Takes one of `limit` slots of a semaphore for `holder`; false when all are taken. A slot whose
   * holder never releases it (a crashed instance) frees itself after `ttlMs`.
   */
  acquire(key: string, holder: string, limit: number, ttlMs: number): boolean | Promise<boolean>;
  release(key: string, holder: string): void | Promise<void>;
  close(): Promise<void>;
}

export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
