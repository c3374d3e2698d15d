import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gcra, slidingWindow, type Rule } from './algorithms.ts';

const rule = (o: Partial<Rule> = {}): Rule => ({ id: 'r', limit: 10, periodMs: 1000, burst: 0, algorithm: 'gcra', ...o });

/** Replays arrivals (ms) through GCRA with a frozen clock; returns which passed. */
function replayGcra(r: Rule, arrivals: number[]): boolean[] {
  let tat: number | undefined;
  return arrivals.map((t) => {
    const out = gcra(r, tat, t);
    if (out.verdict.allowed) tat = out.tat;
    return out.verdict.allowed;
  });
}

describe('GCRA', () => {
  it('lets exactly limit + burst through at once, then one per interval', () => {
    const passed = replayGcra(rule({ limit: 10, burst: 2 }), Array.from({ length: 20 }, () => 0));
    assert.equal(passed.filter(Boolean).length, 12);
    // after one interval (100 ms) exactly one more
    const r = rule({ limit: 10, burst: 2 });
    let tat: number | undefined;
    for (let i = 0; i < 12; i++) tat = gcra(r, tat, 0).tat;
    assert.equal(gcra(r, tat, 99).verdict.allowed, false);
    assert.equal(gcra(r, tat, 100).verdict.allowed, true);
  });

  it('reports remaining, reset and retry-after', () => {
    const r = rule({ limit: 4, periodMs: 1000 });
    let tat: number | undefined;
    const first = gcra(r, tat, 0);
    assert.deepEqual(first.verdict, { allowed: true, remaining: 3, resetMs: 250, retryAfterMs: 0 });
    tat = first.tat;
    for (let i = 0; i < 3; i++) tat = gcra(r, tat, 0).tat;
    const denied = gcra(r, tat, 0);
    assert.deepEqual(denied.verdict, { allowed: false, remaining: 0, resetMs: 1000, retryAfterMs: 250 });
  });

  // Token-bucket semantics: a full bucket empties at once and refills while it empties, so a window of
  // `period` can see up to 2·limit + burst − 1 (documented); sliding-window is the algorithm for
  // "never more than limit in any window".
  it('a sustained rate at the limit always passes; above it, limit + burst at once and the refill rate after', () => {
    const r = rule({ limit: 10, periodMs: 1000 });
    const steady = replayGcra(r, Array.from({ length: 100 }, (_, i) => i * 100));
    assert.ok(steady.every(Boolean));
    // 1000 arrivals evenly over 10 s: exactly limit per second after the first burst window
    const arrivals = Array.from({ length: 1000 }, (_, i) => i * 10);
    const passed = replayGcra(r, arrivals);
    for (let start = 0; start <= 9000; start += 500) {
      const inWindow = arrivals.filter((t, i) => passed[i] && t >= start && t < start + 1000).length;
      assert.ok(inWindow <= 2 * 10 - 1, `window at ${start}: ${inWindow}`);
      // once the initial bucket is spent, exactly the refill rate
      if (start >= 1000) assert.ok(inWindow <= 10 + 1, `window at ${start}: ${inWindow}`);
    }
    assert.equal(passed.filter(Boolean).length, 10 + 100 - 1);
  });

  it('cost > 1 consumes several cells', () => {
    const r = rule({ limit: 10 });
    const a = gcra(r, undefined, 0, 10);
    assert.equal(a.verdict.allowed, true);
    assert.equal(gcra(r, a.tat, 0, 1).verdict.allowed, false);
  });
});

describe('sliding window (log)', () => {
  it('never more than limit in any window, exactly', () => {
    const r = rule({ limit: 5, periodMs: 1000, algorithm: 'sliding-window' });
    const times: number[] = [];
    const arrivals = Array.from({ length: 300 }, (_, i) => i * 13);
    const passedAt: number[] = [];
    for (const t of arrivals) {
      const v = slidingWindow(r, times, t);
      if (v.allowed) {
        times.push(t);
        passedAt.push(t);
      }
    }
    for (const t0 of passedAt) {
      assert.ok(passedAt.filter((t) => t >= t0 && t < t0 + 1000).length <= 5);
    }
    assert.ok(passedAt.length >= 15);
  });

  it('retry-after is when enough of the oldest entries leave the window', () => {
    const r = rule({ limit: 2, periodMs: 1000, algorithm: 'sliding-window' });
    const times = [0, 400];
    const v = slidingWindow(r, times, 500);
    assert.equal(v.allowed, false);
    assert.equal(v.retryAfterMs, 500);
    assert.equal(slidingWindow(r, times, 1000).allowed, true);
  });
});
