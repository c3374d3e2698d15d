/**
 * The response head a proxied answer gets, from the backend's headers (hop-by-hop ones and
 * fingerprints already dropped): in this order
 *   1. on a route with CORS, the backend's Access-Control-* headers are dropped (the gateway's policy decides);
 *   2. transform.response: removeHeaders, then setHeaders (replacing), then appendHeaders (next to the backend's);
 *   3. headers the stages added (CORS, RateLimit, ...); Vary is merged, not replaced;
 *   4. security headers the response does not carry yet (a backend's or the route's own value wins).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { RequestContext } from '../../pipeline/context.ts';
import { CORS_RESPONSE_HEADERS } from '../cors/cors.ts';

export function applyResponseHeaders(out: OutgoingHttpHeaders, ctx: RequestContext): void {
  const route = ctx.route;
  if (route?.cors !== undefined) for (const name of CORS_RESPONSE_HEADERS) delete out[name];
  const transform = route?.transform;
  if (transform !== undefined) {
    for (const name of transform.responseDrop) delete out[name];
    for (const [name, t] of transform.responseSet) {
      const v = t.render(ctx);
      if (v !== undefined) out[name] = v;
    }
    for (const [name, t] of transform.responseAppend) {
      const v = t.render(ctx);
      if (v === undefined) continue;
      const prior = out[name];
      out[name] = prior === undefined ? v : Array.isArray(prior) ? [...prior, v] : [String(prior), v];
    }
  }
  const added = ctx.responseHeaders;
  if (added !== undefined) {
    for (const name in added) {
      const prior = name === 'vary' ? out.vary : undefined;
      out[name] = prior === undefined ? added[name] : `${Array.isArray(prior) ? prior.join(', ') : String(prior)}, ${added[name] as string}`;
    }
  }
  if (route !== undefined) for (const [name, value] of route.securityHeaders) if (out[name] === undefined) out[name] = value;
}
