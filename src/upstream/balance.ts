/**
 * Load-balancing policies. Each picks one target among those `ok` accepts (healthy, not tried yet by
 * this request); none allocates on the common path.
 *
 * - round-robin: smooth weighted round-robin (nginx's: even spread, no bursts to the heavy target).
 * - least-connections: fewest in-flight exchanges per unit of weight; ties rotate.
 * - random: power of two choices (two random targets, the less loaded one wins; Mitzenmacher), which
 *   avoids both herding on the momentary minimum and the variance of pure random.
 * - consistent-hash: a ring with `VNODES × weight` virtual nodes per target (FNV-1a + murmur3
 *   finaliser); a key goes to the first acceptable target clockwise, so when a target leaves only its
 *   own keys move.
 */

export interface Balanced {
  readonly origin: string;
  readonly weight: number;
  /** In-flight exchanges. */
  active: number;
  /** Smooth weighted round-robin state. */
  current: number;
}

export type BalanceKind = 'round-robin' | 'least-connections' | 'random' | 'consistent-hash';

export interface Balancer<T extends Balanced> {
  /** A target `ok` accepts, or undefined when there is none. `key` is used by consistent-hash only. */
  pick(ok: (t: T) => boolean, key: string | undefined): T | undefined;
}

export function createBalancer<T extends Balanced>(kind: BalanceKind, targets: readonly T[], random: () => number = Math.random): Balancer<T> {
  switch (kind) {
    case 'round-robin':
      return new RoundRobin(targets);
    case 'least-connections':
      return new LeastConnections(targets);
    case 'random':
      return new PowerOfTwo(targets, random);
    case 'consistent-hash':
      return new HashRing(targets);
  }
}

class RoundRobin<T extends Balanced> implements Balancer<T> {
  private readonly targets: readonly T[];
  private readonly uniform: boolean;
  private next = 0;

  constructor(targets: readonly T[]) {
    this.targets = targets;
    this.uniform = targets.every((t) => t.weight === targets[0]?.weight);
  }

  pick(ok: (t: T) => boolean): T | undefined {
    const targets = this.targets;
    const n = targets.length;
    if (this.uniform) {
      for (let i = 0; i < n; i++) {
        const t = targets[this.next] as T;
        this.next = (this.next + 1) % n;
        if (ok(t)) return t;
      }
      return undefined;
    }
    let best: T | undefined;
    let total = 0;
    for (const t of targets) {
      if (!ok(t)) continue;
      t.current += t.weight;
      total += t.weight;
      if (best === undefined || t.current > best.current) best = t;
    }
    if (best !== undefined) best.current -= total;
    return best;
  }
}

class LeastConnections<T extends Balanced> implements Balancer<T> {
  private readonly targets: readonly T[];
  private start = 0;

  constructor(targets: readonly T[]) {
    this.targets = targets;
  }

  pick(ok: (t: T) => boolean): T | undefined {
    const targets = this.targets;
    const n = targets.length;
    let best: T | undefined;
    let bestLoad = Infinity;
    // Rotating the starting point spreads ties (an idle pool) like round-robin would.
    const start = this.start;
    this.start = (start + 1) % n;
    for (let i = 0; i < n; i++) {
      const t = targets[(start + i) % n] as T;
      if (!ok(t)) continue;
      const load = (t.active + 1) / t.weight;
      if (load < bestLoad) {
        best = t;
        bestLoad = load;
      }
    }
    return best;
  }
}

class PowerOfTwo<T extends Balanced> implements Balancer<T> {
  private readonly targets: readonly T[];
  private readonly random: () => number;
  private readonly scratch: T[] = [];

  constructor(targets: readonly T[], random: () => number) {
    this.targets = targets;
    this.random = random;
  }

  pick(ok: (t: T) => boolean): T | undefined {
    let pool: readonly T[] = this.targets;
    if (!pool.every(ok)) {
      const s = this.scratch;
      s.length = 0;
      for (const t of this.targets) if (ok(t)) s.push(t);
      pool = s;
    }
    const n = pool.length;
    if (n <= 1) return pool[0];
    const i = Math.floor(this.random() * n);
    let j = Math.floor(this.random() * (n - 1));
    if (j >= i) j++;
    const a = pool[i] as T;
    const b = pool[j] as T;
    return (a.active + 1) / a.weight <= (b.active + 1) / b.weight ? a : b;
  }
}

/** Virtual nodes per unit of weight. 160 gives a few % spread across targets (ketama uses 160). */
export const VNODES = 160;

export class HashRing<T extends Balanced> implements Balancer<T> {
  private readonly hashes: Uint32Array;
  private readonly owners: T[];
  private readonly fallback: RoundRobin<T>;

  constructor(targets: readonly T[]) {
    const points: { h: number; t: T }[] = [];
    for (const t of targets) {
      const count = VNODES * t.weight;
      for (let i = 0; i < count; i++) points.push({ h: hash32(`${t.origin}#${i}`), t });
    }
    points.sort((a, b) => a.h - b.h);
    this.hashes = Uint32Array.from(points, (p) => p.h);
    this.owners = points.map((p) => p.t);
    this.fallback = new RoundRobin(targets);
  }

  pick(ok: (t: T) => boolean, key: string | undefined): T | undefined {
    // No key (no such header / cookie, anonymous consumer): spread evenly instead of piling onto one node.
    if (key === undefined) return this.fallback.pick(ok);
    const hashes = this.hashes;
    const n = hashes.length;
    const h = hash32(key);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((hashes[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    for (let i = 0; i < n; i++) {
      const t = this.owners[(lo + i) % n] as T;
      if (ok(t)) return t;
    }
    return undefined;
  }
}

/**
 * FNV-1a over UTF-16 code units, then murmur3's fmix32 for avalanche. Unsigned 32-bit. `seed`
 * replaces FNV's offset basis, so that two uses keyed on the same value do not correlate.
 */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
