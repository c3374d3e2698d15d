/** Building the store and each route's rate-limit stages from config. */
import type { ConfigIssue } from '../../config/errors.ts';
import { parseDuration } from '../../config/units.ts';
import type { Rule } from '../../ratelimit/algorithms.ts';
import { MemoryStore } from '../../store/memory.ts';
import { ClusterStore, clusterWorker } from '../../store/cluster.ts';
import { RedisStore, sentinelOptions } from '../../store/redis.ts';
import type { Store } from '../../store/store.ts';
import { RateLimitStage, type KeyPart, type OnStoreError, type Policy } from './rate-limit.ts';
import type { RawRateLimitEntry, RawRedis } from './schema.ts';

export interface StoreSettings {
  store: Store;
  onError: OnStoreError;
  instances: number;
  /** Key cap of in-process stores (the memory store; the local fallback of a Redis store). */
  maxKeys: number;
}

const DEFAULT_MAX_KEYS = 100_000;

/**
 * The store of a config. `reuse`: the running gateway's store, taken over by a reload whose `store:`
 * block did not change (its counters and bans survive the reload; no second connection is made).
 */
export function buildStore(
  raw: { type?: 'memory' | 'redis'; redis?: RawRedis; maxKeys?: number } | undefined,
  issues: ConfigIssue[],
  reuse?: Store,
): StoreSettings {
  const type = raw?.type ?? 'memory';
  const maxKeys = raw?.maxKeys ?? DEFAULT_MAX_KEYS;
  // A cluster worker (server.workers > 1): the memory store lives in the primary (exact across the
  // workers); the local fallback of a limit, and of Redis' too, is this worker's share of it.
  const worker = clusterWorker();
  if (type === 'memory') {
    if (raw?.redis) issues.push({ path: 'store.redis', message: 'is only used with store.type: redis' });
    if (worker) return { store: reuse ?? new ClusterStore(), onError: 'local', instances: worker.workers, maxKeys };
    return { store: reuse ?? new MemoryStore({ maxKeys }), onError: 'local', instances: 1, maxKeys };
  }
  const r = raw?.redis;
  if (!r || (r.url === undefined && r.cluster === undefined)) {
    issues.push({ path: 'store.redis', message: 'store.type redis needs store.redis.url or store.redis.cluster' });
    return { store: new MemoryStore({ maxKeys }), onError: 'local', instances: 1, maxKeys };
  }
  if (r.url !== undefined && r.url.includes('+sentinel://')) {
    try {
      sentinelOptions(r.url);
    } catch (err) {
      issues.push({ path: 'store.redis.url', message: (err as Error).message });
    }
  }
  if (r.url !== undefined && r.cluster !== undefined) {
    issues.push({ path: 'store.redis', message: 'give either url or cluster, not both' });
  }
  const timeoutMs = r.timeout !== undefined ? parseDuration(r.timeout) : 50;
  // 0 would fail every store call at once: refused.
  if (timeoutMs < 1) issues.push({ path: 'store.redis.timeout', message: 'must be at least 1ms' });
  return {
    store: reuse ?? new RedisStore({
      url: r.url,
      cluster: r.cluster,
      timeoutMs: Math.max(1, timeoutMs),
      keyPrefix: r.keyPrefix ?? 'pcl:',
    }),
    onError: r.onError ?? 'local',
    instances: (r.instances ?? 1) * (worker?.workers ?? 1),
    maxKeys,
  };
}

export function keyParts(by: string | string[]): KeyPart[] {
  return [by].flat().map((b): KeyPart => {
    if (b.startsWith('claim:')) return { kind: 'claim', path: b.slice(6) };
    if (b.startsWith('header:')) return { kind: 'header', name: b.slice(7).toLowerCase() };
    return { kind: b as 'ip' | 'consumer' | 'apiKey' | 'route' };
  });
}

function policy(e: RawRateLimitEntry, id: string, defaultName: string, at: string, issues: ConfigIssue[]): Policy {
  const periodMs = parseDuration(e.per);
  if (periodMs < 1) issues.push({ path: `${at}.per`, message: 'must be at least 1ms' });
  const algorithm = e.algorithm ?? 'gcra';
  if (algorithm === 'sliding-window' && e.burst !== undefined) {
    issues.push({ path: `${at}.burst`, message: 'applies to gcra only; a sliding window never lets more than `limit` through' });
  }
  if (algorithm === 'sliding-window' && e.limit > 100_000) {
    issues.push({ path: `${at}.limit`, message: 'sliding-window keeps one entry per request: at most 100000; use gcra for larger limits' });
  }
  const rule: Rule = { id, limit: e.limit, periodMs: Math.max(1, periodMs), burst: e.burst ?? 0, algorithm };
  return { rule, by: keyParts(e.by), name: e.name ?? defaultName };
}

const ipOnly = (e: RawRateLimitEntry): boolean => [e.by].flat().every((b) => b === 'ip');

export interface RouteLimitStages {
  preAuth: RateLimitStage | undefined;
  identity: RateLimitStage | undefined;
}

/**
 * The defaults' ip-only entries are the pre-auth guard of every route (shared counters: one budget
 * per client IP across routes); a route's own ip-only entries replace them. The defaults' other
 * entries apply after authentication; a route's own `rateLimit` replaces them.
 */
export interface DefaultPolicies {
  preAuth: Policy[];
  identity: Policy[];
}

/** The defaults' entries, parsed once for all routes. */
export function buildDefaultPolicies(defaults: RawRateLimitEntry[] | undefined, issues: ConfigIssue[]): DefaultPolicies {
  const all = (defaults ?? []).map((e, i) => ({ e, p: policy(e, `d${i}`, `default-${i}`, `defaults.rateLimit[${i}]`, issues) }));
  return { preAuth: all.filter((x) => ipOnly(x.e)).map((x) => x.p), identity: all.filter((x) => !ipOnly(x.e)).map((x) => x.p) };
}

export function buildRouteLimits(
  defaults: DefaultPolicies,
  own: RawRateLimitEntry[] | undefined,
  routeName: string,
  at: string,
  mode: 'enforce' | 'shadow',
  store: StoreSettings,
  issues: ConfigIssue[],
  onFallback?: (reason: string) => void,
): RouteLimitStages {
  const ownPolicies = (own ?? []).map((e, i) => ({ e, p: policy(e, `${routeName}#${i}`, `${routeName}-${i}`, `${at}.rateLimit[${i}]`, issues) }));
  const ownIp = ownPolicies.filter((x) => ipOnly(x.e)).map((x) => x.p);
  const preAuth = ownIp.length > 0 ? ownIp : defaults.preAuth;
  const identity = own !== undefined ? ownPolicies.filter((x) => !ipOnly(x.e)).map((x) => x.p) : defaults.identity;
  const make = (name: 'pre-auth-limit' | 'rate-limit', policies: Policy[]) =>
    policies.length === 0
      ? undefined
      : new RateLimitStage({ name, policies, store: store.store, mode, onError: store.onError, instances: store.instances, localMaxKeys: store.maxKeys, ...(onFallback ? { onFallback } : {}) });
  return { preAuth: make('pre-auth-limit', preAuth), identity: make('rate-limit', identity) };
}
