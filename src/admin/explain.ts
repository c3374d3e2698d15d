/**
 * Explain: runs a described request through a gateway's pipeline without proxying it, and returns
 * the decision record — which route matched, each stage's verdict and why. Used by the admin API
 * (`POST /explain`) and the CLI (`portcullis explain`).
 *
 * Nothing shared changes: stages that charge counters (rate limits, the pre-auth limit, concurrency
 * slots) are not run and say so (`skip`); a rejected credential is not counted by the brute-force
 * guard; the request never reaches an upstream. Everything else runs exactly as for a real request
 * (the same compiled stages, the same order, shadow mode included), so JWKS fetches or token
 * introspection calls do happen.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CompiledRoute, Gateway } from '../config/gateway.ts';
import { GatewayError, isGatewayError } from '../errors/gateway-error.ts';
import { RequestContext, type DecisionEntry } from '../pipeline/context.ts';
import type { Stage } from '../pipeline/stage.ts';
import { parseTarget } from '../routing/path.ts';
import { normalizeIp, resolveClientIp } from '../server/client-ip.ts';
import { toGatewayError } from '../server/respond.ts';
import type { AnyRequest } from '../upstream/proxy.ts';

export interface ExplainRequest {
  method: string;
  /** Path with an optional query: `/orders/1?x=2`. */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string;
  /** The client's address as the gateway's socket would see it (default 127.0.0.1). */
  clientIp?: string;
  /** Whether it came over TLS (default true when the gateway has an HTTPS listener). */
  secure?: boolean;
}

export interface ExplainResult {
  request: { method: string; host: string; path: string; clientIp: string };
  route: string | null;
  /** What the gateway would do: forward to the upstream, or answer with an error. */
  outcome: 'forward' | 'reject';
  status: number;
  code: string | null;
  upstream: string | null;
  identity: { authenticator: string; subject: string | undefined; consumer: string | undefined } | null;
  decisions: DecisionEntry[];
}

/** Stages that write shared state on every request: explain reports them without running them. */
const STATEFUL = new Set(['rate-limit', 'pre-auth-limit', 'concurrency']);

export class ExplainInputError extends Error {
  override readonly name = 'ExplainInputError';
}

/** Validates the untrusted JSON of `POST /explain`. */
export function parseExplainRequest(value: unknown): ExplainRequest {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ExplainInputError('the body must be a JSON object');
  const v = value as Record<string, unknown>;
  const method = v.method;
  const path = v.path;
  if (typeof method !== 'string' || !/^[A-Z]{1,16}$/.test(method)) throw new ExplainInputError('method: an upper-case HTTP method is required');
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > 8192) throw new ExplainInputError('path: required, starting with /');
  const out: ExplainRequest = { method, path };
  if (v.headers !== undefined) {
    if (v.headers === null || typeof v.headers !== 'object' || Array.isArray(v.headers)) throw new ExplainInputError('headers: an object of name → value');
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(v.headers as Record<string, unknown>)) {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new ExplainInputError(`headers: "${name.slice(0, 64)}" is not a header name`);
      if (typeof value === 'string') headers[name.toLowerCase()] = value;
      else if (Array.isArray(value) && value.every((x) => typeof x === 'string')) headers[name.toLowerCase()] = value as string[];
      else throw new ExplainInputError(`headers.${name}: a string or a list of strings`);
    }
    out.headers = headers;
  }
  if (v.body !== undefined) {
    if (typeof v.body !== 'string') throw new ExplainInputError('body: a string (the exact request body)');
    out.body = v.body;
  }
  if (v.clientIp !== undefined) {
    if (typeof v.clientIp !== 'string' || isIP(v.clientIp) === 0) throw new ExplainInputError('clientIp: an IPv4 or IPv6 address');
    out.clientIp = v.clientIp;
  }
  if (v.secure !== undefined) {
    if (typeof v.secure !== 'boolean') throw new ExplainInputError('secure: true or false');
    out.secure = v.secure;
  }
  return out;
}

