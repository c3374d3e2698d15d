/**
 * Rate limiting: a stage checks all its policies against the store in one atomic call per key group
 * (a rejected request charges nothing), answers 429 with Retry-After, and sets the IETF
 * `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers, structured-field
 * form) on the response. Two instances per route: the pre-auth guard (default `by: ip` policies,
 * before authentication, protecting the authenticators) and the identity limits after authorization.
 */
import { claimAt } from '../../auth/identity.ts';
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import type { Rule, Verdict } from '../../ratelimit/algorithms.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { LimitCheck, Store } from '../../store/store.ts';

export type KeyPart =
  | { kind: 'ip' }
  | { kind: 'consumer' }
  | { kind: 'apiKey' }
  | { kind: 'route' }
  | { kind: 'claim'; path: string }
  | { kind: 'header'; name: string };

export interface Policy {
  rule: Rule;
  by: KeyPart[];
  /** Name in RateLimit-Policy. */
  name: string;
}

export type OnStoreError = 'open' | 'closed' | 'local';

export interface RateLimitOptions {
  name: 'pre-auth-limit' | 'rate-limit';
  policies: Policy[];
  store: Store;
  mode: 'enforce' | 'shadow';
  onError: OnStoreError;
  /** Divisor for the local fallback limiter (gateway instances sharing the store). */
  instances: number;
  /** Key cap of the local fallback limiter (default 100,000). */
  localMaxKeys?: number;
  onFallback?: (reason: string) => void;
}

/** The identity value of one key part, or undefined when the request has none (that policy is skipped). */
export function partValue(p: KeyPart, ctx: RequestContext): string | undefined {
  switch (p.kind) {
    case 'ip':
      return ctx.clientIp;
    case 'consumer':
      return ctx.identity?.consumerId;
    case 'apiKey':
      return ctx.identity?.type === 'apiKey' ? ctx.identity.consumerId : undefined;
    case 'route':
      return ctx.route?.name;
    case 'claim': {
      const v = ctx.identity ? claimAt(ctx.identity.claims, p.path) : undefined;
      return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
    }
    case 'header': {
      const v = ctx.request.headers[p.name];
      const s = Array.isArray(v) ? v[0] : v;
      // Bounded: a header value is attacker-controlled and becomes part of a store key.
      return s === undefined || s === '' ? undefined : s.length > 256 ? s.slice(0, 256) : s;
    }
  }
}

function policyItem(p: Policy): string {
  return `"${p.name}";q=${p.rule.limit};w=${Math.max(1, Math.round(p.rule.periodMs / 1000))}`;
}

export class RateLimitStage implements Stage {
  readonly name: 'pre-auth-limit' | 'rate-limit';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  private readonly o: RateLimitOptions;
  /** The RateLimit-Policy field value of this stage's policies. */
  readonly policyHeader: string;
  private local: MemoryStore | undefined;

  constructor(options: RateLimitOptions) {
    this.o = options;
    this.name = options.name;
    this.mode = options.mode;
    this.policyHeader = options.policies.map(policyItem).join(', ');
  }

  run(ctx: RequestContext): void | Promise<void> {
    const checks: LimitCheck[] = [];
    const used: Policy[] = [];
    let overridden = false;
    for (const p of this.o.policies) {
      let id = '';
      let complete = true;
      for (const part of p.by) {
        const v = partValue(part, ctx);
        if (v === undefined) {
          complete = false;
          break;
        }
        id += (id ? '|' : '') + encodeURIComponent(v);
      }
      if (!complete) continue;
      const eff = ctx.identity === undefined ? p : this.tier(p, ctx.identity.claims);
      if (eff !== p) overridden = true;
      // `{...}` is a Redis Cluster hash tag: all limits of one identity stay in one slot.
      checks.push({ key: `rl:{${id}}:${eff.rule.id}`, rule: eff.rule });
      used.push(eff);
    }
    if (checks.length === 0) return;
    if (overridden) ctx.note(`${this.name}: consumer tier limits`);
    let verdicts: Verdict[] | Promise<Verdict[]>;
    try {
      verdicts = this.o.store.consume(checks);
    } catch (err) {
      return this.storeFailed(ctx, checks, used, err);
    }
    if (verdicts instanceof Promise) {
      return verdicts.then(
        (v) => this.decide(ctx, used, v),
        (err: unknown) => this.storeFailed(ctx, checks, used, err),
      );
    }
    this.decide(ctx, used, verdicts);
  }

  private readonly tiers = new Map<string, Policy>();

