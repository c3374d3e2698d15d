/**
 * The rules of `portcullis lint`: configurations that are valid (the build accepts them) but risky.
 * One table, one entry per rule: a stable id, a severity and a check over the raw config (what the
 * operator wrote, after ${ENV} substitution) and the built Gateway (what the config means: effective
 * auth, upstream objects). Every finding names the exact config path, the problem and the fix.
 * docs/lint.md documents each rule with an example.
 */
import type { Gateway } from '../config/gateway.ts';
import { formatPath } from '../config/errors.ts';
import type { RawConfig } from '../config/schema.ts';
import type { RawCors } from '../stages/cors/schema.ts';
import { parsePathPattern } from '../routing/router.ts';
import { acceptsAny, commonMethod, hostsOverlap, overlapWitness } from './overlap.ts';
import { Upstream } from '../upstream/upstream.ts';

/** `warning`: fails `lint --strict`; `info`: printed, never fails. */
export type Severity = 'warning' | 'info';

export interface Finding {
  /** Stable rule id (docs/lint.md). */
  readonly rule: string;
  readonly severity: Severity;
  /** The config path the finding is about, as `validate` writes it: `routes[3].auth`. */
  readonly path: string;
  readonly problem: string;
  readonly fix: string;
}

export interface LintInput {
  readonly raw: RawConfig;
  /** JSON pointers of the values that came from ${ENV} substitution, `:-default`s included (LoadedConfig.envPaths). */
  readonly envPaths: ReadonlySet<string>;
  readonly gateway: Gateway;
}

/** What a rule's check returns: the rule table adds the id and the severity. */
export interface Hit {
  readonly path: string;
  readonly problem: string;
  readonly fix: string;
}

export interface Rule {
  readonly id: string;
  readonly severity: Severity;
  /** One line for docs and `--format json` consumers. */
  readonly summary: string;
  check(input: LintInput): Hit[];
}

// --- helpers -----------------------------------------------------------------------------------

/**
 * ' (from the environment)' when the value at `segments` came from ${ENV}: lint judged the value of
 * the environment it ran in, which may not be production's.
 */
function envNote(input: LintInput, segments: readonly (string | number)[]): string {
  const pointer = segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
  return input.envPaths.has(pointer) ? ' (value from the environment where lint ran)' : '';
}

/** Same test as the admin listener's start-up warning (src/admin/admin-server.ts). */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return h === 'localhost' || h === '::1' || h.startsWith('127.');
}

/** An http:// URL whose host is not loopback (identity-provider calls readable and forgeable on the wire). */
function plainHttpRemote(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  return u.protocol === 'http:' && !isLoopbackHost(u.hostname) ? u.host : undefined;
}

/** Every Upstream object a built route can send to (plain, version map, split members). */
function routeUpstreams(gateway: Gateway, index: number): Upstream[] {
  const u = gateway.routes[index]?.upstream;
  if (u === undefined) return [];
  if (u instanceof Upstream) return [u];
  if ('members' in u) return u.members.map((m) => m.upstream);
  return [...new Set([...u.map.values(), ...(u.fallback ? [u.fallback] : [])])];
}

/** Bits per character of the smallest usual alphabet the secret is written in. */
function bitsPerChar(secret: string): number {
  if (/^[0-9]+$/.test(secret)) return Math.log2(10);
  if (/^[0-9a-f]+$/.test(secret) || /^[0-9A-F]+$/.test(secret)) return 4;
  if (/^[A-Za-z0-9+/_-]+$/.test(secret)) return 6;
  if (/^[\x20-\x7e]+$/.test(secret)) return Math.log2(95);
  return 8;
}

/** Key bytes an HS* algorithm needs (RFC 7518 §3.2: at least the hash output size). */
const HMAC_HASH_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** `/login`, `/oauth/token`, `/users/:id/password`: a segment that names a credential exchange. */
const LOGIN_SEGMENT = /^(log-?in|log-?on|sign-?in|sign_in|auth|authenticate|oauth2?|token|tokens|password|passwords|forgot-password|reset-password|password-reset)$/i;

