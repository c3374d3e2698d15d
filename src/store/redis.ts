/**
 * Redis store (ioredis): a single node (`url`) or a Cluster (`cluster` seed nodes). Each operation is
 * an atomic Lua script (no read-modify-write races between gateway instances; in a Cluster, one per
 * hash-tag group, see consume); time comes from the Redis server (TIME),
 * so instances with skewed clocks still agree. Every key has a TTL. Every call has a hard deadline
 * and there is no offline queue: a down or frozen Redis fails calls fast instead of stalling them.
 */
import { randomBytes } from 'node:crypto';
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Verdict } from '../ratelimit/algorithms.ts';
import { StoreUnavailableError, type LimitCheck, type Store } from './store.ts';

/**
 * One call for a batch of checks (the checks of every request that arrived in one turn of the event
 * loop), each request all-or-nothing on its own, in order: the same outcome as one call per request.
 * KEYS: every request's keys in order; ARGV: the caller's deadline in Redis time (ms; 0: none), the
 * number of requests, then per request: cost, its unique id (names its sliding-log entries, so a
 * refund can remove exactly them), its number of keys, then per key: algorithm (0 gcra, 1 sliding),
 * limit, period ms, burst. A request with cost -1 only reads its keys' flags (ban checks): no rule
 * arguments, one number per key (ms left, 0: unset). Returns 4 numbers per key and Redis' time, or {-1, time} without touching
 * anything when the deadline has passed: the caller has given up on this call (e.g. it sat in the
 * socket of a frozen Redis) and answered the requests without it.
 */
