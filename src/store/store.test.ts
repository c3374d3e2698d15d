import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRedis, type TestRedis } from '../../test/helpers/redis.ts';
import type { Rule } from '../ratelimit/algorithms.ts';
import { MemoryStore } from './memory.ts';
import { RedisStore } from './redis.ts';
import type { Store } from './store.ts';

const gcraRule: Rule = { id: 'g', limit: 100, periodMs: 60_000, burst: 0, algorithm: 'gcra' };
const slidingRule: Rule = { id: 's', limit: 100, periodMs: 60_000, burst: 0, algorithm: 'sliding-window' };

function contract(name: string, make: () => Promise<Store>, done: (s: Store) => Promise<void>) {
  describe(`${name} store`, () => {
    let store: Store;
    before(async () => {
      store = await make();
    });
    after(() => done(store));

    for (const rule of [gcraRule, slidingRule]) {
      it(`${rule.algorithm}: 2000 concurrent requests against limit 100: exactly 100 pass`, async () => {
        const key = `rl:{exact-${rule.algorithm}-${Math.random()}}:x`;
        const verdicts = await Promise.all(Array.from({ length: 2000 }, async () => (await store.consume([{ key, rule }]))[0]));
        assert.equal(verdicts.filter((v) => v?.allowed).length, 100);
        const denied = verdicts.find((v) => !v?.allowed);
        assert.ok(denied && denied.retryAfterMs > 0);
      });
    }

    it('a rejected request charges none of its limits', async () => {
      const tag = `{combo-${Math.random()}}`;
      const small: Rule = { ...gcraRule, id: 'small', limit: 1 };
      const a = { key: `rl:${tag}:a`, rule: gcraRule };
      const b = { key: `rl:${tag}:b`, rule: small };
      const first = await store.consume([a, b]);
      assert.deepEqual(first.map((v) => v.allowed), [true, true]);
      const second = await store.consume([a, b]);
      assert.deepEqual(second.map((v) => v.allowed), [true, false]);
      // a was not charged by the rejected request: it still has 99 - 0 = 98 after one more
      const third = await store.consume([a]);
      assert.equal(third[0]?.remaining, 98);
    });

    it('counters expire, flags expire, and can be deleted', async () => {
      const k = `bf:${Math.random()}`;
      assert.equal(await store.increment(k, 200), 1);
      assert.equal(await store.increment(k, 200), 2);
      await new Promise((r) => setTimeout(r, 260));
      assert.equal(await store.increment(k, 200), 1);
      const f = `ban:${Math.random()}`;
      assert.equal(await store.flagTtl(f), 0);
      await store.setFlag(f, 5000);
      const ttl = await store.flagTtl(f);
      assert.ok(ttl > 4000 && ttl <= 5000, String(ttl));
      // Several flags in one call (Redis: batched with the limit checks of the same turn).
      const [both, limit] = await Promise.all([store.flagTtls([f, `${f}:unset`]), store.consume([{ key: `rl:{${f}}:x`, rule: gcraRule }])]);
      assert.equal(both.length, 2);
      assert.ok((both[0] as number) > 4000 && (both[0] as number) <= 5000, String(both[0]));
      assert.equal(both[1], 0);
      assert.equal(limit[0]?.allowed, true);
      await store.deleteKey(f);
      assert.equal(await store.flagTtl(f), 0);
      assert.deepEqual(await store.flagTtls([f]), [0]);
    });
  });
}

contract('memory', async () => new MemoryStore(), (s) => s.close());

let redis: TestRedis;
contract(
  'redis',
  async () => {
    redis = await startRedis();
    const s = new RedisStore({ url: redis.url, cluster: undefined, timeoutMs: 200, keyPrefix: 'pcl:' });
    await s.ready();
    return s;
  },
  async (s) => {
    await s.close();
    await redis.stop();
  },
);

