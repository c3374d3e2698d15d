/**
 * Header transformation of a route, compiled at config build. Request side: every header the route
 * sets is first removed from what the client sent (a backend can trust `x-consumer-id` to come from
 * the gateway), then set from its template; a template whose variable is absent sets nothing.
 * Response side: headers removed and set before the response reaches the client.
 */
import type { ConfigIssue } from '../../config/errors.ts';
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
const FORBIDDEN = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect']);

export function compileTransform(raw: RawTransform | undefined, at: string, issues: ConfigIssue[]): CompiledTransform | undefined {
  if (!raw) return undefined;
  const side = (
    s: { setHeaders?: Record<string, string>; removeHeaders?: string[] } | undefined,
    where: string,
  ): { drop: Set<string>; set: [string, Template][] } => {
    const drop = new Set<string>();
    const set: [string, Template][] = [];
    for (const [i, name] of (s?.removeHeaders ?? []).entries()) {
      const lower = name.toLowerCase();
      if (FORBIDDEN.has(lower)) issues.push({ path: `${where}.removeHeaders[${i}]`, message: `"${name}" is managed by the gateway` });
      drop.add(lower);
    }
    for (const [name, source] of Object.entries(s?.setHeaders ?? {})) {
      const lower = name.toLowerCase();
      if (FORBIDDEN.has(lower)) {
        issues.push({ path: `${where}.setHeaders.${name}`, message: `"${name}" is managed by the gateway` });
        continue;
      }
      const t = compileTemplate(source);
      if (typeof t === 'string') {
        issues.push({ path: `${where}.setHeaders.${name}`, message: t });
        continue;
      }
      drop.add(lower);
      set.push([lower, t]);
    }
    return { drop, set };
  };
  const req = side(raw.request, `${at}.transform.request`);
  const res = side(raw.response, `${at}.transform.response`);
  return { requestDrop: req.drop, requestSet: req.set, responseDrop: res.drop, responseSet: res.set };
}

/** Appends the rendered request headers to a flat [name, value, ...] list. */
export function renderInto(list: string[], set: readonly (readonly [string, Template])[], ctx: RequestContext): void {
  for (const [name, t] of set) {
    const v = t.render(ctx);
    if (v !== undefined) list.push(name, v);
  }
}
