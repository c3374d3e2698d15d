/**
 * The cluster store (`server.workers` > 1 with `store.type: memory`): one MemoryStore in the primary
 * process, used by every worker over the cluster IPC channel, so rate limits, concurrency slots,
 * brute-force counters and bans are exact across the workers of one machine, as in one process.
 *
 * Worker side (`ClusterStore`): every operation of one turn of the event loop goes to the primary in
 * one IPC message (as RedisStore batches its script calls); the primary runs them in order on its
 * MemoryStore (each atomic: it is single-threaded) and answers with one message. Every batch has a
 * deadline (50 ms): after it the operations fail with StoreUnavailableError and the stages apply
 * their onError policy exactly as for Redis (memory store: `local`, each worker allowed 1/N of a
 * limit). The deadline travels with the batch: a batch that reaches the primary after it (the
 * primary was busy or stalled) is not run, so requests already decided by the fallback are not
 * charged a second time.
 *
 * Primary side (`ClusterStoreServer`): answers the batches on the store of the config in effect.
 * Concurrency slots are held per worker: the slots of a worker that exits (a crash) are given back
 * at once, and every slot frees itself after its `ttl` (MemoryStore's own slots never expire).
 *
 * Cost: one IPC round trip (JSON over a pipe, both ways, plus a turn of the primary's event loop)
 * per batch instead of a map lookup: tens of microseconds at low load, amortised over the batch
 * under load. The primary's one thread serves every worker's store calls.
 */
import cluster from 'node:cluster';
import type { Verdict } from '../ratelimit/algorithms.ts';
import { StoreUnavailableError, type LimitCheck, type Store } from './store.ts';

/** Deadline of one batch, from its first operation to the primary's answer. */
export const CLUSTER_STORE_TIMEOUT_MS = 50;

/**
 * The batch deadline in effect: PORTCULLIS_CLUSTER_STORE_TIMEOUT (ms, 1 to 10000) when set — for
 * machines so loaded that the primary answers later than 50 ms (the fallback then decides often:
 * see portcullis_store_events_total{store="cluster",event="timeouts"}) — else 50 ms.
 */
