/**
 * Rate-limit algorithms, as pure functions of a stored state and the time, so the memory store, the
 * Redis scripts and the tests all share one definition.
 *
 * GCRA (the Generic Cell Rate Algorithm; token-bucket semantics with one timestamp per key): a bucket
 * of `limit + burst` requests that refills at `limit` per `period`. The state is the theoretical
 * arrival time (TAT) of the next request. Exactly `limit + burst` requests pass at once from a full
 * bucket, then one per `period / limit`.
 *
 * Sliding window (log): at most `limit` requests in ANY window of length `period`, exactly; the state
 * is the admitted requests' timestamps (memory grows with the limit).
 */

export interface Rule {
  /** Stable id of the policy (part of the key), e.g. "orders:consumer:1m". */
  id: string;
  limit: number;
  periodMs: number;
  burst: number;
  algorithm: 'gcra' | 'sliding-window';
}

export interface Verdict {
  allowed: boolean;
  /** Requests that would still pass right now after this one. */
  remaining: number;
  /** Milliseconds until the state is back to full (bucket full / window empty). */
  resetMs: number;
  /** When rejected: milliseconds until a request of this cost could pass. */
  retryAfterMs: number;
}

/** GCRA check of `cost` at `now` given the stored TAT (or undefined); returns the verdict and the TAT to store when allowed. */
export function gcra(rule: Rule, storedTat: number | undefined, now: number, cost = 1): { verdict: Verdict; tat: number } {
  const interval = rule.periodMs / rule.limit;
  const capacity = rule.limit + rule.burst;
  const tat = storedTat === undefined || storedTat < now ? now : storedTat;
  const newTat = tat + cost * interval;
  const horizon = capacity * interval; // how far ahead of now the TAT may run
  if (newTat - now > horizon + 1e-9) {
    return {
      verdict: {
        allowed: false,
        remaining: 0,
        resetMs: Math.ceil(tat - now),
        retryAfterMs: Math.ceil(newTat - now - horizon),
      },
      tat,
    };
  }
  return {
    verdict: {
      allowed: true,
      remaining: Math.max(0, Math.floor((horizon - (newTat - now)) / interval + 1e-9)),
      resetMs: Math.ceil(newTat - now),
      retryAfterMs: 0,
    },
    tat: newTat,
  };
}

/** Sliding-log check: `times` are the admitted requests' timestamps, oldest first (pruned in place). */
export function slidingWindow(rule: Rule, times: number[], now: number, cost = 1): Verdict {
  const from = now - rule.periodMs;
  let drop = 0;
  while (drop < times.length && (times[drop] as number) <= from) drop++;
  if (drop > 0) times.splice(0, drop);
  if (times.length + cost > rule.limit) {
    // The request can pass once enough of the oldest entries have left the window.
    const needed = times.length + cost - rule.limit;
    const oldestToLeave = times[Math.min(needed, times.length) - 1] ?? now;
    return {
      allowed: false,
      remaining: 0,
      resetMs: Math.ceil((times[times.length - 1] ?? now) + rule.periodMs - now),
      retryAfterMs: Math.max(1, Math.ceil(oldestToLeave + rule.periodMs - now)),
    };
  }
  return {
    allowed: true,
    remaining: rule.limit - times.length - cost,
    resetMs: Math.ceil((times[0] ?? now) + rule.periodMs - now),
    retryAfterMs: 0,
  };
}
