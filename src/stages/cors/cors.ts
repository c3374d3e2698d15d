/**
 * CORS at the gateway (Fetch standard, "CORS protocol").
 *
 * Preflight (OPTIONS with Origin and Access-Control-Request-Method): matched to the route that would
 * serve the method it asks for (routes rarely list OPTIONS), answered here with 204 before
 * authentication (a browser sends no credentials on a preflight) and never forwarded. An origin,
 * method or header the policy does not allow gets 403 PCL_CORS_REJECTED with no Access-Control-*.
 *
 * Actual request: an allowed Origin is echoed exactly (never an unlisted one) with
 * Access-Control-Allow-Credentials / -Expose-Headers as configured, on the backend's answer and on the
 * gateway's own errors alike (so a page can read a 401). Another Origin gets no CORS headers: the
 * browser blocks the response. `Vary: Origin` is on every response of a route whose answer depends on
 * the Origin, so a cache never serves one origin's answer to another.
 */
import type { ServerResponse } from 'node:http';
import type { CompiledRoute } from '../../config/gateway.ts';
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Router } from '../../routing/router.ts';
import type { AnyResponse } from '../../server/respond.ts';
import type { SecurityHeaderList } from '../transform/security-headers.ts';
import type { CompiledCors } from './build.ts';

/** Response headers the gateway owns on a route with CORS: a backend's copies are dropped. */
export const CORS_RESPONSE_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
] as const;

export interface Preflight {
  route: CompiledRoute;
  params: string[];
  /** Access-Control-Request-Method */
  method: string;
  /** Access-Control-Request-Headers, as sent (undefined when absent). */
  requestHeaders: string | undefined;
  /** false: no route serves `method` on this path (the preflight is refused). */
  routable: boolean;
}

/** Whether `origin` (the Origin header as sent) is allowed by `cors`; exact, case-sensitive. */
export function originAllowed(cors: CompiledCors, origin: string): boolean {
  if (cors.anyOrigin || cors.origins.has(origin)) return true;
  for (const p of cors.patterns) {
    const end = origin.length - p.suffix.length;
    if (end <= p.prefix.length || !origin.startsWith(p.prefix) || !origin.endsWith(p.suffix)) continue;
    if (isLabels(origin, p.prefix.length, end)) return true;
  }
  return false;
}

/** origin[start, end) is one or more DNS labels: [a-z0-9-], dot-separated, no empty label. */
function isLabels(s: string, start: number, end: number): boolean {
  let prev = 46; /* . */
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (prev === 46) return false;
    } else if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) {
      return false;
    }
    prev = c;
  }
  return prev !== 46;
}

/**
 * A CORS preflight for a route with a CORS policy, or undefined (not a preflight, or the route
 * that serves it has no CORS policy: the OPTIONS request then goes its normal way).
 */
export function findPreflight(router: Router<CompiledRoute>, ctx: RequestContext, raw: readonly string[]): Preflight | undefined {
  let method: string | undefined;
  let requestHeaders: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length < 29 || name.length > 30) continue;
    const lower = name.toLowerCase();
    if (lower === 'access-control-request-method') method ??= raw[i + 1] as string;
    else if (lower === 'access-control-request-headers') requestHeaders = requestHeaders === undefined ? (raw[i + 1] as string) : `${requestHeaders},${raw[i + 1] as string}`;
  }
  if (method === undefined) return undefined;
  const found = router.match(ctx.host, ctx.path, method);
  if (found.kind === 'match') {
    const route = found.match.route;
    return route.cors === undefined ? undefined : { route, params: found.match.params, method, requestHeaders, routable: true };
  }
  if (found.kind === 'method') {
    // The path is served, not with this method: the policy of a route on it refuses the preflight.
    const other = router.match(ctx.host, ctx.path, found.allow[0] as string);
    if (other.kind === 'match' && other.match.route.cors !== undefined) {
      return { route: other.match.route, params: other.match.params, method, requestHeaders, routable: false };
    }
  }
  return undefined;
}

/** The headers of the 204 answer to an allowed preflight; throws PCL_CORS_REJECTED otherwise. */
export function preflightHeaders(cors: CompiledCors, origin: string, pre: Preflight): Record<string, string> {
  if (!originAllowed(cors, origin)) throw new GatewayError('PCL_CORS_REJECTED', `preflight from origin ${origin.slice(0, 128)} not allowed`);
  if (!pre.routable || !cors.methods.has(pre.method)) {
    throw new GatewayError('PCL_CORS_REJECTED', `preflight for method ${pre.method.slice(0, 32)} not allowed`);
  }
  if (pre.requestHeaders !== undefined) {
    for (const part of pre.requestHeaders.split(',')) {
      const h = part.trim().toLowerCase();
      if (h !== '' && !cors.headers.has(h)) throw new GatewayError('PCL_CORS_REJECTED', `preflight for header ${h.slice(0, 64)} not allowed`);
    }
  }
  const out: Record<string, string> = {
    'access-control-allow-origin': cors.anyOrigin ? '*' : origin,
    'access-control-allow-methods': cors.allowMethods,
  };
  if (cors.allowHeaders !== undefined) out['access-control-allow-headers'] = cors.allowHeaders;
  if (cors.credentials) out['access-control-allow-credentials'] = 'true';
  if (cors.maxAge !== undefined) out['access-control-max-age'] = cors.maxAge;
  if (!cors.anyOrigin) out.vary = 'Origin';
  return out;
}

/** Writes the 204 answer to an allowed preflight, with the gateway's own headers. */
export function sendPreflight(
  res: AnyResponse,
  headers: Record<string, string>,
  options: { requestId: string; hsts: string | null; securityHeaders: SecurityHeaderList; close: boolean },
): void {
  for (const [name, value] of options.securityHeaders) headers[name] = value;
  headers['x-request-id'] = options.requestId;
  if (options.hsts) headers['strict-transport-security'] = options.hsts;
  if (options.close && (res as ServerResponse).shouldKeepAlive !== undefined) headers.connection = 'close';
  (res as ServerResponse).writeHead(204, headers);
  res.end();
}

/** An actual request on a route with CORS: the headers its answer (or error) carries. */
export function applyCors(cors: CompiledCors, origin: string | undefined, ctx: RequestContext): void {
  if (origin === undefined || !originAllowed(cors, origin)) {
    if (!cors.anyOrigin) (ctx.responseHeaders ??= {}).vary = 'Origin';
    return;
  }
  const out = (ctx.responseHeaders ??= {});
  out['access-control-allow-origin'] = cors.anyOrigin ? '*' : origin;
  if (cors.credentials) out['access-control-allow-credentials'] = 'true';
  if (cors.exposeHeaders !== undefined) out['access-control-expose-headers'] = cors.exposeHeaders;
  if (!cors.anyOrigin) out.vary = 'Origin';
}
