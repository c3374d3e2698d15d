/**
 * Compiles a route's effective CORS policy (its own `cors`, else `defaults.cors`) once at config
 * build: a Set of exact origins, wildcard-host patterns split into prefix and suffix (no regex), the
 * allowed methods and headers as Sets, and every response header value joined once.
 */
import type { ConfigIssue } from '../../config/errors.ts';
import { parseDuration } from '../../config/units.ts';
import type { RawCors } from './schema.ts';

/** `https://*.example.com[:port]`: any one or more DNS labels in place of `*`. */
export interface OriginPattern {
  /** `https://` */
  readonly prefix: string;
  /** `.example.com` or `.example.com:8443` */
  readonly suffix: string;
}

export interface CompiledCors {
  /** origins: ["*"] (never with credentials): `Access-Control-Allow-Origin: *`. */
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  readonly patterns: readonly OriginPattern[];
  readonly methods: ReadonlySet<string>;
  /** Lower-case request header names a preflight may ask for. */
  readonly headers: ReadonlySet<string>;
  readonly allowMethods: string;
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly credentials: boolean;
  /** Whole seconds, as sent. */
  readonly maxAge: string | undefined;
}

/** Without match.methods and without cors.methods: the CORS-safelisted methods (Fetch §2.2.1). */
const SAFELISTED_METHODS = ['GET', 'HEAD', 'POST'];

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const HOST_LABELS = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/**
 * `at` is the path of the effective policy (`routes[2].cors` or `defaults.cors`); `routeMethods`
 * the route's match.methods (GET implies HEAD), undefined when it allows every method.
 */
export function compileCors(raw: RawCors, at: string, routeMethods: readonly string[] | undefined, fromDefaults: boolean, issues: ConfigIssue[]): CompiledCors {
  const credentials = raw.credentials ?? false;
  const origins = new Set<string>();
  const patterns: OriginPattern[] = [];
  let anyOrigin = false;
  raw.origins.forEach((origin, i) => {
    const p = `${at}.origins[${i}]`;
    if (origin === '*') {
      if (credentials) {
        issues.push({ path: p, message: '"*" cannot be combined with credentials: true (browsers refuse it, and it would trust every site with the user\'s cookies); list the origins' });
      } else if (raw.origins.length > 1) {
        issues.push({ path: p, message: '"*" allows every origin; list nothing else next to it' });
      }
      anyOrigin = true;
      return;
    }
    const problem = originProblem(origin);
    if (problem !== undefined) {
      issues.push({ path: p, message: problem });
      return;
    }
    if (origin.includes('://*.')) {
      const [scheme, rest] = origin.split('://*.') as [string, string];
      patterns.push({ prefix: `${scheme}://`, suffix: `.${rest}` });
    } else if (origins.has(origin)) {
      issues.push({ path: p, message: `"${origin}" is listed twice` });
    } else {
      origins.add(origin);
    }
  });

  const allowed = routeMethods ? new Set(routeMethods.includes('GET') ? [...routeMethods, 'HEAD'] : routeMethods) : undefined;
  let methods: string[];
  if (raw.methods === undefined) {
    methods = allowed ? [...allowed] : SAFELISTED_METHODS;
  } else if (fromDefaults) {
    // The defaults' list, narrowed to what this route serves.
    methods = allowed ? raw.methods.filter((m) => allowed.has(m)) : [...raw.methods];
  } else {
    methods = [];
    raw.methods.forEach((m, j) => {
      if (allowed && !allowed.has(m)) issues.push({ path: `${at}.methods[${j}]`, message: `"${m}" is not in match.methods of this route` });
      else if (!methods.includes(m)) methods.push(m);
    });
  }
  const headers = raw.headers ?? [];
  const expose = raw.exposeHeaders ?? [];
  let maxAge: string | undefined;
  if (raw.maxAge !== undefined) maxAge = String(Math.floor(parseDuration(raw.maxAge) / 1000));
  return {
    anyOrigin,
    origins,
    patterns,
    methods: new Set(methods),
    headers: new Set(headers.map((h) => h.toLowerCase())),
    allowMethods: methods.join(', '),
    allowHeaders: headers.length > 0 ? headers.join(', ') : undefined,
    exposeHeaders: expose.length > 0 ? expose.join(', ') : undefined,
    credentials,
    maxAge,
  };
}

/** Why `origin` can never equal what a browser sends in Origin (RFC 6454 §6.1), or undefined. */
function originProblem(origin: string): string | undefined {
  if (origin === 'null') {
    return '"null" is the origin of sandboxed documents, file: URLs and redirects: any site can produce it, so it cannot be allowed';
  }
  const sep = origin.indexOf('://');
  if (sep === -1) return `"${origin}" is not an origin: write scheme://host[:port], e.g. "https://app.example.com"`;
  const scheme = origin.slice(0, sep);
  let rest = origin.slice(sep + 3);
  if (origin !== origin.toLowerCase()) return `must be lower-case, as browsers send it: "${origin.toLowerCase()}"`;
  if (!SCHEME.test(scheme)) return `"${scheme}" is not a URL scheme`;
  if (rest.includes('/') || rest.includes('?') || rest.includes('#')) {
    return `an origin has no path, query or trailing "/": "${scheme}://${rest.split(/[/?#]/)[0] ?? ''}"`;
  }
  if (rest.includes('@')) return 'an origin has no user name or password';
  let port = '';
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && !rest.endsWith(']')) {
    port = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) return `"${port}" is not a port`;
    if (DEFAULT_PORTS[scheme] === port) return `browsers omit the default port: write "${scheme}://${rest}"`;
  }
  if (rest.startsWith('*.')) {
    const domain = rest.slice(2);
    if (!HOST_LABELS.test(domain)) return `"${domain}" is not a host name`;
    if (!domain.includes('.')) return `"*.${domain}" is too broad: name at least a registrable domain, e.g. "*.example.com"`;
    return undefined;
  }
  if (rest.includes('*')) return '"*" is allowed only as the first label of the host ("https://*.example.com") or alone';
  if (!HOST_LABELS.test(rest) && !IPV6.test(rest)) return `"${rest}" is not a host name`;
  return undefined;
}