export function clusterStoreTimeout(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.PORTCULLIS_CLUSTER_STORE_TIMEOUT;
  if (v === undefined || v === '') return CLUSTER_STORE_TIMEOUT_MS;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 10_000) {
    throw new Error(`PORTCULLIS_CLUSTER_STORE_TIMEOUT must be a whole number of milliseconds from 1 to 10000 (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** The worker this process is, when it runs as a Portcullis cluster worker (set by src/cluster/primary.ts). */
export interface WorkerIdentity {
  /** 1..workers: the worker's slot (kept across restarts). */
  slot: number;
  /** How many workers the primary runs. */
  workers: number;
}

export function clusterWorker(): WorkerIdentity | undefined {
  if (!cluster.isWorker) return undefined;
  const slot = Number(process.env.PORTCULLIS_WORKER_SLOT);
  const workers = Number(process.env.PORTCULLIS_WORKERS);
  if (!Number.isInteger(slot) || !Number.isInteger(workers) || slot < 1 || workers < 1) return undefined;
  return { slot, workers };
}

export type StoreOp =
  | ['consume', readonly LimitCheck[], number]
  | ['increment', string, number]
  | ['setFlag', string, number]
  | ['flagTtl', string]
  | ['flagTtls', readonly string[]]
  | ['deleteKey', string]
  | ['listKeys', string, number]
  | ['acquire', string, string, number, number]
  | ['release', string, string];

export interface StoreRequest {
  pcl: 'store';
  /** The worker store's instance and the batch number: `<instance>.<n>`. */
  id: string;
  /** Date.now() after which the worker has given up on the batch. */
  deadline: number;
  ops: StoreOp[];
}

export interface StoreResponse {
  pcl: 'store-res';
  id: string;
  /** The batch came after its deadline and was not run. */
  late?: true;
  /** Per operation: [1, value] or [0, error message]. */
  results: ([1, unknown] | [0, string])[];
}

/** The IPC channel as the store sees it (a worker's `process`, or a test's pair of queues). */
export interface Channel {
  send(message: StoreRequest): void;
  subscribe(listener: (message: unknown) => void): () => void;
}

export function processChannel(): Channel {
  return {
    send(message) {
      if (process.send === undefined || !process.connected) throw new StoreUnavailableError('no IPC channel to the primary');
      process.send(message);
    },
    subscribe(listener) {
      process.on('message', listener);
      return () => process.off('message', listener);
    },
  };
}

interface Pending {
  op: StoreOp;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Operations per IPC message at most (a bigger turn is split): bounds one message and one run in the primary. */
const MAX_BATCH = 500;

let instances = 0;

export class ClusterStore implements Store {
  readonly kind = 'cluster' as const;
  private readonly channel: Channel;
  private readonly timeoutMs: number;
  private readonly unsubscribe: () => void;
  private readonly prefix = `${process.pid}.${instances++}.`;
  private batches = 0;
  private queue: Pending[] = [];
  private queuedAt = 0;
  /** Batches sent and not answered yet, by id. */
  private readonly inflight = new Map<string, { items: Pending[]; timer: NodeJS.Timeout }>();
  private closed = false;
  calls = 0;
  errors = 0;
  timeouts = 0;

  constructor(options: { channel?: Channel; timeoutMs?: number } = {}) {
    this.channel = options.channel ?? processChannel();
    this.timeoutMs = options.timeoutMs ?? clusterStoreTimeout();
    this.unsubscribe = this.channel.subscribe((m) => this.answered(m));
  }

  private call<T>(op: StoreOp): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('cluster store closed'));
    this.calls++;
    return new Promise<T>((resolve, reject) => {
      if (this.queue.length === 0) {
        this.queuedAt = Date.now();
        setImmediate(this.flush);
      }
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private readonly flush = (): void => {
    const all = this.queue;
    this.queue = [];
    const deadline = this.queuedAt + this.timeoutMs;
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      const items = all.length <= MAX_BATCH ? all : all.slice(i, i + MAX_BATCH);
      const id = this.prefix + (this.batches++).toString(36);
      // When the timer fires, an answer that has arrived but waits behind a busy event loop still
      // gets one turn of I/O (setImmediate runs after the poll phase) before the batch is given up.
      const timer = setTimeout(() => setImmediate(() => this.expire(id)), Math.max(0, deadline - Date.now()));
      this.inflight.set(id, { items, timer });
      try {
        this.channel.send({ pcl: 'store', id, deadline, ops: items.map((p) => p.op) });
      } catch (err) {
        this.fail(id, err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`cluster store: ${(err as Error).message}`));
      }
    }
  };

  private expire(id: string): void {
    if (!this.inflight.has(id)) return;
    this.timeouts++;
    this.fail(id, new StoreUnavailableError(`cluster store call over ${this.timeoutMs}ms`));
  }

  private fail(id: string, err: StoreUnavailableError): void {
    const b = this.inflight.get(id);
    if (b === undefined) return;
    this.inflight.delete(id);
    clearTimeout(b.timer);
    this.errors += b.items.length;
    for (const p of b.items) p.reject(err);
  }

  private answered(message: unknown): void {
    const m = message as Partial<StoreResponse> | null;
    if (m === null || typeof m !== 'object' || m.pcl !== 'store-res' || typeof m.id !== 'string') return;
    const b = this.inflight.get(m.id);
    if (b === undefined) return; // given up on, or another store's
    if (m.late || !Array.isArray(m.results)) {
      this.fail(m.id, new StoreUnavailableError('the primary ran the batch after its deadline'));
      return;
    }
    this.inflight.delete(m.id);
    clearTimeout(b.timer);
    b.items.forEach((p, i) => {
      const r = m.results?.[i];
      if (r === undefined) {
        this.errors++;
        p.reject(new StoreUnavailableError('cluster store: no answer for the operation'));
      } else if (r[0] === 1) p.resolve(r[1]);
      else {
        this.errors++;
        p.reject(new StoreUnavailableError(`cluster store: ${r[1]}`));
      }
    });
  }

  consume(checks: readonly LimitCheck[], cost = 1): Promise<Verdict[]> {
    return this.call(['consume', checks, cost]);
  }

  increment(key: string, ttlMs: number): Promise<number> {
    return this.call(['increment', key, ttlMs]);
  }

  async setFlag(key: string, ttlMs: number): Promise<void> {
    await this.call(['setFlag', key, ttlMs]);
  }

  flagTtl(key: string): Promise<number> {
    return this.call(['flagTtl', key]);
  }

  flagTtls(keys: readonly string[]): Promise<number[]> {
    return this.call(['flagTtls', keys]);
  }

  async deleteKey(key: string): Promise<void> {
    await this.call(['deleteKey', key]);
  }

  listKeys(prefix: string, max: number): Promise<{ key: string; ttlMs: number }[]> {
    return this.call(['listKeys', prefix, max]);
  }

  acquire(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean> {
    return this.call(['acquire', key, holder, limit, ttlMs]);
  }

  async release(key: string, holder: string): Promise<void> {
    await this.call(['release', key, holder]);
  }

  get stats(): Readonly<Record<string, number>> {
    return { calls: this.calls, errors: this.errors, timeouts: this.timeouts };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    for (const id of [...this.inflight.keys()]) this.fail(id, new StoreUnavailableError('cluster store closed'));
    for (const p of this.queue) p.reject(new StoreUnavailableError('cluster store closed'));
    this.queue = [];
  }
}

interface Slot {
  key: string;
  holder: string;
  expiresAt: number;
}

/**
 * The primary's side: runs the workers' batches on `store()` (the store of the config in effect:
 * a reload that changes `store:` swaps it, as in one process).
 */
export class ClusterStoreServer {
  private readonly store: () => Store;
  private readonly now: () => number;
  /** Concurrency slots by worker (cluster worker id): given back when the worker exits or the slot's ttl ends. */
  private readonly slots = new Map<number, Map<string, Slot>>();
  private readonly sweeper: NodeJS.Timeout;
  batches = 0;
  late = 0;

  constructor(store: () => Store, options: { now?: () => number; sweepIntervalMs?: number } = {}) {
    this.store = store;
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1000);
    this.sweeper.unref();
  }

  /** Answers one request of worker `worker` (resolves to the message to send back). */
  async handle(worker: number, request: StoreRequest): Promise<StoreResponse> {
    this.batches++;
    if (this.now() > request.deadline) {
      this.late++;
      return { pcl: 'store-res', id: request.id, late: true, results: [] };
    }
    const store = this.store();
    const raw: unknown[] = [];
    let async = false;
    for (const op of request.ops) {
      let r: unknown;
      try {
        r = this.run(store, worker, op);
      } catch (err) {
        r = Promise.reject(err);
      }
      if (r instanceof Promise) async = true;
      raw.push(r);
    }
    const settled = async ? await Promise.allSettled(raw) : raw.map((value) => ({ status: 'fulfilled' as const, value }));
    return {
      pcl: 'store-res',
      id: request.id,
      results: settled.map((s) => (s.status === 'fulfilled' ? [1, s.value ?? null] : [0, (s.reason as Error)?.message ?? String(s.reason)])),
    };
  }

  private run(store: Store, worker: number, op: StoreOp): unknown {
    switch (op[0]) {
      case 'consume':
        return store.consume(op[1], op[2]);
      case 'increment':
        return store.increment(op[1], op[2]);
      case 'setFlag':
        return store.setFlag(op[1], op[2]);
      case 'flagTtl':
        return store.flagTtl(op[1]);
      case 'flagTtls':
        return store.flagTtls(op[1]);
      case 'deleteKey':
        return store.deleteKey(op[1]);
      case 'listKeys':
        return store.listKeys(op[1], op[2]);
      case 'acquire': {
        const [, key, holder, limit, ttlMs] = op;
        const got = store.acquire(key, holder, limit, ttlMs);
        const track = (ok: boolean): boolean => {
          if (ok) {
            let mine = this.slots.get(worker);
            if (mine === undefined) this.slots.set(worker, (mine = new Map()));
            mine.set(`${key}\u0000${holder}`, { key, holder, expiresAt: this.now() + ttlMs });
          }
          return ok;
        };
        return got instanceof Promise ? got.then(track) : track(got);
      }
      case 'release': {
        const [, key, holder] = op;
        this.slots.get(worker)?.delete(`${key}\u0000${holder}`);
        return store.release(key, holder);
      }
      default:
        throw new Error(`unknown store operation ${JSON.stringify((op as unknown[])[0])}`);
    }
  }

  /** A worker exited: the concurrency slots it held are free again. */
  workerGone(worker: number): void {
    const mine = this.slots.get(worker);
    if (mine === undefined) return;
    this.slots.delete(worker);
    const store = this.store();
    for (const s of mine.values()) void Promise.resolve(store.release(s.key, s.holder)).catch(() => undefined);
  }

  /** Frees slots past their ttl (their request never ended: a stuck or lost release). */
  sweep(): void {
    const now = this.now();
    const store = this.store();
    for (const [worker, mine] of this.slots) {
      for (const [k, s] of mine) {
        if (s.expiresAt > now) continue;
        mine.delete(k);
        void Promise.resolve(store.release(s.key, s.holder)).catch(() => undefined);
      }
      if (mine.size === 0) this.slots.delete(worker);
    }
  }

  /** Slots held, over all workers (tests, metrics). */
  get heldSlots(): number {
    let n = 0;
    for (const m of this.slots.values()) n += m.size;
    return n;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