  /**
   * A consumer's tier: `rateLimit.<policy name>` in its claims (API-key consumer metadata, or a token
   * claim) raises or lowers that policy's limit for it — a number, or `{ limit, burst }`. The derived
   * policy is built once per distinct value and counted under its own key.
   */
  private tier(p: Policy, claims: Readonly<Record<string, unknown>>): Policy {
    const tiers = claims.rateLimit;
    if (tiers === null || typeof tiers !== 'object' || !Object.hasOwn(tiers, p.name)) return p;
    const t = (tiers as Record<string, unknown>)[p.name];
    const limit = typeof t === 'number' ? t : t !== null && typeof t === 'object' ? (t as { limit?: unknown }).limit : undefined;
    const burstRaw = t !== null && typeof t === 'object' ? (t as { burst?: unknown }).burst : undefined;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1_000_000_000) return p;
    const burst = typeof burstRaw === 'number' && Number.isInteger(burstRaw) && burstRaw >= 0 ? burstRaw : p.rule.burst;
    if (limit === p.rule.limit && burst === p.rule.burst) return p;
    const cacheKey = `${p.rule.id}\u0000${limit}\u0000${burst}`;
    let eff = this.tiers.get(cacheKey);
    if (eff === undefined) {
      eff = { ...p, rule: { ...p.rule, id: `${p.rule.id}~${limit}b${burst}`, limit, burst } };
      if (this.tiers.size < 10_000) this.tiers.set(cacheKey, eff);
    }
    return eff;
  }

  private decide(ctx: RequestContext, used: Policy[], verdicts: Verdict[]): void {
    // The policy closest to exhaustion is the one reported in RateLimit.
    let worst = 0;
    for (let i = 1; i < verdicts.length; i++) {
      if ((verdicts[i] as Verdict).remaining < (verdicts[worst] as Verdict).remaining) worst = i;
    }
    let rejected = -1;
    for (let i = 0; i < verdicts.length; i++) if (!(verdicts[i] as Verdict).allowed) rejected = rejected === -1 ? i : rejected;
    const at = rejected === -1 ? worst : rejected;
    const v = verdicts[at] as Verdict;
    const p = used[at] as Policy;
    const headers = (ctx.responseHeaders ??= {});
    // Both fields are lists: the identity limits add their items to the pre-auth guard's, so the
    // client sees every policy that applied to the request.
    const item = `"${p.name}";r=${v.remaining};t=${Math.ceil((v.allowed ? v.resetMs : v.retryAfterMs) / 1000)}`;
    const policies = headers['ratelimit-policy'];
    const current = headers.ratelimit;
    const mine = used.some((u) => !this.o.policies.includes(u))
      ? this.o.policies.map((q) => used.find((u) => u.name === q.name) ?? q).map(policyItem).join(', ')
      : this.policyHeader;
    headers['ratelimit-policy'] = policies === undefined ? mine : `${policies}, ${mine}`;
    headers.ratelimit = current === undefined ? item : `${current}, ${item}`;
    if (rejected !== -1) {
      const retryAfter = String(Math.max(1, Math.ceil(v.retryAfterMs / 1000)));
      throw new GatewayError('PCL_RATE_LIMITED', `${p.name}: limit ${p.rule.limit} per ${p.rule.periodMs}ms`, {
        headers: { 'retry-after': retryAfter, 'ratelimit-policy': headers['ratelimit-policy'], ratelimit: headers.ratelimit },
      });
    }
  }

  private storeFailed(ctx: RequestContext, checks: LimitCheck[], used: Policy[], err: unknown): void {
    const reason = `store error: ${(err as Error).message}`;
    this.o.onFallback?.(`${this.o.onError}: ${reason}`);
    ctx.note(`${this.name}: ${this.o.onError} (${reason})`);
    if (this.o.onError === 'open') return;
    if (this.o.onError === 'closed') throw new GatewayError('PCL_RATE_LIMIT_UNAVAILABLE', reason, { headers: { 'retry-after': '1' } });
    // local: the same policies, in-process, each instance allowed its share of the limit.
    this.local ??= new MemoryStore({ maxKeys: this.o.localMaxKeys ?? 100_000 });
    const n = Math.max(1, this.o.instances);
    const localChecks = checks.map((c) => ({
      key: c.key,
      rule: { ...c.rule, limit: Math.max(1, Math.floor(c.rule.limit / n)), burst: Math.floor(c.rule.burst / n) },
    }));
    this.decide(ctx, used, this.local.consume(localChecks));
  }
}