describe('memory store bounds', () => {
  it('a flood of random keys stays under the cap (LRU eviction)', () => {
    const s = new MemoryStore({ maxKeys: 1000, sweepIntervalMs: 0 });
    for (let i = 0; i < 50_000; i++) s.consume([{ key: `rl:{${Math.random()}}:x`, rule: gcraRule }]);
    assert.ok(s.size <= 1000);
    assert.equal(s.evictions, 49_000);
    void s.close();
  });

  it('expired entries are swept', () => {
    let t = 0;
    const s = new MemoryStore({ now: () => t, sweepIntervalMs: 0 });
    for (let i = 0; i < 100; i++) s.consume([{ key: `k${i}`, rule: { ...gcraRule, limit: 1, periodMs: 1000 } }]);
    assert.equal(s.size, 100);
    t = 2000;
    s.sweep();
    assert.equal(s.size, 0);
    void s.close();
  });
});

describe('redis store failures', () => {
  it('a frozen (SIGSTOP) or killed Redis fails calls within the deadline, and recovery is automatic', async () => {
    const r = await startRedis();
    const s = new RedisStore({ url: r.url, cluster: undefined, timeoutMs: 50, keyPrefix: 'pcl:' });
    try {
      await s.ready();
      const check = [{ key: `rl:{f}:x`, rule: gcraRule }];
      assert.equal((await s.consume(check))[0]?.allowed, true);
      r.freeze();
      let t0 = Date.now();
      await assert.rejects(s.consume(check), { name: 'StoreUnavailableError' });
      assert.ok(Date.now() - t0 < 150, `frozen: ${Date.now() - t0}ms`);
      r.thaw();
      await new Promise((res) => setTimeout(res, 100));
      assert.equal((await s.consume(check))[0]?.allowed, true);
      await r.stop();
      t0 = Date.now();
      await assert.rejects(s.consume(check), { name: 'StoreUnavailableError' });
      assert.ok(Date.now() - t0 < 150, `killed: ${Date.now() - t0}ms`);
      const again = await r.restart();
      try {
        await s.ready(5000);
        assert.equal((await s.consume(check))[0]?.allowed, true);
      } finally {
        await again.stop();
      }
    } finally {
      await s.close();
      await r.stop();
    }
  });
});

describe('redis store batching', () => {
  it('the checks of one event-loop turn go to Redis in one script call, each request still all-or-nothing', async () => {
    const r = await startRedis();
    const s = new RedisStore({ url: r.url, cluster: undefined, timeoutMs: 500, keyPrefix: 'pcl:' });
    const { Redis } = await import('ioredis');
    const probe = new Redis(r.url);
    const scriptCalls = async (): Promise<number> => {
      const info = await probe.info('commandstats');
      let n = 0;
      for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
      return n;
    };
    try {
      await s.ready();
      await s.consume([{ key: 'rl:{warm}:x', rule: gcraRule }]);
      const before = await scriptCalls();
      const tight: Rule = { ...gcraRule, id: 'tight', limit: 1 };
      // 150 requests in one turn: each charges a shared limit of 100 and its own key; every odd
      // one also a per-request limit of 1 that its twin (the next even one) has already spent.
      const calls: Promise<import('../ratelimit/algorithms.ts').Verdict[]>[] = [];
      for (let i = 0; i < 150; i++) {
        const own = { key: `rl:{b}:own${i}`, rule: gcraRule };
        const shared = { key: 'rl:{b}:shared', rule: gcraRule };
        const checks = i % 2 === 0 ? [shared, own, { key: `rl:{b}:pair${i}`, rule: tight }] : [shared, own, { key: `rl:{b}:pair${i - 1}`, rule: tight }];
        calls.push(s.consume(checks));
      }
      const verdicts = await Promise.all(calls);
      const after = await scriptCalls();
      assert.ok(after - before <= 2, `${after - before} script calls for 150 requests`);
      // Even requests pass; odd ones are refused by their pair limit and charge nothing: of the
      // shared 100, the 75 even requests took 75.
      assert.equal(verdicts.filter((v) => v.every((x) => x.allowed)).length, 75);
      assert.ok(verdicts.every((v, i) => (i % 2 === 0) === v.every((x) => x.allowed)));
      assert.equal((await s.consume([{ key: 'rl:{b}:shared', rule: gcraRule }]))[0]?.remaining, 24);
      // The refused ones charged nothing on their own keys either.
      assert.equal((await s.consume([{ key: 'rl:{b}:own1', rule: gcraRule }]))[0]?.remaining, 99);
    } finally {
      probe.disconnect();
      await s.close();
      await r.stop();
    }
  });
});
