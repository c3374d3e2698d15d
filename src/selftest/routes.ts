/**
 * What the battery needs to know of each route, read from the raw config (policies as written) and
 * the built gateway (effective limits): a request path that matches it, its method and host, its
 * authenticators, upstreams, IP allow list, rate limits and threat mode.
 */
import type { Gateway } from '../config/gateway.ts';
import type { RawConfig, RawRoute } from '../config/schema.ts';
import type { RawAuthenticator } from '../stages/authenticate/build.ts';
import type { RawRateLimitEntry } from '../stages/rate-limit/schema.ts';
import { parseDuration } from '../config/units.ts';

export interface RouteFacts {
  name: string;
  raw: RawRoute;
  method: string;
  /** A request path the route matches (`:param` → a value, `/*` → a segment). */
  path: string;
  /** Host header to send (match.host, a `*.` wildcard made concrete); undefined: any. */
  host: string | undefined;
  /** Extra headers the route needs to pick an upstream (a version header without default). */
  headers: Record<string, string>;
  authenticators: { name: string; raw: RawAuthenticator }[];
  upstreams: ReadonlySet<string>;
  shadow: boolean;
  maxBodyBytes: number;
  threats: 'block' | 'detect' | 'off';
  /** The effective IP allow list (the route's own filter, else defaults.ipFilter). */
  ipAllow: readonly string[];
  /** Rate limits keyed by ip only (pre-auth), or by one header (after authentication). */
  rateLimits: { by: string; limit: number; burst: number; perMs: number }[];
}

export const PARAM_VALUE = 'st1';

export function routeFacts(raw: RawConfig, gateway: Gateway): RouteFacts[] {
  return raw.routes.map((r) => {
    const compiled = gateway.routes.find((c) => c.name === r.name);
    const auth = (Array.isArray(r.auth) ? r.auth : [r.auth]).filter((a) => a !== 'public');
    const headers: Record<string, string> = {};
    let versionParam: string | undefined;
    let versionQuery = '';
    let versionValue = PARAM_VALUE;
    const upstreams = new Set<string>();
    if (typeof r.upstream === 'string') upstreams.add(r.upstream);
    else if ('split' in r.upstream) for (const s of r.upstream.split) upstreams.add(s.upstream);
    else {
      const v = r.upstream.version;
      for (const u of Object.values(v.map)) upstreams.add(u);
      versionValue = v.default ?? Object.keys(v.map)[0] ?? PARAM_VALUE;
      // Without a default the route needs the version in the request: send the first mapped one.
      if (v.param !== undefined) versionParam = v.param;
      else if (v.default === undefined && v.header !== undefined) headers[v.header.toLowerCase()] = versionValue;
      else if (v.default === undefined && v.query !== undefined) versionQuery = `?${encodeURIComponent(v.query)}=${encodeURIComponent(versionValue)}`;
    }
    const path = samplePath(r.match.path, versionParam, versionValue) + versionQuery;
    const threatsBlock = r.threats ?? raw.defaults?.threats;
    const ipFilter = r.ipFilter === false ? undefined : r.ipFilter ?? raw.defaults?.ipFilter;
    return {
      name: r.name,
      raw: r,
      method: r.match.methods?.[0] ?? 'GET',
      path,
      host: r.match.host?.replace(/^\*\./, 'selftest.'),
      headers,
      authenticators: auth.flatMap((name) => {
        const a = raw.authenticators?.[name] as RawAuthenticator | undefined;
        return a ? [{ name, raw: a }] : [];
      }),
      upstreams,
      shadow: (compiled?.mode ?? r.mode ?? 'enforce') === 'shadow',
      maxBodyBytes: compiled?.maxBodyBytes ?? gateway.settings.limits.maxBodyBytes,
      threats: threatsBlock === undefined ? 'off' : threatsBlock.mode ?? 'block',
      ipAllow: ipFilter?.allow ?? [],
      rateLimits: effectiveLimits(raw, r, auth.length > 0),
    };
  });
}

function samplePath(pattern: string, versionParam: string | undefined, versionValue: string): string {
  if (pattern === '/*') return '/selftest';
  const body = pattern.endsWith('/*') ? `${pattern.slice(0, -2)}/selftest` : pattern;
  return body
    .split('/')
    .map((seg) => (seg.startsWith(':') ? (seg.slice(1) === versionParam ? encodeURIComponent(versionValue) : PARAM_VALUE) : seg))
    .join('/');
}

const ipOnly = (e: RawRateLimitEntry): boolean => [e.by].flat().every((b) => b === 'ip');
const oneHeader = (e: RawRateLimitEntry): string | undefined => {
  const by = [e.by].flat();
  return by.length === 1 && by[0]?.startsWith('header:') ? by[0] : undefined;
};

/**
 * The limits a probe without credentials can exhaust, as src/stages/rate-limit/build.ts applies
 * them: ip-only entries (the route's own, else the defaults') run before authentication; a
 * header-keyed one runs after it, so only on a public route.
 */
function effectiveLimits(raw: RawConfig, r: RawRoute, protectedRoute: boolean): RouteFacts['rateLimits'] {
  const own = r.rateLimit;
  const defaults = raw.defaults?.rateLimit ?? [];
  const ownIp = (own ?? []).filter(ipOnly);
  const ip = ownIp.length > 0 ? ownIp : defaults.filter(ipOnly);
  const identity = own !== undefined ? own.filter((e) => !ipOnly(e)) : defaults.filter((e) => !ipOnly(e));
  const header = protectedRoute ? [] : identity.filter((e) => oneHeader(e) !== undefined);
  return [...ip, ...header].map((e) => ({ by: oneHeader(e) ?? 'ip', limit: e.limit, burst: e.burst ?? 0, perMs: parseDuration(e.per) }));
}

/** The static prefix (ending in `/`) of the first public prefix route other than `/*`, else `/`. */
export function publicPrefix(facts: readonly RouteFacts[]): string {
  for (const f of facts) {
    const p = f.raw.match.path;
    if (f.authenticators.length > 0 || !p.endsWith('/*') || p === '/*' || f.raw.match.host !== undefined) continue;
    const stat = p.slice(0, -2).split('/').filter((s) => s !== '');
    const end = stat.findIndex((s) => s.startsWith(':'));
    const parts = end === -1 ? stat : stat.slice(0, end);
    if (parts.length > 0) return `/${parts.join('/')}/`;
  }
  return '/';
}
