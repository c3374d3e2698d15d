/**
 * Redis store (ioredis): single node, Sentinel or Cluster. Each operation is one atomic Lua script
 * (no read-modify-write races between gateway instances); time comes from the Redis server (TIME),
 * so instances with skewed clocks still agree. Every key has a TTL. Every call has a hard deadline
 * and there is no offline queue: a down or frozen Redis fails calls fast instead of stalling them.
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Verdict } from '../ratelimit/algorithms.ts';
import { StoreUnavailableError, type LimitCheck, type Store } from './store.ts';

/** KEYS: the limit keys; ARGV: cost, then per key: algorithm (0 gcra, 1 sliding), limit, period ms, burst. */
const CONSUME = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local out = {}
local allowed = true
local nexttat = {}
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  local algo = tonumber(ARGV[b + 1])
  local limit = tonumber(ARGV[b + 2])
  local period = tonumber(ARGV[b + 3])
  local burst = tonumber(ARGV[b + 4])
  if algo == 0 then
    local interval = period / limit
    local horizon = (limit + burst) * interval
    local tat = tonumber(redis.call('GET', KEYS[i]))
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
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - period)
    local count = redis.call('ZCARD', KEYS[i])
    if count + cost > limit then
      allowed = false
      local needed = count + cost - limit
      if needed > count then needed = count end
      local leave = now
      if needed > 0 then leave = tonumber(redis.call('ZRANGE', KEYS[i], needed - 1, needed - 1, 'WITHSCORES')[2]) end
      local newest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')[2]
      out[#out + 1] = 0; out[#out + 1] = 0
      out[#out + 1] = math.ceil((tonumber(newest) or now) + period - now)
      out[#out + 1] = math.max(1, math.ceil(leave + period - now))
    else
      local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')[2]
      out[#out + 1] = 1; out[#out + 1] = limit - count - cost
      out[#out + 1] = math.ceil((tonumber(oldest) or now) + period - now); out[#out + 1] = 0
      nexttat[i] = count
    end
  end
end
if allowed then
  for i = 1, #KEYS do
    local b = 1 + (i - 1) * 4
    if tonumber(ARGV[b + 1]) == 0 then
      redis.call('SET', KEYS[i], string.format('%.3f', nexttat[i]), 'PX', math.max(1, math.ceil(nexttat[i] - now)))
    else
      for c = 1, cost do
        redis.call('ZADD', KEYS[i], now, now .. ':' .. (nexttat[i] + c))
      end
      redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[b + 3]))
    end
  end
end
return out
`;

/** KEYS[1] counter; ARGV[1] ttl ms (set on the first increment only). */
const INCREMENT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;

export interface RedisStoreOptions {
  url: string | undefined;
  /** Cluster seed nodes ("host:port"). */
  cluster: string[] | undefined;
  timeoutMs: number;
  keyPrefix: string;
}

type Client = Redis | Cluster;
type Scripted = Client & {
  pclConsume(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  pclIncrement(key: string, ttl: number): Promise<number>;
};

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Scripted;
  private readonly timeoutMs: number;
  private readonly prefix: string;
  errors = 0;

  constructor(options: RedisStoreOptions) {
    this.timeoutMs = options.timeoutMs;
    this.prefix = options.keyPrefix;
    const common: RedisOptions = {
      enableOfflineQueue: false,
      commandTimeout: options.timeoutMs,
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
    } else {
      client = new Redis(options.url ?? 'redis://127.0.0.1:6379', common);
    }
    client.on('error', () => {
      this.errors++;
    });
    client.defineCommand('pclConsume', { lua: CONSUME });
    client.defineCommand('pclIncrement', { numberOfKeys: 1, lua: INCREMENT });
    this.client = client as Scripted;
  }

  /** Rejects after the deadline even when the client itself hangs (e.g. a SIGSTOPped server). */
  private deadline<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`redis call over ${this.timeoutMs}ms`)), this.timeoutMs);
    });
    return Promise.race([p, timeout]).then(
      (v) => {
        clearTimeout(timer);
        return v;
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.errors++;
        throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`redis: ${(err as Error).message}`);
      },
    );
  }

  async consume(checks: readonly LimitCheck[], cost = 1): Promise<Verdict[]> {
    const args: (string | number)[] = [];
    for (const c of checks) args.push(this.prefix + c.key);
    args.push(cost);
    for (const c of checks) args.push(c.rule.algorithm === 'gcra' ? 0 : 1, c.rule.limit, c.rule.periodMs, c.rule.burst);
    const flat = await this.deadline(this.client.pclConsume(checks.length, ...args));
    const out: Verdict[] = [];
    for (let i = 0; i < checks.length; i++) {
      out.push({
        allowed: flat[i * 4] === 1,
        remaining: flat[i * 4 + 1] as number,
        resetMs: flat[i * 4 + 2] as number,
        retryAfterMs: flat[i * 4 + 3] as number,
      });
    }
    return out;
  }

  increment(key: string, ttlMs: number): Promise<number> {
    return this.deadline(this.client.pclIncrement(this.prefix + key, ttlMs));
  }

  async setFlag(key: string, ttlMs: number): Promise<void> {
    await this.deadline(this.client.set(this.prefix + key, '1', 'PX', ttlMs));
  }

  async flagTtl(key: string): Promise<number> {
    const ttl = await this.deadline(this.client.pttl(this.prefix + key));
    return ttl > 0 ? ttl : 0;
  }

  async deleteKey(key: string): Promise<void> {
    await this.deadline(this.client.del(this.prefix + key));
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
