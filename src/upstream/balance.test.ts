import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBalancer, hash32, HashRing, type Balanced } from './balance.ts';

const targets = (weights: number[]): Balanced[] => weights.map((weight, i) => ({ origin: `http://10.0.0.${i + 1}:80`, weight, active: 0, current: 0 }));
const all = (): boolean => true;
const count = (picks: (Balanced | undefined)[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const p of picks) if (p) out[p.origin] = (out[p.origin] ?? 0) + 1;
  return out;
};

describe('round-robin', () => {
  it('spreads by weight without bursts (smooth WRR)', () => {
    const ts = targets([1, 3]);
    const b = createBalancer('round-robin', ts);
    const seq = Array.from({ length: 8 }, () => b.pick(all, undefined)?.weight);
    assert.deepEqual(seq, [3, 1, 3, 3, 3, 1, 3, 3].map((w) => w));
  });
  it('skips targets the predicate refuses', () => {
    const ts = targets([1, 1, 1]);
    const b = createBalancer('round-robin', ts);
    const picks = Array.from({ length: 6 }, () => b.pick((t) => t !== ts[1], undefined));
    assert.deepEqual(count(picks), { [ts[0]!.origin]: 3, [ts[2]!.origin]: 3 });
    assert.equal(b.pick(() => false, undefined), undefined);
  });
});

describe('least-connections', () => {
  it('picks the target with the fewest in-flight exchanges per weight; ties rotate', () => {
    const ts = targets([1, 1, 2]);
    const b = createBalancer('least-connections', ts);
    ts[0]!.active = 3;
    ts[1]!.active = 1;
    ts[2]!.active = 2; // (2+1)/2 = 1.5 vs (1+1)/1 = 2
    assert.equal(b.pick(all, undefined), ts[2]);
    for (const t of ts) t.active = 0;
    assert.equal(new Set(Array.from({ length: 3 }, () => b.pick((t) => t.weight === 1, undefined))).size, 2);
  });
});

describe('random (power of two choices)', () => {
  it('never picks the busier of the two it drew', () => {
    const ts = targets([1, 1]);
    ts[0]!.active = 10;
    const b = createBalancer('random', ts);
    for (let i = 0; i < 50; i++) assert.equal(b.pick(all, undefined), ts[1]);
  });
  it('spreads idle targets about evenly and respects the predicate', () => {
    const ts = targets([1, 1, 1, 1]);
    const b = createBalancer('random', ts);
    const c = count(Array.from({ length: 4000 }, () => b.pick(all, undefined)));
    for (const t of ts) assert.ok((c[t.origin] ?? 0) > 800, JSON.stringify(c));
    const only = count(Array.from({ length: 100 }, () => b.pick((t) => t === ts[3], undefined)));
    assert.deepEqual(only, { [ts[3]!.origin]: 100 });
  });
});

describe('consistent-hash', () => {
  it('sends a key to the same target every time, and spreads keys by weight', () => {
    const ts = targets([1, 1, 2]);
    const ring = new HashRing(ts);
    for (let i = 0; i < 100; i++) assert.equal(ring.pick(all, `user-${i}`), ring.pick(all, `user-${i}`));
    const c = count(Array.from({ length: 8000 }, (_, i) => ring.pick(all, `user-${i}`)));
    assert.ok((c[ts[2]!.origin] ?? 0) > 3000 && (c[ts[2]!.origin] ?? 0) < 5000, JSON.stringify(c));
    assert.ok((c[ts[0]!.origin] ?? 0) > 1400 && (c[ts[0]!.origin] ?? 0) < 2600, JSON.stringify(c));
  });
  it('moves only the keys of a target that leaves', () => {
    const ts = targets([1, 1, 1, 1]);
    const ring = new HashRing(ts);
    const gone = ts[1]!;
    let moved = 0;
    for (let i = 0; i < 4000; i++) {
      const before = ring.pick(all, `k${i}`);
      const after = ring.pick((t) => t !== gone, `k${i}`);
      assert.notEqual(after, gone);
      if (before !== gone) assert.equal(after, before, 'a key of a remaining target stays where it was');
      else moved++;
    }
    assert.ok(moved > 600 && moved < 1400, `${moved} keys moved`);
  });
  it('spreads requests without a key round-robin', () => {
    const ts = targets([1, 1]);
    const ring = new HashRing(ts);
    assert.notEqual(ring.pick(all, undefined), ring.pick(all, undefined));
  });
  it('hash32 is stable', () => {
    assert.equal(hash32('abc'), hash32('abc'));
    assert.notEqual(hash32('abc'), hash32('abd'));
  });
});
