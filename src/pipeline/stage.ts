/**
 * The stage contract. A stage is created from its config at build time (and fails there on a bad
 * config); per request it only runs `run`. It rejects by throwing a GatewayError. In `shadow` mode
 * the pipeline records what the stage would have done and lets the request through.
 */
import { performance } from 'node:perf_hooks';
import { isGatewayError } from '../errors/gateway-error.ts';
import type { RequestContext } from './context.ts';

export interface Stage {
  readonly name: string;
  readonly mode: 'enforce' | 'shadow';
  /** True when the stage reads the request body (the body is then buffered up to the route limit). */
  readonly needsBody: boolean;
  run(ctx: RequestContext): void | Promise<void>;
}

/**
 * Runs the route's stages `from` up to (not including) `to` in their fixed order. Synchronous stages
 * stay synchronous: a chain with no async stage costs no promise. The handler runs a route in two
 * parts when it has a body stage: the stages before it, then (with the body read) the rest.
 */
export function runStages(stages: readonly Stage[], ctx: RequestContext, from = 0, to = stages.length): void | Promise<void> {
  for (let i = from; i < to; i++) {
    const stage = stages[i] as Stage;
    const t0 = performance.now();
    let result: void | Promise<void>;
    try {
      result = stage.run(ctx);
    } catch (err) {
      settle(stage, ctx, t0, err);
      continue;
    }
    if (result instanceof Promise) {
      return result.then(
        () => {
          record(stage, ctx, t0);
          return runStages(stages, ctx, i + 1, to);
        },
        (err: unknown) => {
          settle(stage, ctx, t0, err);
          return runStages(stages, ctx, i + 1, to);
        },
      );
    }
    record(stage, ctx, t0);
  }
}

function record(stage: Stage, ctx: RequestContext, t0: number): void {
  ctx.decisions.push({ stage: stage.name, decision: 'allow', ms: performance.now() - t0 });
}

/** A rejection: recorded; rethrown in enforce mode, swallowed in shadow mode. */
function settle(stage: Stage, ctx: RequestContext, t0: number, err: unknown): void {
  const ms = performance.now() - t0;
  if (!isGatewayError(err)) throw err;
  if (stage.mode === 'shadow') {
    ctx.decisions.push({ stage: stage.name, decision: 'shadow-deny', code: err.code, detail: err.message, ms });
    return;
  }
  ctx.decisions.push({ stage: stage.name, decision: 'deny', code: err.code, detail: err.message, ms });
  throw err;
}
