/**
 * The threats stage: after validation, before the upstream. It inspects the request (and the body,
 * read by the handler before this stage when `body` is on) with the route's threat engine and
 * rejects with 403 PCL_THREAT_DETECTED when the anomaly score reaches the threshold. The client gets
 * no detail; the decision record and the access log get the findings (detector, field, score,
 * redacted excerpt). Findings under the threshold go to the access log as a note.
 */
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import { summarize, type ThreatEngine } from '../../threats/engine.ts';
import { declaresBody } from '../validate/validate.ts';

export class ThreatsStage implements Stage {
  readonly name = 'threats';
  readonly needsBody: boolean;
  readonly mode: 'enforce' | 'shadow';
  readonly engine: ThreatEngine;

  constructor(engine: ThreatEngine, mode: 'enforce' | 'shadow') {
    this.engine = engine;
    this.mode = mode;
    this.needsBody = engine.options.inspectBody;
  }

  run(ctx: RequestContext): void {
    const req = ctx.request;
    const verdict = this.engine.inspect({
      method: ctx.method,
      host: ctx.host,
      target: req.url ?? ctx.path,
      rawHeaders: req.rawHeaders,
      body: ctx.body,
      parsedBody: ctx.parsedBody,
      hasBody: declaresBody(req),
    });
    if (verdict.findings.length === 0) return;
    const summary = summarize(verdict, this.engine.options.threshold);
    if (verdict.blocked) throw new GatewayError('PCL_THREAT_DETECTED', summary);
    ctx.note(summary);
  }
}
