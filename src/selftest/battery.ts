/**
 * The battery: probes fired at every route of the self-test gateway, each with its expectation.
 * A probe carries a marker header; the recording upstream says whether it reached a backend, the
 * gateway's access log says which route and upstream it was matched to.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import net, { BlockList } from 'node:net';
import type { Agent } from 'undici';
import type { RawConfig } from '../config/schema.ts';
import type { RawApiKeyAuthenticator, RawIntrospectionAuthenticator, RawJwtAuthenticator } from '../stages/authenticate/schema.ts';
import { send, sendRaw, type ProbeAnswer, type ProbeTarget } from './client.ts';
import { forgeJwts } from './forge.ts';
import { MARK_HEADER, type Recorder } from './recorder.ts';
import { publicPrefix, type RouteFacts } from './routes.ts';

export type Verdict = 'pass' | 'FAIL' | 'skipped' | 'n/a';

export interface CheckResult {
  route: string;
  /** Stable id of the check: auth.none, auth.jwt, path.dot-dot-semicolon, smuggling.cl-te, ... */
  check: string;
  attack: string;
  expected: string;
  /** `status code`, `no answer`, or why the check was skipped. */
  got: string;
  reachedUpstream: boolean | null;
  verdict: Verdict;
}

export interface MatchedRequest {
  route: string | undefined;
  upstream: string | undefined;
}

export interface BatteryEnv {
  agent: Agent;
  target: ProbeTarget;
  recorder: Recorder;
  /** Marker → what the gateway matched (filled by the access log of the self-test gateway). */
  matched: Map<string, MatchedRequest>;
  raw: RawConfig;
  baseDir: string;
  facts: RouteFacts[];
  limits: { maxHeaderBytes: number; headersTimeout: number };
  /** server.trustedProxies as written (for the explanation of a spoofing failure). */
  trustedProxies: readonly string[];
}

export interface Probe {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Fired {
  answer: ProbeAnswer;
  mark: string;
  reached: boolean;
}

/** A route whose IP filter refuses loopback cannot be probed past it: such checks are skipped. */
export const IP_DENIED = 'PCL_IP_DENIED';
export const IP_DENIED_SKIP = "skipped: loopback is refused by the route's IP filter (403 PCL_IP_DENIED)";

const describe = (a: ProbeAnswer): string => (a.status === 0 ? `no answer${a.error ? ` (${a.error.slice(0, 60)})` : ''}` : `${a.status}${a.code ? ` ${a.code}` : ''}`);
const refused = (f: Fired): boolean => !f.reached && (f.answer.status === 401 || f.answer.status === 403);

export async function fire(env: BatteryEnv, route: RouteFacts, probe: Probe): Promise<Fired> {
  const mark = randomUUID();
  const headers: Record<string, string> = { ...route.headers, ...(route.host ? { host: route.host } : {}), ...probe.headers, [MARK_HEADER]: mark };
  const answer = await send(env.agent, env.target, { method: probe.method, path: probe.path, headers, ...(probe.body !== undefined ? { body: probe.body } : {}) });
  return { answer, mark, reached: env.recorder.seen(mark).length > 0 };
}

function row(route: string, check: string, attack: string, expected: string, f: Fired | undefined, verdict: Verdict, got?: string): CheckResult {
  return { route, check, attack, expected, got: got ?? (f ? describe(f.answer) : '-'), reachedUpstream: f ? f.reached : null, verdict };
}

// --- authentication -------------------------------------------------------------------------

const REFUSED = '401/403, not forwarded';

export async function authChecks(env: BatteryEnv, r: RouteFacts): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const base = { method: r.method, path: r.path };
  const judge = async (check: string, attack: string, probe: Probe): Promise<void> => {
    const f = await fire(env, r, probe);
    out.push(row(r.name, check, attack, REFUSED, f, refused(f) ? 'pass' : 'FAIL'));
  };
  await judge('auth.none', 'no credentials', base);
  for (const { name, raw } of r.authenticators) {
    switch (raw.type) {
      case 'jwt': {
        const a = raw as RawJwtAuthenticator;
        for (const t of await forgeJwts(a, env.baseDir)) {
          await judge('auth.jwt', `${name}: ${t.attack.slice(5)}`, { ...base, headers: tokenHeaders(a.token, t.token) });
        }
        break;
      }
      case 'apiKey': {
        const a = raw as RawApiKeyAuthenticator;
        const keyName = a.name ?? 'x-api-key';
        const key = `pcl_${randomBytes(24).toString('base64url')}`;
        const inQuery = `${base.path}${base.path.includes('?') ? '&' : '?'}${encodeURIComponent(keyName)}=${encodeURIComponent(key)}`;
        if ((a.in ?? 'header') === 'header') {
          await judge('auth.apiKey', `${name}: random key in ${keyName}`, { ...base, headers: { [keyName]: key } });
          await judge('auth.apiKey', `${name}: key in the query (in: header)`, { ...base, path: inQuery });
        } else {
          await judge('auth.apiKey', `${name}: random key in ?${keyName}`, { ...base, path: inQuery });
          await judge('auth.apiKey', `${name}: key in a header (in: query)`, { ...base, headers: { [keyName]: key } });
        }
        break;
      }
      case 'introspection': {
        const a = raw as RawIntrospectionAuthenticator;
        const reachable = await endpointReachable(a.endpoint);
        if (reachable !== true) {
          out.push(row(r.name, 'auth.introspection', `${name}: random bearer token`, REFUSED, undefined, 'skipped', `skipped: ${reachable}`));
          break;
        }
        await judge('auth.introspection', `${name}: random bearer token`, { ...base, headers: tokenHeaders(a.token, randomBytes(24).toString('base64url')) });
        break;
      }
      case 'signature': {
        await judge('auth.signature', `${name}: no Signature / Signature-Input`, base);
        const created = Math.floor(Date.now() / 1000);
        await judge('auth.signature', `${name}: garbage signature`, {
          ...base,
          headers: {
            'signature-input': `sig1=("@method" "@authority" "@path");created=${created};keyid="selftest"`,
            signature: `sig1=:${randomBytes(64).toString('base64')}:`,
          },
        });
        break;
      }
      case 'mtls': {
        if (!env.target.https) {
          out.push(row(r.name, 'auth.mtls', `${name}: no client certificate`, REFUSED, undefined, 'skipped', 'skipped: no https listener'));
          break;
        }
        await judge('auth.mtls', `${name}: no client certificate`, base);
        break;
      }
    }
  }
  return out;
}