const CONSUME = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = tonumber(ARGV[1])
if deadline > 0 and now > deadline then return {-1, now} end
local out = {}
local a = 3
local k = 0
for r = 1, tonumber(ARGV[2]) do
  local cost = tonumber(ARGV[a])
  local uid = ARGV[a + 1]
  local nk = tonumber(ARGV[a + 2])
  a = a + 3
  if cost < 0 then
    -- a flag read (ban checks): the milliseconds each flag has left, 0 when unset
    for i = 1, nk do
      local ttl = redis.call('PTTL', KEYS[k + i])
      if ttl < 0 then ttl = 0 end
      out[#out + 1] = ttl
    end
    nk = -nk
  end
  local allowed = true
  local nexttat = {}
  for i = 1, nk do
    local key = KEYS[k + i]
    local b = a + (i - 1) * 4
    local algo = tonumber(ARGV[b])
    local limit = tonumber(ARGV[b + 1])
    local period = tonumber(ARGV[b + 2])
    local burst = tonumber(ARGV[b + 3])
    if algo == 0 then
      local interval = period / limit
      local horizon = (limit + burst) * interval
      local tat = tonumber(redis.call('GET', key))
      if tat == nil or tat < now then tat = now end
      local nt = tat + cost * interval
      if nt - now > horizon + 1e-9 then
        allowed = false
        out[#out + 1] = 0; out[#out + 1] = 0
        out[#out + 1] = math.ceil(tat - now); out[#out + 1] = math.ceil(nt - now - horizon)
      else
        nexttat[i] = nt
        out[#out + 1] = 1
        out[#out + 1] = math.floor((horizon - (nt - now)) / interval + 1e-9)
        out[#out + 1] = math.ceil(nt - now); out[#out + 1] = 0
      end
    else
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
      local count = redis.call('ZCARD', key)
      if count + cost > limit then
        allowed = false
        local needed = count + cost - limit
        if needed > count then needed = count end
        local leave = now
        if needed > 0 then leave = tonumber(redis.call('ZRANGE', key, needed - 1, needed - 1, 'WITHSCORES')[2]) end
        local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
        out[#out + 1] = 0; out[#out + 1] = 0
        out[#out + 1] = math.ceil((tonumber(newest) or now) + period - now)
        out[#out + 1] = math.max(1, math.ceil(leave + period - now))
      else
        local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
        out[#out + 1] = 1; out[#out + 1] = limit - count - cost
        out[#out + 1] = math.ceil((tonumber(oldest) or now) + period - now); out[#out + 1] = 0
      end
    end
  end
  if allowed then
    for i = 1, nk do
      local key = KEYS[k + i]
      local b = a + (i - 1) * 4
      if tonumber(ARGV[b]) == 0 then
        redis.call('SET', key, string.format('%.3f', nexttat[i]), 'PX', math.max(1, math.ceil(nexttat[i] - now)))
      else
        for c = 1, cost do
          redis.call('ZADD', key, now, uid .. ':' .. c)
        end
        redis.call('PEXPIRE', key, tonumber(ARGV[b + 2]))
      end
    end
  end
  if nk < 0 then
    k = k - nk
  else
    a = a + nk * 4
    k = k + nk
  end
end
out[#out + 1] = now
return out
`;

/**
 * Gives back what one CONSUME call charged (Redis Cluster, when another slot's limits rejected the
 * request). KEYS: the keys; ARGV: cost, the call's id, then per key: algorithm, limit, period, burst.
 */
const REFUND = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local uid = ARGV[2]
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 4
  if tonumber(ARGV[b + 1]) == 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]))
    if tat ~= nil then
      local nt = tat - cost * tonumber(ARGV[b + 3]) / tonumber(ARGV[b + 2])
      if nt > now then
        redis.call('SET', KEYS[i], string.format('%.3f', nt), 'PX', math.max(1, math.ceil(nt - now)))
      else
        redis.call('DEL', KEYS[i])
      end
    end
  else
    for c = 1, cost do redis.call('ZREM', KEYS[i], uid .. ':' .. c) end
  end
end
return 1
`;

/** KEYS[1] counter; ARGV[1] ttl ms (set on the first increment only). */
/** KEYS[1] semaphore zset; ARGV: holder, limit, ttl ms. Members score their expiry (server time). */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`;

const INCREMENT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

/** This process' clock for the deadline arithmetic: monotonic, in ms since the epoch (roughly). */
const localNow = (): number => performance.timeOrigin + performance.now();

/**
 * An upper bound of (Redis time − local time), learned from the replies: a reply's Redis time minus
 * the local time its call was sent is never below the true offset; and the shortest round trip.
 * Minimums over the last 30 to 60 s keep both tight while letting clock drift age out.
 */
class ClockOffset {
  private current = Infinity;
  private previous = Infinity;
  private rtt = Infinity;
  private previousRtt = Infinity;
  private windowStart = 0;

  sample(offset: number, rtt: number, at: number): void {
    if (at - this.windowStart > 30_000) {
      this.previous = this.current;
      this.previousRtt = this.rtt;
      this.current = Infinity;
      this.rtt = Infinity;
      this.windowStart = at;
    }
    if (offset < this.current) this.current = offset;
    if (rtt < this.rtt) this.rtt = rtt;
  }

  /** Forgets what was learned: Redis' clock moved ahead (a step, a failover to another host). */
  reset(offset: number, rtt: number, at: number): void {
    this.previous = Infinity;
    this.previousRtt = Infinity;
    this.current = offset;
    this.rtt = rtt;
    this.windowStart = at;
  }

  /**
   * The Redis time after which a call sent for a local deadline should no longer run: its answer
   * would reach this process too late. The offset's error and the way back are both within the
   * shortest round trip (+1 ms for TIME's whole milliseconds); 0 while nothing is known.
   */
  redisDeadline(localDeadline: number): number {
    const offset = Math.min(this.current, this.previous);
    if (!Number.isFinite(offset)) return 0;
    const rtt = Math.min(this.rtt, this.previousRtt);
    return Math.floor(localDeadline + offset - (Number.isFinite(rtt) ? rtt : 0) - 1);
  }
}

/** The part of a key Redis Cluster hashes: the first non-empty `{...}`, else the whole key. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

/** Indexes of `checks` grouped by the hash tag of their full key (first appearance order). */
function groupBySlot(checks: readonly LimitCheck[], prefix: string): number[][] {
  const groups = new Map<string, number[]>();
  checks.forEach((c, i) => {
    const tag = hashTag(prefix + c.key);
    const g = groups.get(tag);
    if (g) g.push(i);
    else groups.set(tag, [i]);
  });
  return [...groups.values()];
}

export interface RedisStoreOptions {
  url: string | undefined;
  /** Cluster seed nodes ("host:port"). */
  cluster: string[] | undefined;
  timeoutMs: number;
  keyPrefix: string;
}

type Client = Redis | Cluster;

/** One request's checks in a CONSUME call. */
interface Batched {
  checks: readonly LimitCheck[];
  /** -1: a flag read of `flags`. */
  cost: number;
  flags?: readonly string[];
  /** Unique per call: names its sliding-log entries (refunds remove exactly them). */
  id: string;
}

interface Queued extends Batched {
  resolve: (result: Verdict[] & number[]) => void;
  reject: (err: unknown) => void;
}

/** Requests per CONSUME call at most: one script run stays short (Redis serves nothing else meanwhile). */
const MAX_BATCH = 200;

/**
 * `redis+sentinel://[user:password@]host1:26379,host2:26379/<master name>[/<db>]`: the Sentinels to ask
 * for the current master of the named group (failover is followed automatically).
 */
export function sentinelOptions(url: string): RedisOptions {
  const m = /^(rediss?)\+sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)\/([^/]+)(?:\/(\d+))?$/.exec(url);
  if (!m) throw new Error(`"${url}" is not redis+sentinel://host:port[,host:port...]/<master name>[/db]`);
  const sentinels = (m[4] as string).split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return i === -1 ? { host: hp, port: 26379 } : { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
  return {
    sentinels,
    name: decodeURIComponent(m[5] as string),
    ...(m[2] ? { username: decodeURIComponent(m[2]) } : {}),
    ...(m[3] ? { password: decodeURIComponent(m[3]) } : {}),
    ...(m[6] ? { db: Number(m[6]) } : {}),
    ...(m[1] === 'rediss' ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
  };
}
type Scripted = Client & {
  pclConsume(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  pclRefund(numKeys: number, ...args: (string | number)[]): Promise<number>;
  pclIncrement(key: string, ttl: number): Promise<number>;
  pclAcquire(key: string, holder: string, limit: number, ttl: number): Promise<number>;
};

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Scripted;
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private readonly offset = new ClockOffset();
  private readonly cluster: boolean;
  /** Call ids: unique across instances (random prefix) and calls (counter). */
  private readonly idPrefix = randomBytes(6).toString('base64url') + '.';
  private calls = 0;
  /** When calls started to run into their deadline (0: the last call was answered). */
  private stalledSince = 0;
  errors = 0;
  /** Connections dropped because Redis stopped answering. */
  reconnects = 0;

  constructor(options: RedisStoreOptions) {
    this.timeoutMs = options.timeoutMs;
    this.prefix = options.keyPrefix;
    this.cluster = options.cluster !== undefined && options.cluster.length > 0;
    const common: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(1000, options.timeoutMs * 4),
      // Reconnect forever, backing off to 1 s: recovery is automatic.
      retryStrategy: (times) => Math.min(1000, 50 * times),
      lazyConnect: false,
    };
    let client: Client;
    if (options.cluster && options.cluster.length > 0) {
      client = new Cluster(
        options.cluster.map((n) => {
          const [host, port] = n.split(':');
          return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
        }),
        { enableOfflineQueue: false, redisOptions: common, clusterRetryStrategy: (times) => Math.min(1000, 50 * times) },
      );
    } else if (options.url?.startsWith('redis+sentinel://') || options.url?.startsWith('rediss+sentinel://')) {
      client = new Redis({ ...common, ...sentinelOptions(options.url) });
    } else {
      client = new Redis(options.url ?? 'redis://127.0.0.1:6379', common);
    }
    client.on('error', () => {
      this.errors++;
    });
    // A first clock sample, so that calls carry a deadline from the start.
    client.on('ready', () => {
      const sent = localNow();
      client.time().then(
        ([seconds, micros]) => {
          const answered = localNow();
          this.offset.sample(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 1 - sent, answered - sent, answered);
        },
        () => undefined,
      );
    });
    client.defineCommand('pclConsume', { lua: CONSUME });
    client.defineCommand('pclRefund', { lua: REFUND });
    client.defineCommand('pclIncrement', { numberOfKeys: 1, lua: INCREMENT });
    client.defineCommand('pclAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    this.client = client as Scripted;
  }

  /**
   * Rejects after the deadline even when the client itself hangs (e.g. a SIGSTOPped server). When the
   * timer fires, an answer that has already arrived but waits behind a busy event loop still gets one
   * turn of I/O (setImmediate runs after the poll phase) before the call is given up.
   */
  private deadline<T>(p: Promise<T>, started?: number): Promise<T> {
    const ms = started === undefined ? this.timeoutMs : Math.max(0, started + this.timeoutMs - localNow());
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        setImmediate(() => {
          if (settled) return;
          this.stalled();
          reject(new StoreUnavailableError(`redis call over ${this.timeoutMs}ms`));
        });
      }, ms);
    });
    return Promise.race([p, timeout]).then(
      (v) => {
        settled = true;
        clearTimeout(timer);
        this.stalledSince = 0;
        return v;
      },
      (err: unknown) => {
        settled = true;
        clearTimeout(timer);
        this.errors++;
        throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`redis: ${(err as Error).message}`);
      },
    );
  }

  /**
   * A call ran into its deadline. When calls have done so for a while (the connection is up but
   * nothing answers: a frozen or hung Redis), the connection is dropped and made again: the client
   * would otherwise keep every command sent meanwhile queued for an answer, without bound. The new
   * connection is not ready until Redis answers, and calls on it fail at once until then.
   */
  private stalled(): void {
    const now = Date.now();
    if (this.stalledSince === 0) this.stalledSince = now;
    else if (now - this.stalledSince >= Math.max(1000, 20 * this.timeoutMs)) {
      this.stalledSince = 0;
      this.reconnects++;
      // destroy(), not disconnect(): a FIN to a frozen peer never completes, and the client keeps
      // the connection (and its queue) until it does. A destroyed socket closes at once; the client
      // fails what was queued on it and reconnects (retryStrategy).
      const clients = this.client instanceof Cluster ? this.client.nodes() : [this.client];
      for (const c of clients) c.stream?.destroy();
    }
  }

  /**
   * Checks and charges `checks` atomically (a rejected request charges nothing). Every call made in
   * one turn of the event loop goes to Redis in one script call (see CONSUME): under load, one round
   * trip and one script run serve many requests. The batch carries its own deadline in Redis time:
   * a call this store has given up on (its answer would come after `timeoutMs`, so the requests were
   * decided by onError) changes nothing when Redis runs it late — a frozen Redis that resumes does
   * not charge the limits for requests refused with 503 or judged by the local fallback meanwhile.
   *
   * Redis Cluster runs a script only on keys of one slot. There, a request's checks are grouped by
   * their `{hash tag}` (one identity: all its limits in one slot) and each group is checked and
   * charged atomically, the groups in parallel; when a group rejects, what the others charged is
   * given back. A rejected request so costs nothing in the end, though for the round trip of the
   * refund the other groups' limits look spent to concurrent requests (which can only make them
   * stricter, never looser).
   */
  consume(checks: readonly LimitCheck[], cost = 1): Promise<Verdict[]> {
    const id = `${this.idPrefix}${(this.calls++).toString(36)}`;
    if (this.cluster) return this.consumeCluster(checks, cost, id);
    return this.enqueue({ checks, cost, id });
  }

  private enqueue<T>(item: Batched): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.queue.length === 0) {
        this.queuedAt = localNow();
        setImmediate(this.flushQueue);
      }
      this.queue.push({ ...item, resolve: resolve as Queued['resolve'], reject });
    });
  }

  /** Requests waiting for the next batch, and when the first of them came. */
  private queue: Queued[] = [];
  private queuedAt = 0;

  private readonly flushQueue = (): void => {
    const all = this.queue;
    const started = this.queuedAt;
    this.queue = [];
    for (let i = 0; i < all.length; i += MAX_BATCH) {
      const batch = all.length <= MAX_BATCH ? all : all.slice(i, i + MAX_BATCH);
      this.deadline(this.script(started, batch, true), started).then(
        (verdicts) => {
          for (let j = 0; j < batch.length; j++) (batch[j] as Queued).resolve(verdicts[j] as Verdict[] & number[]);
        },
        (err: unknown) => {
          for (const q of batch) q.reject(err);
        },
      );
    }
  };

  private consumeCluster(checks: readonly LimitCheck[], cost: number, id: string): Promise<Verdict[]> {
    const started = localNow();
    const groups = groupBySlot(checks, this.prefix);
    const one = (part: readonly LimitCheck[]): Promise<Verdict[]> =>
      this.script(started, [{ checks: part, cost, id }], true).then((v) => v[0] as Verdict[]);
    if (groups.length === 1) return this.deadline(one(checks), started);
    const parts = groups.map((g) => g.map((i) => checks[i] as LimitCheck));
    return this.deadline(
      Promise.allSettled(parts.map(one)).then((settled) => {
        const failed = settled.find((r) => r.status === 'rejected');
        const verdicts = settled.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
        const allowed = !failed && verdicts.every((v) => v?.every((x) => x.allowed));
        if (!allowed) {
          verdicts.forEach((v, n) => {
            if (v && v.every((x) => x.allowed)) this.refund(id, parts[n] as LimitCheck[], cost);
          });
        }
        if (failed) throw (failed as PromiseRejectedResult).reason;
        const out: Verdict[] = new Array<Verdict>(checks.length);
        groups.forEach((g, n) => g.forEach((i, j) => (out[i] = (verdicts[n] as Verdict[])[j] as Verdict)));
        return out;
      }),
      started,
    );
  }

  /** Fire and forget: a refund that is late or lost only leaves the limit stricter. */
  private refund(id: string, checks: readonly LimitCheck[], cost: number): void {
    const keys = checks.map((c) => this.prefix + c.key);
    const rules: number[] = [];
    for (const c of checks) rules.push(c.rule.algorithm === 'gcra' ? 0 : 1, c.rule.limit, c.rule.periodMs, c.rule.burst);
    this.client.pclRefund(keys.length, ...keys, cost, id, ...rules).catch(() => {
      this.errors++;
    });
  }

  /** One CONSUME call for `batch`; the verdicts of each of its requests. */
  private async script(started: number, batch: readonly Batched[], mayRetry: boolean): Promise<(Verdict[] | number[])[]> {
    const args: (string | number)[] = [];
    for (const q of batch) {
      if (q.flags !== undefined) for (const f of q.flags) args.push(this.prefix + f);
      else for (const c of q.checks) args.push(this.prefix + c.key);
    }
    const keyCount = args.length;
    args.push(this.offset.redisDeadline(started + this.timeoutMs), batch.length);
    for (const q of batch) {
      if (q.flags !== undefined) {
        args.push(-1, q.id, q.flags.length);
        continue;
      }
      args.push(q.cost, q.id, q.checks.length);
      for (const c of q.checks) args.push(c.rule.algorithm === 'gcra' ? 0 : 1, c.rule.limit, c.rule.periodMs, c.rule.burst);
    }
    const sent = localNow();
    const flat = await this.client.pclConsume(keyCount, ...args);
    const answered = localNow();
    // Redis' TIME is in whole ms: the true time is below its value + 1.
    const sample = (flat[flat.length - 1] as number) + 1 - sent;
    if (flat[0] === -1) {
      if (answered - started < this.timeoutMs) {
        // Refused as late although answered in time: Redis' clock moved ahead of the estimate.
        this.offset.reset(sample, answered - sent, answered);
        if (mayRetry) return this.script(started, batch, false);
      }
      throw new StoreUnavailableError('redis ran the call after its deadline');
    }
    this.offset.sample(sample, answered - sent, answered);
    const out: (Verdict[] | number[])[] = [];
    let at = 0;
    for (const q of batch) {
      if (q.flags !== undefined) {
        out.push(flat.slice(at, at + q.flags.length));
        at += q.flags.length;
        continue;
      }
      const verdicts: Verdict[] = [];
      for (let i = 0; i < q.checks.length; i++, at += 4) {
        verdicts.push({
          allowed: flat[at] === 1,
          remaining: flat[at + 1] as number,
          resetMs: flat[at + 2] as number,
          retryAfterMs: flat[at + 3] as number,
        });
      }
      out.push(verdicts);
    }
    return out;
  }

  increment(key: string, ttlMs: number): Promise<number> {
    return this.deadline(this.client.pclIncrement(this.prefix + key, ttlMs));
  }

  async acquire(key: string, holder: string, limit: number, ttlMs: number): Promise<boolean> {
    return (await this.deadline(this.client.pclAcquire(this.prefix + key, holder, limit, ttlMs))) === 1;
  }

  async release(key: string, holder: string): Promise<void> {
    await this.deadline(this.client.zrem(this.prefix + key, holder));
  }

  async setFlag(key: string, ttlMs: number): Promise<void> {
    await this.deadline(this.client.set(this.prefix + key, '1', 'PX', ttlMs));
  }

  /**
   * The ms each flag has left (0: unset), in one round trip: batched with the other calls of this
   * turn of the event loop (a Cluster reads each key on its own node, in parallel).
   */
  flagTtls(keys: readonly string[]): Promise<number[]> {
    if (this.cluster) return Promise.all(keys.map((k) => this.flagTtl(k)));
    return this.enqueue<number[]>({ checks: [], cost: -1, flags: keys, id: '' });
  }

  async flagTtl(key: string): Promise<number> {
    const ttl = await this.deadline(this.client.pttl(this.prefix + key));
    return ttl > 0 ? ttl : 0;
  }

  async deleteKey(key: string): Promise<void> {
    await this.deadline(this.client.del(this.prefix + key));
  }

  async listKeys(prefix: string, max: number): Promise<{ key: string; ttlMs: number }[]> {
    const nodes: Redis[] = this.cluster ? (this.client as unknown as Cluster).nodes('master') : [this.client as unknown as Redis];
    const pattern = this.prefix + prefix.replace(/[*?[\]\\]/g, '\\$&') + '*';
    const keys: string[] = [];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await this.deadline(node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        for (const k of batch) if (keys.length < max) keys.push(k);
      } while (cursor !== '0' && keys.length < max);
    }
    const out: { key: string; ttlMs: number }[] = [];
    for (const k of keys) {
      const ttl = await this.deadline((this.client as unknown as Redis).pttl(k));
      if (ttl > 0) out.push({ key: k.slice(this.prefix.length), ttlMs: ttl });
    }
    return out;
  }

  get stats(): Readonly<Record<string, number>> {
    return { errors: this.errors };
  }

  /** Resolves once connected (tests, start-up readiness); never required for serving. */
  async ready(timeoutMs = 2000): Promise<void> {
    const start = Date.now();
    while (this.client.status !== 'ready') {
      if (Date.now() - start > timeoutMs) throw new StoreUnavailableError('redis not ready');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