export async function explain(gateway: Gateway, input: ExplainRequest): Promise<ExplainResult> {
  const headers: Record<string, string | string[]> = { ...(input.headers ?? {}) };
  if (headers.host === undefined) headers.host = 'localhost';
  const body = input.body !== undefined ? Buffer.from(input.body, 'utf8') : undefined;
  if (body !== undefined && headers['content-length'] === undefined) headers['content-length'] = String(body.length);
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) rawHeaders.push(name, v);
  }
  const peerIp = normalizeIp(input.clientIp ?? '127.0.0.1') ?? '127.0.0.1';
  const secure = input.secure ?? gateway.settings.https !== undefined;
  const request = {
    method: input.method,
    url: input.path,
    headers,
    rawHeaders,
    httpVersion: '1.1',
    httpVersionMajor: 1,
    socket: { remoteAddress: peerIp, encrypted: secure, authorized: false, getPeerCertificate: () => ({}) },
  } as unknown as AnyRequest;

  const hostHeader = Array.isArray(headers.host) ? (headers.host[0] as string) : (headers.host as string);
  const host = hostHeader.replace(/:\d+$/, '').toLowerCase();
  const xff = headers['x-forwarded-for'];
  const forwarded = headers.forwarded;
  const result: ExplainResult = {
    request: { method: input.method, host, path: input.path, clientIp: peerIp },
    route: null,
    outcome: 'forward',
    status: 0,
    code: null,
    upstream: null,
    identity: null,
    decisions: [],
  };
  let target;
  try {
    target = parseTarget(input.path);
  } catch (err) {
    return reject(result, toGatewayError(err), 'request');
  }
  const ctx = new RequestContext({
    requestId: randomUUID(),
    startedAt: performance.now(),
    method: input.method,
    host,
    path: target.path,
    query: target.query,
    clientIp: resolveClientIp(
      peerIp,
      Array.isArray(xff) ? xff.join(', ') : xff,
      Array.isArray(forwarded) ? forwarded.join(', ') : forwarded,
      gateway.settings.trustedProxies,
    ),
    peerIp,
    secure,
    httpVersion: '1.1',
    request,
  });
  ctx.explain = true;
  result.request.clientIp = ctx.clientIp;
  result.decisions = ctx.decisions;

  const found = gateway.router.match(ctx.host, ctx.path, ctx.method);
  const route: CompiledRoute | undefined = found.kind === 'match' ? found.match.route : undefined;
  if (route !== undefined) {
    result.route = route.name;
    ctx.route = route;
    ctx.params = found.kind === 'match' ? found.match.params : [];
    ctx.prefixLength = found.kind === 'match' ? found.match.prefixLength : -1;
  }
  const stop = await runAll(route !== undefined ? route.ipFilter : gateway.ipFilter, ctx);
  if (stop !== undefined) return finish(reject(result, stop, undefined), ctx, route);
  if (found.kind === 'none') {
    return reject(result, new GatewayError('PCL_ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.host}${ctx.path}`), 'route');
  }
  if (found.kind === 'method') {
    return reject(result, new GatewayError('PCL_ROUTE_METHOD_NOT_ALLOWED', `${ctx.method} not allowed (allowed: ${found.allow.join(', ')})`), 'route');
  }
  const r = route as CompiledRoute;
  ctx.decisions.push({ stage: 'route', decision: 'allow', detail: `matched ${r.name}`, ms: 0 });
  const declared = Number(Array.isArray(headers['content-length']) ? headers['content-length'][0] : (headers['content-length'] ?? 0));
  if (declared > r.maxBodyBytes) {
    return finish(reject(result, new GatewayError('PCL_REQUEST_BODY_TOO_LARGE', `Content-Length ${declared} > ${r.maxBodyBytes}`), 'body-size'), ctx, r);
  }
  if (body !== undefined && r.needsBody) ctx.body = body;
  const denied = await runAll(r.stages, ctx);
  if (denied !== undefined) return finish(reject(result, denied, undefined), ctx, r);
  result.outcome = 'forward';
  result.status = 0;
  return finish(result, ctx, r);
}

/** Runs every stage, recording each verdict; stops at the first enforced rejection (later stages: skip). */
async function runAll(stages: readonly Stage[], ctx: RequestContext): Promise<GatewayError | undefined> {
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i] as Stage;
    if (STATEFUL.has(stage.name)) {
      ctx.decisions.push({ stage: stage.name, decision: 'skip', detail: 'not evaluated by explain: it would charge shared counters', ms: 0 });
      continue;
    }
    const t0 = performance.now();
    try {
      await stage.run(ctx);
      ctx.decisions.push({ stage: stage.name, decision: 'allow', ms: performance.now() - t0 });
    } catch (err) {
      const ms = performance.now() - t0;
      if (!isGatewayError(err)) throw err;
      if (stage.mode === 'shadow') {
        ctx.decisions.push({ stage: stage.name, decision: 'shadow-deny', code: err.code, detail: err.message, ms });
        continue;
      }
      ctx.decisions.push({ stage: stage.name, decision: 'deny', code: err.code, detail: err.message, ms });
      for (let j = i + 1; j < stages.length; j++) {
        ctx.decisions.push({ stage: (stages[j] as Stage).name, decision: 'skip', detail: `not reached: ${stage.name} rejected the request`, ms: 0 });
      }
      return err;
    }
  }
  return undefined;
}

function reject(result: ExplainResult, err: GatewayError, stage: string | undefined): ExplainResult {
  result.outcome = 'reject';
  result.status = err.status;
  result.code = err.code;
  if (stage !== undefined) result.decisions.push({ stage, decision: 'deny', code: err.code, detail: err.message, ms: 0 });
  return result;
}

function finish(result: ExplainResult, ctx: RequestContext, route: CompiledRoute | undefined): ExplainResult {
  const id = ctx.identity;
  if (id !== undefined) result.identity = { authenticator: id.authenticator, subject: id.subject, consumer: id.consumerId };
  if (route !== undefined && result.outcome === 'forward') result.upstream = upstreamName(route);
  return result;
}

function upstreamName(route: CompiledRoute): string {
  const u = route.upstream as unknown as { name?: string };
  return typeof u.name === 'string' ? u.name : '(chosen per request: version or split)';
}