function tokenHeaders(from: { header?: string; cookie?: string } | undefined, token: string): Record<string, string> {
  if (from?.cookie !== undefined) return { cookie: `${from.cookie}=${token}` };
  const header = (from?.header ?? 'authorization').toLowerCase();
  return { [header]: header === 'authorization' ? `Bearer ${token}` : token };
}

/** Only a loopback endpoint is contacted, with a short connect: the operator's IdP is not probed. */
async function endpointReachable(endpoint: string): Promise<true | string> {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    return 'endpoint is not a URL';
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || host.startsWith('127.'))) return 'the introspection endpoint is not local; it is not contacted';
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const s = net.connect({ host: host === 'localhost' ? '127.0.0.1' : host, port });
    const done = (v: true | string): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(500, () => done('introspection endpoint not reachable'));
    s.once('connect', () => done(true));
    s.once('error', () => done('introspection endpoint not reachable'));
  });
}

// --- path normalisation ---------------------------------------------------------------------

/** Spellings of `path` (reached from `prefix`, a public sibling or `/`) that a naive matcher or backend would read as `path`. */
export function pathTricks(path: string, prefix: string): { id: string; attack: string; path: string }[] {
  const rest = path.slice(1);
  const first = rest.split('/')[0] ?? '';
  const afterFirst = rest.slice(first.length);
  const up = prefix === '/' ? '' : prefix;
  return [
    { id: 'path.double-slash', attack: '// before the path', path: `/${path}` },
    { id: 'path.dot-segment', attack: '/./ before the path', path: `/./${rest}` },
    { id: 'path.encoded-dot-dot', attack: `%2e%2e/ from ${prefix}`, path: `${up || '/'}%2e%2e/${rest}` },
    { id: 'path.dot-dot-semicolon', attack: `..;/ from ${prefix}`, path: `${up || '/'}..;/${rest}` },
    { id: 'path.semicolon', attack: '; in the first segment', path: `/${first};selftest${afterFirst}` },
    { id: 'path.upper-case', attack: 'upper-case path', path: path.toUpperCase() },
    { id: 'path.encoded-slash', attack: `..%2f from ${prefix}`, path: `${up || '/'}..%2f${rest.replace(/\//g, '%2f')}` },
  ];
}

/**
 * Whether a path that reached a backend names `pattern` to a lenient backend: case-insensitive,
 * `%2f` decoded, `;params` dropped, dot segments resolved (what Tomcat, IIS, Spring may do).
 */
