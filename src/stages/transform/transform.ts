/**
 * Header transformation of a route, compiled at config build. Request side: every header the route
 * sets is first removed from what the client sent (a backend can trust `x-consumer-id` to come from
 * the gateway), then set from its template; a template whose variable is absent sets nothing.
 * Response side: headers removed and set before the response reaches the client.
 */
import { formatPath, type ConfigIssue } from '../../config/errors.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { RawTransform } from '../authenticate/schema.ts';
import { compileTemplate, type Template } from './template.ts';

export interface CompiledTransform {
  /** Lower-case names removed from the client's request headers. */
  readonly requestDrop: ReadonlySet<string>;
  readonly requestSet: readonly (readonly [string, Template])[];
  readonly responseDrop: ReadonlySet<string>;
  readonly responseSet: readonly (readonly [string, Template])[];
}

/** Framing and routing headers are the gateway's alone. */
const FRAMING = ['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect'];
/**
 * Per side, the headers a transform may neither set nor remove: framing, and the ones the gateway
 * writes itself (a second X-Forwarded-For next to the gateway's would let a template spoof the
 * client address; X-Request-Id is always the gateway's).
 */
const FORBIDDEN = {
  request: new Set([...FRAMING, 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip', 'x-request-id']),
  response: new Set([...FRAMING, 'x-request-id']),
};

export function compileTransform(raw: RawTransform | undefined, at: string, issues: ConfigIssue[]): CompiledTransform | undefined {
  if (!raw) return undefined;
  const side = (
    s: { setHeaders?: Record<string, string>; removeHeaders?: string[] } | undefined,
    which: 'request' | 'response',
  ): { drop: Set<string>; set: [string, Template][] } => {
    const where = `${at}.transform.${which}`;
    const forbidden = FORBIDDEN[which];
    const drop = new Set<string>();
    const set: [string, Template][] = [];
    for (const [i, name] of (s?.removeHeaders ?? []).entries()) {
      const lower = name.toLowerCase();
      if (forbidden.has(lower)) issues.push({ path: `${where}.removeHeaders[${i}]`, message: `"${name}" is managed by the gateway` });
      drop.add(lower);
    }
    const named = new Map<string, string>();
    for (const [name, source] of Object.entries(s?.setHeaders ?? {})) {
      const lower = name.toLowerCase();
      const p = `${where}.${formatPath(['setHeaders', name])}`;
      const first = named.get(lower);
      if (first !== undefined) {
        issues.push({ path: p, message: `"${first}" is already set (header names are case-insensitive)` });
        continue;
      }
      named.set(lower, name);
      if (forbidden.has(lower)) {
        issues.push({ path: p, message: `"${name}" is managed by the gateway` });
        continue;
      }
      const t = compileTemplate(source);
      if (typeof t === 'string') {
        issues.push({ path: p, message: t });
        continue;
      }
      drop.add(lower);
      set.push([lower, t]);
    }
    return { drop, set };
  };
  const req = side(raw.request, 'request');
  const res = side(raw.response, 'response');
  return { requestDrop: req.drop, requestSet: req.set, responseDrop: res.drop, responseSet: res.set };
}

/** Appends the rendered request headers to a flat [name, value, ...] list. */
export function renderInto(list: string[], set: readonly (readonly [string, Template])[], ctx: RequestContext): void {
  for (const [name, t] of set) {
    const v = t.render(ctx);
    if (v !== undefined) list.push(name, v);
  }
}
