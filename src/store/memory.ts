/**
 * In-process store: exact (single-threaded, so every operation is atomic) and bounded. Expired
 * entries are evicted as they are met and by a periodic sweep; at `maxKeys` the least recently used
 * entry goes, so a flood of random keys cannot exhaust memory.
 */
import { gcra, slidingWindow, type Verdict } from '../ratelimit/algorithms.ts';
import type { LimitCheck, Store } from './store.ts';

interface Entry {
  /** GCRA theoretical arrival time, or the sliding log, or a counter / flag. */
  tat: number;
  times: number[] | undefined;
  count: number;
  expiresAt: number;
  /** When the entry last moved to the most-recent end of the LRU order. */
  touched: number;
}

/**
 * A written entry moves to the most-recent end of the LRU order at most once per this many ms: a hot
 * key is updated in place (one map lookup per check instead of four), and the order stays exact to
 * within this granularity — far below the age of any entry an eviction would pick.
 */
const REORDER_MS = 1000;

export interface MemoryStoreOptions {
  maxKeys?: number;
  now?: () => number;
  sweepIntervalMs?: number;
}

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();
  /** The cap on entries (least recently written evicted beyond it). */
  readonly maxKeys: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout | undefined;
  evictions = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? 10_000;
    if (every > 0) {
      this.sweeper = setInterval(() => this.sweep(), every);
      this.sweeper.unref();
    }
  }

  get size(): number {
    return this.entries.size;
  }

  private live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Stores `e` as the most recently used entry, evicting the least recently used one when full. */
  private put(key: string, e: Entry): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxKeys) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
        this.evictions++;
      }
    }
    this.entries.set(key, e);
  }

  /** Moves a live entry written in place to the most-recent end of the LRU order (at most once per REORDER_MS). */
  private touch(key: string, e: Entry, now: number): void {
    if (now - e.touched < REORDER_MS) return;
    e.touched = now;
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  consume(checks: readonly LimitCheck[], cost = 1): Verdict[] {
    const now = this.now();
    const verdicts: Verdict[] = [];
    const tats: number[] = [];
    const found: (Entry | undefined)[] = [];
    let allowed = true;
    for (let i = 0; i < checks.length; i++) {
      const { key, rule } = checks[i] as LimitCheck;
      const e = this.live(key, now);
      found.push(e);
      if (rule.algorithm === 'gcra') {
        const r = gcra(rule, e?.tat, now, cost);
        verdicts.push(r.verdict);
        tats.push(r.tat);
        allowed &&= r.verdict.allowed;
      } else {
        const v = slidingWindow(rule, e?.times ?? [], now, cost);
        verdicts.push(v);
        tats.push(0);
        allowed &&= v.allowed;
      }
    }
    if (!allowed) return verdicts;
    // Every check passed: charge them all (in place when the entry exists).
    for (let i = 0; i < checks.length; i++) {
      const { key, rule } = checks[i] as LimitCheck;
      // The same key twice in one call: the first charge created or moved it.
      const e = found[i] ?? this.live(key, now);
      if (rule.algorithm === 'gcra') {
        const tat = tats[i] as number;
        if (e !== undefined) {
          e.tat = tat;
          e.expiresAt = tat;
          this.touch(key, e, now);
        } else {
          this.put(key, { tat, times: undefined, count: 0, expiresAt: tat, touched: now });
        }
      } else {
        const times = e?.times ?? [];
        for (let c = 0; c < cost; c++) times.push(now);
        if (e !== undefined) {
          e.times = times;
          e.expiresAt = now + rule.periodMs;
          this.touch(key, e, now);
        } else {
          this.put(key, { tat: 0, times, count: 0, expiresAt: now + rule.periodMs, touched: now });
        }
      }
    }
    return verdicts;
  }

  increment(key: string, ttlMs: number): number {
    const now = this.now();
    const e = this.live(key, now);
    if (e) {
      e.count++;
      return e.count;
    }
    this.put(key, { tat: 0, times: undefined, count: 1, expiresAt: now + ttlMs, touched: now });
    return 1;
  }

  setFlag(key: string, ttlMs: number): void {
    const now = this.now();
    this.put(key, { tat: 0, times: undefined, count: 1, expiresAt: now + ttlMs, touched: now });
  }

  flagTtl(key: string): number {
    const now = this.now();
    const e = this.live(key, now);
    return e ? e.expiresAt - now : 0;
  }

  flagTtls(keys: readonly string[]): number[] {
    return keys.map((k) => this.flagTtl(k));
  }

  deleteKey(key: string): void {
    this.entries.delete(key);
  }

  async listKeys(prefix: string, max: number): Promise<{ key: string; ttlMs: number }[]> {
    const now = this.now();
    const out: { key: string; ttlMs: number }[] = [];
    for (const [key, e] of this.entries) {
      if (out.length >= max) break;
      if (key.startsWith(prefix) && e.expiresAt > now) out.push({ key, ttlMs: e.expiresAt - now });
    }
    return out;
  }

  get stats(): Readonly<Record<string, number>> {
    return { evictions: this.evictions };
  }

  /** In-process semaphores: key → holders. Holders always release (the gateway's own requests). */
  private readonly slots = new Map<string, Set<string>>();

  acquire(key: string, holder: string, limit: number): boolean {
    let held = this.slots.get(key);
    if (held === undefined) {
      held = new Set();
      this.slots.set(key, held);
    }
    if (held.size >= limit) return false;
    held.add(holder);
    return true;
  }

  release(key: string, holder: string): void {
    const held = this.slots.get(key);
    if (held === undefined) return;
    held.delete(holder);
    if (held.size === 0) this.slots.delete(key);
  }

  /** Number of keys with slots held. */
  get semaphores(): number {
    return this.slots.size;
  }

  /** Drops expired entries; bounded work per call. */
  sweep(limit = 10_000): void {
    const now = this.now();
    let n = 0;
    for (const [key, e] of this.entries) {
      if (e.expiresAt <= now) this.entries.delete(key);
      if (++n >= limit) break;
    }
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.entries.clear();
    this.slots.clear();
  }
}