export function lenientMatch(received: string, pattern: string): boolean {
  let p = received.split('?')[0] ?? '';
  p = p.replace(/%2f/gi, '/').replace(/%2e/gi, '.').replace(/;[^/]*/g, '').toLowerCase();
  const segs: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop();
    else segs.push(s);
  }
  const want = (pattern.endsWith('/*') ? pattern.slice(0, -2) : pattern).toLowerCase().split('/').filter((s) => s !== '');
  if (pattern.endsWith('/*') ? segs.length < want.length : segs.length !== want.length) return false;
  return want.every((w, i) => w.startsWith(':') || w === segs[i]);
}

export async function pathChecks(env: BatteryEnv, r: RouteFacts): Promise<CheckResult[]> {
  const prefix = publicPrefix(env.facts);
  const out: CheckResult[] = [];
  for (const t of pathTricks(r.path.split('?')[0] ?? r.path, prefix)) {
    const f = await fire(env, r, { method: r.method, path: t.path });
    const m = await matchedOf(env, f.mark);
    const received = env.recorder.seen(f.mark);
    const bypass = f.reached && (m?.route === r.name || (m?.upstream !== undefined && r.upstreams.has(m.upstream) && received.some((x) => lenientMatch(x.url, r.raw.match.path))));
    const got = `${describe(f.answer)}${f.reached && m?.route !== undefined ? ` via ${m.route}` : ''}`;
    out.push(row(r.name, t.id, `${t.attack}: ${t.path}`, `not forwarded to ${r.name}'s upstream`, f, bypass ? 'FAIL' : 'pass', got));
  }
  return out;
}

/** The access log is written when the response ends; wait briefly (bounded) for the record. */
async function matchedOf(env: BatteryEnv, mark: string): Promise<MatchedRequest | undefined> {
  for (let i = 0; i < 50 && !env.matched.has(mark); i++) await new Promise((r) => setTimeout(r, 10));
  return env.matched.get(mark);
}

// --- client address spoofing ----------------------------------------------------------------

/** An address inside an allow entry (IPv4 CIDR: its first host), or undefined. */
function addressIn(entry: string): string | undefined {
  const [addr, bits] = entry.split('/');
  if (addr === undefined || net.isIP(addr) !== 4) return net.isIP(addr ?? '') === 6 ? addr : undefined;
  if (bits === undefined || Number(bits) >= 31) return addr;
  const n = addr.split('.').map(Number);
  return `${n[0]}.${n[1]}.${n[2]}.${(n[3] ?? 0) | 1}`;
}

export async function spoofChecks(env: BatteryEnv): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const r of env.facts) {
    if (r.shadow || r.ipAllow.length === 0) continue;
    const list = new BlockList();
    for (const e of r.ipAllow) {
      const [a, b] = e.split('/');
      const family = net.isIP(a ?? '') === 6 ? 'ipv6' : 'ipv4';
      if (b === undefined) list.addAddress(a ?? '', family);
      else list.addSubnet(a ?? '', Number(b), family);
    }
    if (list.check('127.0.0.1', 'ipv4')) continue; // loopback is allowed anyway: nothing to spoof
    const allowed = r.ipAllow.map(addressIn).find((a) => a !== undefined);
    if (allowed === undefined) continue;
    const expected = '403, not forwarded (the peer is loopback, not a trusted proxy)';
    const forwardedFor = net.isIP(allowed) === 6 ? `"[${allowed}]"` : allowed;
    for (const [check, attack, headers] of [
      ['spoof.x-forwarded-for', `X-Forwarded-For: ${allowed}`, { 'x-forwarded-for': allowed }],
      ['spoof.forwarded', `Forwarded: for=${forwardedFor}`, { forwarded: `for=${forwardedFor}` }],
      ['spoof.x-real-ip', `X-Real-IP + X-Forwarded-For: ${allowed}`, { 'x-real-ip': allowed, 'x-forwarded-for': `${allowed}, ${allowed}` }],
    ] as const) {
      const f = await fire(env, r, { method: r.method, path: r.path, headers });
      const ok = !f.reached && f.answer.status === 403;
      const hint = !ok && env.trustedProxies.length > 0 ? ` (server.trustedProxies: ${env.trustedProxies.join(', ')})` : '';
      out.push(row(r.name, check, attack, expected, f, ok ? 'pass' : 'FAIL', `${describe(f.answer)}${hint}`));
    }
  }
  if (out.length === 0) {
    out.push(row('*', 'spoof.x-forwarded-for', 'X-Forwarded-For from an untrusted peer', 'client address unchanged', undefined, 'n/a', 'not applicable: no route has an IP allow list that excludes loopback'));
  }
  return out;
}
