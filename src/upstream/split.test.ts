import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigIssue } from '../config/errors.ts';
import { RequestContext } from '../pipeline/context.ts';
import type { AnyRequest } from './proxy.ts';
import { buildSplit, splitHash, TrafficSplit, type RawSplit } from './split.ts';
import type { Upstream } from './upstream.ts';

const v1 = { name: 'orders-v1' } as Upstream;
const v2 = { name: 'orders-v2' } as Upstream;
const v3 = { name: 'orders-v3' } as Upstream;
const known = new Map([[v1.name, v1], [v2.name, v2], [v3.name, v3]]);

function ctx(headers: Record<string, string> = {}, clientIp = '192.0.2.1'): RequestContext {
  return new RequestContext({
    requestId: 'r', startedAt: 0, method: 'GET', host: 'h', path: '/', query: '', clientIp, peerIp: clientIp,
    secure: false, httpVersion: '1.1', request: { headers } as unknown as AnyRequest,
  });
}

function build(raw: RawSplit): { split: TrafficSplit | undefined; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const resolve = (name: string, p: string): Upstream | undefined => {
    const u = known.get(name);
    if (!u) issues.push({ path: p, message: `unknown upstream "${name}"` });
    return u;
  };
  return { split: buildSplit(raw, 'routes[0].upstream', resolve, issues), issues };
}

const count = (names: string[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
};

describe('weighted choice (smooth weighted round-robin)', () => {
  it('gives each member exactly its weight in every window of sum(weights) requests', () => {
    const split = new TrafficSplit([{ upstream: v1, weight: 90 }, { upstream: v2, weight: 10 }], undefined, undefined);
    const picks = Array.from({ length: 1000 }, () => split.choose(ctx()).name);
    assert.deepEqual(count(picks), { 'orders-v1': 900, 'orders-v2': 100 });
    for (let w = 0; w < 1000; w += 100) assert.equal(picks.slice(w, w + 100).filter((n) => n === 'orders-v2').length, 10);
    // Smooth: never a burst to the canary.
    for (let i = 1; i < picks.length; i++) assert.ok(!(picks[i] === 'orders-v2' && picks[i - 1] === 'orders-v2'));
  });

  it('never chooses a member of weight 0 (dark launch)', () => {
    const split = new TrafficSplit([{ upstream: v1, weight: 1 }, { upstream: v2, weight: 0 }], undefined, undefined);
    for (let i = 0; i < 100; i++) assert.equal(split.choose(ctx()), v1);
  });

  it('records the choice in the notes', () => {
    const split = new TrafficSplit([{ upstream: v1, weight: 1 }], undefined, undefined);
    const c = ctx();
    split.choose(c);
    assert.deepEqual(c.notes, ['split orders-v1 (weighted)']);
  });
});

describe('sticky choice', () => {
  const members = (w2: number) => [{ upstream: v1, weight: 100 - w2 }, { upstream: v2, weight: w2 }];

  it('keeps a key on one member, and spreads keys by weight', () => {
    const split = new TrafficSplit(members(10), { kind: 'header', name: 'x-user' }, undefined);
    for (let i = 0; i < 20; i++) assert.equal(split.choose(ctx({ 'x-user': 'alice' })), split.choose(ctx({ 'x-user': 'alice' })));
    const picks = Array.from({ length: 20_000 }, (_, i) => split.choose(ctx({ 'x-user': `user-${i}` })).name);
    const share = (count(picks)['orders-v2'] ?? 0) / picks.length;
    assert.ok(share > 0.09 && share < 0.11, `canary share ${share}`);
  });

  it('moves only the needed share of keys when a weight changes (10 → 20), all towards the grown member', () => {
    const before = new TrafficSplit(members(10), { kind: 'ip' }, undefined);
    const after = new TrafficSplit(members(20), { kind: 'ip' }, undefined);
    let moved = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const a = before.choose(ctx({}, ip));
      const b = after.choose(ctx({}, ip));
      if (a !== b) {
        moved++;
        assert.equal(a, v1, 'a key on the canary never leaves it when the canary grows');
      }
    }
    assert.ok(moved / n > 0.09 && moved / n < 0.11, `moved ${moved / n}`);
  });

  it('falls back to the weighted choice without the key; cookie and consumer keys', () => {
    const split = new TrafficSplit(members(50), { kind: 'cookie', name: 'uid' }, undefined);
    const c = ctx();
    split.choose(c);
    assert.deepEqual(c.notes, ['split orders-v1 (weighted)']);
    const d = ctx({ cookie: 'a=1; uid=42' });
    const chosen = split.choose(d);
    assert.deepEqual(d.notes, [`split ${chosen.name} (sticky)`]);
    assert.equal(split.byBucket(splitHash('42')), split.members.find((m) => m.upstream === chosen));
    const byConsumer = new TrafficSplit(members(50), { kind: 'consumer' }, undefined);
    const e = ctx();
    e.identity = { consumerId: 'acme' } as RequestContext['identity'];
    byConsumer.choose(e);
    assert.match(e.notes?.[0] ?? '', /\(sticky\)$/);
  });
});

describe('override header', () => {
  const { split } = build({
    split: [{ upstream: 'orders-v1', weight: 100 }, { upstream: 'orders-v2', weight: 0 }],
    sticky: 'header:x-user',
    override: { header: 'X-Canary', values: { always: 'orders-v2', never: 'orders-v1' } },
  });

  it('forces a member, also one of weight 0, ahead of the sticky key', () => {
    assert.ok(split);
    const c = ctx({ 'x-canary': 'always', 'x-user': 'bob' });
    assert.equal(split.choose(c), v2);
    assert.deepEqual(c.notes, ['split orders-v2 (override)']);
    assert.equal(split.choose(ctx({ 'x-canary': 'never' })), v1);
  });

  it('ignores a value it does not map: an upstream name reaches nothing', () => {
    assert.ok(split);
    for (const value of ['orders-v3', 'orders-v2', 'ALWAYS', '']) {
      assert.equal(split.choose(ctx({ 'x-canary': value })), v1, value);
    }
  });
});

describe('buildSplit errors, at their exact paths', () => {
  const cases: { name: string; raw: RawSplit; expect: string[] }[] = [
    { name: 'unknown upstream', raw: { split: [{ upstream: 'orders-v1', weight: 1 }, { upstream: 'nope', weight: 1 }] }, expect: ['routes[0].upstream.split[1].upstream'] },
    { name: 'every weight 0', raw: { split: [{ upstream: 'orders-v1', weight: 0 }, { upstream: 'orders-v2', weight: 0 }] }, expect: ['routes[0].upstream.split'] },
    { name: 'negative weight', raw: { split: [{ upstream: 'orders-v1', weight: 5 }, { upstream: 'orders-v2', weight: -1 }] }, expect: ['routes[0].upstream.split[1].weight'] },
    { name: 'listed twice', raw: { split: [{ upstream: 'orders-v1', weight: 5 }, { upstream: 'orders-v1', weight: 1 }] }, expect: ['routes[0].upstream.split[1].upstream'] },
    {
      name: 'override to an upstream outside the split',
      raw: { split: [{ upstream: 'orders-v1', weight: 5 }], override: { header: 'x-canary', values: { always: 'orders-v3' } } },
      expect: ['routes[0].upstream.override.values["always"]'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { split, issues } = build(c.raw);
      assert.equal(split, undefined);
      assert.deepEqual(issues.map((i) => i.path), c.expect);
    });
  }
});
