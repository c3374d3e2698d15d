/**
 * Concurrency limit (`concurrency: { by, limit }` on a route): at most `limit` requests of one key
 * in flight at once. A slot is taken after authorization and given back when the exchange ends,
 * whatever the outcome (response sent, error, client gone). Over the limit: 429
 * PCL_CONCURRENCY_LIMITED with Retry-After: 1. Slots live in the store, so with Redis the limit
 * holds across instances; a slot of a crashed instance frees itself after `ttl`.
 */
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { partValue, type KeyPart, type OnStoreError } from '../rate-limit/rate-limit.ts';

export interface ConcurrencyOptions {
  routeName: string;
  by: KeyPart[];
  limit: number;
  ttlMs: number;
  store: Store;
  mode: 'enforce' | 'shadow';
  onError: OnStoreError;
  instances: number;
}

export class ConcurrencyStage implements Stage {
  readonly name = 'concurrency';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  private readonly o: ConcurrencyOptions;
  private local: MemoryStore | undefined;

  constructor(options: ConcurrencyOptions) {
    this.o = options;
    this.mode = options.mode;
  }

  run(ctx: RequestContext): void | Promise<void> {
    let id = '';
    for (const part of this.o.by) {
      const v = partValue(part, ctx);
      if (v === undefined) return; // no such identity on this request: not limited
      id += (id ? '|' : '') + encodeURIComponent(v);
    }
    const key = `cc:{${id}}:${this.o.routeName}`;
    let got: boolean | Promise<boolean>;
    try {
      got = this.o.store.acquire(key, ctx.requestId, this.o.limit, this.o.ttlMs);
    } catch (err) {
      return this.fallback(ctx, key, err);
    }
    if (got instanceof Promise) {
      return got.then(
        (ok) => this.settle(ctx, key, ok, this.o.store),
        (err: unknown) => this.fallback(ctx, key, err),
      );
    }
    this.settle(ctx, key, got, this.o.store);
  }

  private settle(ctx: RequestContext, key: string, ok: boolean, store: Store): void {
    if (!ok) {
      throw new GatewayError('PCL_CONCURRENCY_LIMITED', `${this.o.limit} requests of this key already in flight on ${this.o.routeName}`, {
        headers: { 'retry-after': '1' },
      });
    }
    ctx.onFinish(() => {
      try {
        const r = store.release(key, ctx.requestId);
        if (r instanceof Promise) r.catch(() => undefined); // the slot expires after ttl
      } catch {
        // the slot expires after ttl
      }
    });
  }

  private fallback(ctx: RequestContext, key: string, err: unknown): void {
    const reason = `store error: ${(err as Error).message}`;
    ctx.note(`concurrency: ${this.o.onError} (${reason})`);
    if (this.o.onError === 'open') return;
    if (this.o.onError === 'closed') throw new GatewayError('PCL_RATE_LIMIT_UNAVAILABLE', reason, { headers: { 'retry-after': '1' } });
    this.local ??= new MemoryStore({ sweepIntervalMs: 0 });
    const limit = Math.max(1, Math.floor(this.o.limit / Math.max(1, this.o.instances)));
    this.settle(ctx, key, this.local.acquire(key, ctx.requestId, limit), this.local);
  }
}