/** More credentialed origins than this is a list nobody reviews any more. */
const MANY_CREDENTIALED_ORIGINS = 10;

const BODY_METHODS = ['POST', 'PUT', 'PATCH'];

function corsPolicies(raw: RawConfig): { at: string; cors: RawCors }[] {
  const out: { at: string; cors: RawCors }[] = [];
  if (raw.defaults?.cors) out.push({ at: 'defaults.cors', cors: raw.defaults.cors });
  raw.routes.forEach((r, i) => {
    if (r.cors) out.push({ at: `routes[${i}].cors`, cors: r.cors });
  });
  return out;
}

function authenticatorEntries(raw: RawConfig): [string, NonNullable<RawConfig['authenticators']>[string]][] {
  return Object.entries(raw.authenticators ?? {});
}

const authPath = (name: string, key?: string): string => formatPath(key === undefined ? ['authenticators', name] : ['authenticators', name, key]);

// --- the rules ---------------------------------------------------------------------------------

export const RULES: readonly Rule[] = [
  {
    id: 'public-route-next-to-protected',
    severity: 'warning',
    summary: 'a public route whose path overlaps a protected route',
    check({ raw, gateway }) {
      const hits: Hit[] = [];
      const patterns = raw.routes.map((r) => parsePathPattern(r.match.path));
      const isPublic = (i: number): boolean => gateway.routes[i]?.authNames === 'public';
      raw.routes.forEach((pub, i) => {
        const pp = patterns[i];
        if (!isPublic(i) || pp === undefined || typeof pp === 'string') return;
        const overlaps: string[] = [];
        raw.routes.forEach((prot, j) => {
          const qp = patterns[j];
          if (j === i || isPublic(j) || qp === undefined || typeof qp === 'string') return;
          const method = commonMethod(pub, prot);
          if (!hostsOverlap(pub.match.host, prot.match.host) || method === undefined) return;
          const witness = overlapWitness(pp, qp);
          if (witness === undefined) return;
          // Ask the built router which route a request under the shared paths reaches: the sharpest
          // example is one that the public route takes.
          const host = (pub.match.host ?? prot.match.host ?? 'example.com').replace('*', 'a').toLowerCase();
          const wins = [witness, `${witness}/x`, `${witness}/x/y`].find((p) => {
            const m = gateway.router.match(host, p, method);
            return m.kind === 'match' && m.match.route.index === i;
          });
          overlaps.push(wins !== undefined
            ? `"${prot.name}" (${prot.match.path}; ${method} ${wins} reaches the public route)`
            : `"${prot.name}" (${prot.match.path}; both match e.g. ${witness})`);
        });
        if (overlaps.length === 0) return;
        hits.push({
          path: `routes[${i}].auth`,
          problem: `route "${pub.name}" (${pub.match.path}) is public and overlaps the protected route${overlaps.length > 1 ? 's' : ''} ${overlaps.join(', ')}: a path the protected route was meant to cover can reach the backend without authentication`,
          fix: 'give the public route a path of its own that no protected route shares (e.g. /public/...), or list exact public paths instead of a prefix, or protect it with an authenticator',
        });
      });
      return hits;
    },
  },
  {
    id: 'jwt-without-audience',
    severity: 'warning',
    summary: 'a jwt authenticator without audience',
    check({ raw }) {
      return authenticatorEntries(raw)
        .filter(([, a]) => a.type === 'jwt' && a.audience === undefined)
        .map(([name]) => ({
          path: authPath(name, 'audience'),
          problem: `jwt authenticator "${name}" accepts a token issued for any audience: a token the identity provider issued to another application is accepted here`,
          fix: 'set audience to the identifier this API has at the identity provider (audience: https://api.example.com)',
        }));
    },
  },
  {
    id: 'jwt-hs-short-secret',
    severity: 'warning',
    summary: 'an HS256/384/512 secret weaker than the hash size',
    check({ raw }) {
      const hits: Hit[] = [];
      for (const [name, a] of authenticatorEntries(raw)) {
        if (a.type !== 'jwt' || a.secret === undefined) continue;
        // The build refuses a secret of fewer bytes than the hash size. What it cannot see: a hex
        // secret carries 4 bits per byte, base64 6, so `openssl rand -hex 32` (64 bytes) is a
        // 256-bit key, weaker than HS512 needs. Estimate: length × bits per character of its alphabet.
        const need = Math.max(0, ...a.algorithms.map((alg) => HMAC_HASH_BYTES[alg] ?? 0));
        if (need === 0) continue;
        const chars = a.secret.replace(/=+$/, '').length;
        const strength = Math.floor((chars * bitsPerChar(a.secret)) / 8);
        if (strength >= need) continue;
        const alg = a.algorithms.find((x) => HMAC_HASH_BYTES[x] === need) as string;
        hits.push({
          path: authPath(name, 'secret'),
          problem: `the secret is ${Buffer.byteLength(a.secret, 'utf8')} characters but, written in its alphabet, carries at most about ${strength} bytes of key; ${alg} needs ${need} (RFC 7518 §3.2)`,
          fix: `generate ${need} random bytes, e.g. \`openssl rand -base64 ${need}\`, and put them in the environment variable`,
        });
      }
      return hits;
    },
  },
  {
    id: 'api-key-in-query',
    severity: 'warning',
    summary: 'an apiKey authenticator that reads the key from the query string',
    check({ raw }) {
      return authenticatorEntries(raw)
        .filter(([, a]) => a.type === 'apiKey' && a.in === 'query')
        .map(([name]) => ({
          path: authPath(name, 'in'),
          problem: `apiKey authenticator "${name}" takes the key from the query string: URLs end up in proxy and server logs, browser history and Referer headers`,
          fix: 'send the key in a header (in: header, name: x-api-key)',
        }));
    },
  },
  {
    id: 'cors-credentials-wildcard',
    severity: 'warning',
    summary: 'CORS with credentials and a wildcard-host origin or a long origin list',
    check({ raw }) {
      const hits: Hit[] = [];
      for (const { at, cors } of corsPolicies(raw)) {
        if (cors.credentials !== true) continue;
        cors.origins.forEach((origin, j) => {
          if (!origin.includes('://*.')) return;
          hits.push({
            path: `${at}.origins[${j}]`,
            problem: `"${origin}" with credentials: true lets every subdomain read authenticated answers: one subdomain with an XSS or a takeover reads the user's data`,
            fix: 'list the exact origins that need credentials (https://app.example.com)',
          });
        });
        if (cors.origins.length > MANY_CREDENTIALED_ORIGINS) {
          hits.push({
            path: `${at}.origins`,
            problem: `${cors.origins.length} origins may send credentialed requests (more than ${MANY_CREDENTIALED_ORIGINS}): each one is trusted with the user's cookies`,
            fix: 'keep credentials for the few front-ends that need them; give the other origins a route or policy without credentials',
          });
        }
      }
      return hits;
    },
  },
  {
    id: 'admin-off-loopback',
    severity: 'warning',
    summary: 'the admin API on a non-loopback address',
    check(input) {
      const admin = input.raw.server.admin;
      if (admin === undefined) return [];
      const host = admin.host ?? '127.0.0.1';
      if (isLoopbackHost(host)) return [];
      return [{
        path: 'server.admin.host',
        problem: `the admin API (config, reload, bans) listens on ${host}${envNote(input, ['server', 'admin', 'host'])}: it is plain HTTP with a bearer token only, no TLS and no client certificates (server.https.clientCertificates does not cover it), so the token crosses the network readable`,
        fix: 'bind it to 127.0.0.1 (the default) and reach it through SSH or a sidecar; in Kubernetes bind the pod IP and restrict it with a NetworkPolicy',
      }];
    },
  },
  {
    id: 'retries-non-idempotent',
    severity: 'warning',
    summary: 'retries of POST / PATCH requests (retryNonIdempotent: true)',
    check({ raw, gateway }) {
      const hits: Hit[] = [];
      raw.routes.forEach((r, i) => {
        if (r.retryNonIdempotent !== true || !acceptsAny(r, ['POST', 'PATCH'])) return;
        const retries = Math.max(0, ...routeUpstreams(gateway, i).map((u) => u.retries));
        hits.push({
          path: `routes[${i}].retryNonIdempotent`,
          problem: retries > 0
            ? `POST / PATCH requests with an Idempotency-Key on route "${r.name}" are sent up to ${retries + 1} times: a backend that does not deduplicate by Idempotency-Key executes them twice (double orders, double payments)`
            : `route "${r.name}" opts POST / PATCH into retries; its upstreams have retries: 0 today, so adding retries to one later silently retries non-idempotent requests`,
          fix: 'remove retryNonIdempotent unless the backend stores the Idempotency-Key and answers a repeat with the first result',
        });
      });
      return hits;
    },
  },
  {
    id: 'insecure-skip-verify',
    severity: 'warning',
    summary: "an upstream that does not verify its targets' certificates",
    check({ raw }) {
      return Object.entries(raw.upstreams)
        .filter(([, u]) => u.tls?.insecureSkipVerify === true)
        .map(([name]) => ({
          path: formatPath(['upstreams', name, 'tls', 'insecureSkipVerify']),
          problem: `upstream "${name}" accepts any certificate: anyone on the path to the backend can read and change the traffic`,
          fix: 'remove insecureSkipVerify and give the CA that signs the backend certificates in tls.ca (and tls.servername if the name differs)',
        }));
    },
  },
  {
    id: 'login-route-without-limits',
    severity: 'warning',
    summary: 'a login / token / password route with no rate limit and no brute-force guard',
    check({ raw }) {
      if (raw.defaults?.rateLimit !== undefined || raw.defaults?.bruteForce !== undefined) return [];
      const hits: Hit[] = [];
      raw.routes.forEach((r, i) => {
        if (r.rateLimit !== undefined) return;
        const segment = r.match.path.split('/').find((s) => LOGIN_SEGMENT.test(s));
        if (segment === undefined) return;
        hits.push({
          path: `routes[${i}].rateLimit`,
          problem: `route "${r.name}" (${r.match.path}) looks like a credential exchange ("${segment}") and nothing limits it: password guessing and credential stuffing run at full speed`,
          fix: 'add a rateLimit to the route (rateLimit: [{ by: ip, limit: 10, per: 1m }]) or defaults.bruteForce',
        });
      });
      return hits;
    },
  },
  {
    id: 'threats-off',
    severity: 'warning',
    summary: 'threat detection off by default, or off / detect-only on a route that takes a body',
    check({ raw }) {
      const hits: Hit[] = [];
      const d = raw.defaults?.threats;
      const everyRouteOwnBlock = raw.routes.length > 0 && raw.routes.every((r) => r.threats !== undefined);
      if (!everyRouteOwnBlock && (d === undefined || d.mode === 'off')) {
        hits.push({
          path: d === undefined ? 'defaults.threats' : 'defaults.threats.mode',
          problem: d === undefined
            ? 'no defaults.threats: requests on routes without their own threats block are not inspected for injection, traversal or SSRF'
            : 'defaults.threats.mode is off: routes without their own threats block are not inspected',
          fix: 'set defaults.threats: { mode: block } (start with mode: detect for a few days to find false positives, then block)',
        });
      }
      raw.routes.forEach((r, i) => {
        const mode = r.threats?.mode;
        if ((mode !== 'off' && mode !== 'detect') || !acceptsAny(r, BODY_METHODS)) return;
        hits.push({
          path: `routes[${i}].threats.mode`,
          problem: `route "${r.name}" accepts request bodies (${r.match.methods?.filter((m) => BODY_METHODS.includes(m)).join(', ') ?? 'every method'}) with threat detection ${mode === 'off' ? 'off' : 'in detect mode (logged, not blocked)'}`,
          fix: 'use mode: block and fix false positives precisely with threats.exclude (a field and detectors)',
        });
      });
      return hits;
    },
  },
  {
    id: 'plain-http-listener',
    severity: 'warning',
    summary: 'a plain HTTP listener serving requests with no TLS proxy in front',
    check(input) {
      const raw = input.raw;
      const http = raw.server.http;
      if (http === undefined || http.redirectToHttps !== false) return [];
      if ((raw.server.trustedProxies ?? []).length > 0) return []; // a TLS-terminating proxy in front
      if (isLoopbackHost(http.host ?? '0.0.0.0')) return []; // not reachable from the network
      return [{
        path: 'server.http.redirectToHttps',
        problem: `server.http serves requests in plain HTTP on ${http.host ?? '0.0.0.0'}${envNote(input, ['server', 'http', 'host'])}${raw.server.https ? ' next to the HTTPS listener' : ' and there is no HTTPS listener'}, and server.trustedProxies is empty (no TLS proxy in front): tokens, keys and cookies cross the network readable`,
        fix: raw.server.https
          ? 'set redirectToHttps: true (the default), or bind server.http to a private address behind your TLS proxy and list that proxy in server.trustedProxies'
          : 'add server.https, or list the TLS-terminating proxy in front of the gateway in server.trustedProxies',
      }];
    },
  },
  {
    id: 'jwks-over-http',
    severity: 'warning',
    summary: 'a JWKS or discovery URL over plain http://',
    check(input) {
      const hits: Hit[] = [];
      for (const [name, a] of authenticatorEntries(input.raw)) {
        if (a.type !== 'jwt') continue;
        for (const key of ['jwksUri', 'discovery'] as const) {
          const url = a[key];
          const host = url === undefined ? undefined : plainHttpRemote(url);
          if (host === undefined) continue;
          hits.push({
            path: authPath(name, key),
            problem: `the keys of "${name}" are fetched over plain HTTP from ${host}${envNote(input, ['authenticators', name, key])}: whoever sits on the path can serve their own keys and sign any token`,
            fix: 'use the https:// URL of the identity provider',
          });
        }
      }
      return hits;
    },
  },
  {
    id: 'introspection-over-http',
    severity: 'warning',
    summary: 'an introspection endpoint over plain http://',
    check(input) {
      const hits: Hit[] = [];
      for (const [name, a] of authenticatorEntries(input.raw)) {
        if (a.type !== 'introspection') continue;
        const host = plainHttpRemote(a.endpoint);
        if (host === undefined) continue;
        hits.push({
          path: authPath(name, 'endpoint'),
          problem: `"${name}" sends tokens and its client secret over plain HTTP to ${host}${envNote(input, ['authenticators', name, 'endpoint'])}, and believes any answer: an attacker on the path reads them and can answer active: true`,
          fix: 'use the https:// URL of the introspection endpoint',
        });
      }
      return hits;
    },
  },
  {
    id: 'no-rate-limit',
    severity: 'info',
    summary: 'no rate limit anywhere',
    check({ raw }) {
      if (raw.defaults?.rateLimit !== undefined || raw.routes.some((r) => r.rateLimit !== undefined)) return [];
      return [{
        path: 'defaults.rateLimit',
        problem: 'no rate limit in defaults or on any route: one client can use all of the backends\' capacity',
        fix: 'add defaults.rateLimit, e.g. [{ by: ip, limit: 100, per: 1s, burst: 50 }] (docs/rate-limiting.md)',
      }];
    },
  },
];

/** Runs every rule; findings in rule-table order, then config order. */
export function lint(input: LintInput): Finding[] {
  return RULES.flatMap((rule) => rule.check(input).map((h) => ({ rule: rule.id, severity: rule.severity, ...h })));
}
