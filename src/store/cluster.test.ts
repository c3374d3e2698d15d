import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Rule } from '../ratelimit/algorithms.ts';
import { ClusterStore, ClusterStoreServer, clusterStoreTimeout, type Channel, type StoreRequest } from './cluster.ts';
import { MemoryStore } from './memory.ts';
import { StoreUnavailableError } from './store.ts';

const gcra: Rule = { id: 'g', limit: 100, periodMs: 60_000, burst: 0, algorithm: 'gcra' };
const sliding: Rule = { id: 's', limit: 100, periodMs: 60_000, burst: 0, algorithm: 'sliding-window' };

/**
 * A worker's channel to an in-process server: messages are JSON-copied and delivered on a later turn
 * of the event loop, as over the IPC pipe. `delayMs` holds the answers; `drop` loses them.
 */
function channelTo(server: ClusterStoreServer, worker: number, options: { delayMs?: number; drop?: boolean } = {}): Channel & { sent: StoreRequest[] } {
  const listeners = new Set<(m: unknown) => void>();
  const sent: StoreRequest[] = [];
  return {
    sent,
    send(message) {
      sent.push(message);
      const copy = JSON.parse(JSON.stringify(message)) as StoreRequest;
      setImmediate(() => {
        void server.handle(worker, copy).then((res) => {
          if (options.drop) return;
          const deliver = (): void => {
            for (const l of listeners) l(JSON.parse(JSON.stringify(res)));
          };
          if (options.delayMs) setTimeout(deliver, options.delayMs);
          else setImmediate(deliver);
        });
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function setup(options: { delayMs?: number; drop?: boolean; timeoutMs?: number } = {}) {
  const memory = new MemoryStore({ sweepIntervalMs: 0 });
  const server = new ClusterStoreServer(() => memory, { sweepIntervalMs: 60_000 });
  const a = new ClusterStore({ channel: channelTo(server, 1, options), timeoutMs: options.timeoutMs ?? 1000 });
  const b = new ClusterStore({ channel: channelTo(server, 2, options), timeoutMs: options.timeoutMs ?? 1000 });
  return {
    memory, server, a, b,
    async close() {
      await a.close();
      await b.close();
      server.close();
      await memory.close();
    },
  };
}

describe('cluster store', () => {
  for (const rule of [gcra, sliding]) {
    it(`${rule.algorithm}: 2000 concurrent requests from two workers against limit 100: exactly 100 pass`, async () => {
      const s = setup();
      try {
        const key = `rl:{exact-${rule.algorithm}}:x`;
        const verdicts = await Promise.all(Array.from({ length: 2000 }, async (_, i) => (await (i % 2 ? s.a : s.b).consume([{ key, rule }]))[0]));
        assert.equal(verdicts.filter((v) => v?.allowed).length, 100);
        assert.ok(verdicts.some((v) => v !== undefined && !v.allowed && v.retryAfterMs > 0));
      } finally {
        await s.close();
      }
    });
  }

  it('sends the operations of one event-loop turn in one message (at most 500 per message)', async () => {
    const memory = new MemoryStore({ sweepIntervalMs: 0 });
    const server = new ClusterStoreServer(() => memory);
    const channel = channelTo(server, 1);
    const store = new ClusterStore({ channel, timeoutMs: 1000 });
    try {
      await Promise.all(Array.from({ length: 1200 }, (_, i) => store.increment(`c:${i % 3}`, 60_000)));
      assert.deepEqual(channel.sent.map((m) => m.ops.length), [500, 500, 200]);
      assert.equal(await store.increment('c:0', 60_000), 401);
      assert.equal(channel.sent.length, 4);
    } finally {
      await store.close();
      server.close();
    }
  });

  it('flags, counters, deletes and the key listing reach the primary store', async () => {
    const s = setup();
    try {
      await s.a.setFlag('ban:ip:10.0.0.1', 5000);
      const [ttl, unset] = await s.b.flagTtls(['ban:ip:10.0.0.1', 'ban:ip:10.0.0.2']);
      assert.ok((ttl as number) > 4000 && (ttl as number) <= 5000, String(ttl));
      assert.equal(unset, 0);
      assert.deepEqual((await s.b.listKeys('ban:', 10)).map((k) => k.key), ['ban:ip:10.0.0.1']);
      await s.b.deleteKey('ban:ip:10.0.0.1');
      assert.equal(await s.a.flagTtl('ban:ip:10.0.0.1'), 0);
      assert.equal(await s.a.increment('bf:x', 60_000), 1);
      assert.equal(await s.b.increment('bf:x', 60_000), 2);
    } finally {
      await s.close();
    }
  });

  it('an answer later than the deadline fails the calls with StoreUnavailableError, and the store counts it', async () => {
    const s = setup({ delayMs: 200, timeoutMs: 30 });
    try {
      const t0 = Date.now();
      await assert.rejects(s.a.consume([{ key: 'rl:{late}:x', rule: gcra }]), StoreUnavailableError);
      const took = Date.now() - t0;
      assert.ok(took >= 25 && took < 190, `gave up after ${took}ms`);
      assert.equal(s.a.stats.timeouts, 1);
    } finally {
      await s.close();
    }
  });

  it('a lost answer fails the call at the deadline', async () => {
    const s = setup({ drop: true, timeoutMs: 30 });
    try {
      await assert.rejects(s.a.acquire('cc:{x}:r', 'req-1', 1, 60_000), StoreUnavailableError);
    } finally {
      await s.close();
    }
  });

  it('the primary does not run a batch that arrives after its deadline (no double charge after a fallback)', async () => {
    const memory = new MemoryStore({ sweepIntervalMs: 0 });
    const server = new ClusterStoreServer(() => memory);
    try {
      const stale: StoreRequest = { pcl: 'store', id: 'w.0', deadline: Date.now() - 1, ops: [['increment', 'c', 60_000]] };
      const res = await server.handle(1, stale);
      assert.equal(res.late, true);
      assert.equal(memory.size, 0);
      assert.equal(server.late, 1);
    } finally {
      server.close();
    }
  });

  it('the concurrency slots of a worker that exits are given back; others stay', async () => {
    const s = setup();
    try {
      assert.equal(await s.a.acquire('cc:{k}:r', 'a1', 2, 60_000), true);
      assert.equal(await s.b.acquire('cc:{k}:r', 'b1', 2, 60_000), true);
      assert.equal(await s.b.acquire('cc:{k}:r', 'b2', 2, 60_000), false);
      s.server.workerGone(1);
      assert.equal(await s.b.acquire('cc:{k}:r', 'b2', 2, 60_000), true);
      assert.equal(await s.b.acquire('cc:{k}:r', 'b3', 2, 60_000), false);
      await s.b.release('cc:{k}:r', 'b1');
      assert.equal(s.server.heldSlots, 1);
    } finally {
      await s.close();
    }
  });

  it('a slot whose release never comes frees itself after its ttl', async () => {
    let now = 1_000_000;
    const memory = new MemoryStore({ sweepIntervalMs: 0, now: () => now });
    const server = new ClusterStoreServer(() => memory, { now: () => now, sweepIntervalMs: 60_000 });
    try {
      const acquire = (holder: string) => server.handle(1, { pcl: 'store', id: holder, deadline: now + 50, ops: [['acquire', 'cc:{t}:r', holder, 1, 5000]] });
      assert.deepEqual((await acquire('h1')).results, [[1, true]]);
      assert.deepEqual((await acquire('h2')).results, [[1, false]]);
      now += 5001;
      server.sweep();
      assert.deepEqual((await acquire('h2')).results, [[1, true]]);
    } finally {
      server.close();
    }
  });

  it('a closed store fails its calls at once', async () => {
    const s = setup();
    await s.close();
    await assert.rejects(s.a.increment('x', 1000), StoreUnavailableError);
  });

  it('PORTCULLIS_CLUSTER_STORE_TIMEOUT sets the deadline; a bad value is refused with the variable named', () => {
    assert.equal(clusterStoreTimeout({}), 50);
    assert.equal(clusterStoreTimeout({ PORTCULLIS_CLUSTER_STORE_TIMEOUT: '250' }), 250);
    for (const bad of ['0', '10001', '1.5', 'fast', '-3']) {
      assert.throws(() => clusterStoreTimeout({ PORTCULLIS_CLUSTER_STORE_TIMEOUT: bad }), /^Error: PORTCULLIS_CLUSTER_STORE_TIMEOUT must be/);
    }
  });
});
