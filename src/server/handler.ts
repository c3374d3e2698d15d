/**
 * The request path: protocol guard → client identity and request id → route match → the route's
 * stages → upstream pick → proxy. Cheap rejections first; nothing reads the body before a stage
 * needs it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2constants, Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { CompiledRoute, Gateway, VersionSelector } from '../config/gateway.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { RequestContext } from '../pipeline/context.ts';
import { runStages } from '../pipeline/stage.ts';
import { parseTarget } from '../routing/path.ts';
import { ProxyExchange, type AnyRequest } from '../upstream/proxy.ts';
import { Upstream } from '../upstream/upstream.ts';
import { TrafficSplit } from '../upstream/split.ts';
import { normalizeIp, resolveClientIp } from './client-ip.ts';
import { connectionTokens, forwardedNode, isValidRequestId, REQUEST_SKIP } from './forwarding.ts';
import { destroyResponse, isClosing, sendError, toGatewayError, type AnyResponse } from './respond.ts';
import { BodyAbortedError, readBody } from './body.ts';
import { renderInto } from '../stages/transform/transform.ts';
import { rewritePath } from '../stages/transform/path.ts';
import { rewriteQuery } from '../stages/transform/query.ts';
import type { CompiledCors } from '../stages/cors/build.ts';
import { applyCors, findPreflight, preflightHeaders, sendPreflight } from '../stages/cors/cors.ts';
import { Tracing } from '../observability/tracing.ts';
import type { Logger } from '../observability/logger.ts';
import { checkUpgrade, hasToken, UpgradeResponse } from '../websocket/upgrade.ts';
import { openTunnel } from '../websocket/tunnel.ts';
import type { WebSocketPolicy } from '../websocket/policy.ts';
import type { AccessLog } from '../observability/logger.ts';

export interface Runtime {
  /** The gateway in effect; swapped as a whole on reload, read once per request. */
  gateway: Gateway;
  accessLog: AccessLog;
  logger: Logger;
  /** W3C trace context for every request; span export when tracing.otlpEndpoint is set. */
  tracing: Tracing;
  inflight: number;
  draining: boolean;
  /** The bound HTTPS port (differs from the config when it says 0), for redirects. */
  httpsPort: number;
}

/** Host header: reg-name or IPv4 or [IPv6], optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). */
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::[0-9]{0,5})?$/;

interface HeadInfo {
  host: string | undefined;
  hostCount: number;
  xff: string | undefined;
  forwarded: string | undefined;
  xfProto: string | undefined;
  xfHost: string | undefined;
  requestId: string | undefined;
  connection: string | undefined;
  contentLength: string | undefined;
  transferEncoding: boolean;
  userAgent: string | undefined;
  traceparent: string | undefined;
  tracestate: string | undefined;
  /** The client accepts trailers (`TE: trailers`). */
  teTrailers: boolean;
  /** Origin (CORS); several are joined, which then matches no allowed origin. */
  origin: string | undefined;
}

export function handleRequest(runtime: Runtime, req: AnyRequest, res: AnyResponse, secure: boolean, expectContinue: boolean): void {
  // A request pipelined behind one answered with `Connection: close`: dropped, never handled.
  if (req.httpVersionMajor !== 2 && isClosing(req.socket as Socket)) {
    req.socket.destroySoon?.();
    return;
  }
  const gateway = runtime.gateway;
  const settings = gateway.settings;
  const startedAt = performance.now();
  const hsts = secure && settings.https ? settings.https.hsts : null;
  // The request object's class, not the request line: an HTTP/1 request line may claim `HTTP/2.0`.
  const h2 = req instanceof Http2ServerRequest;
  const raw = req.rawHeaders;
  const peerIp = normalizeIp(req.socket?.remoteAddress ?? '');
  const trustedPeer = settings.trustedProxies.has(peerIp);

  // --- protocol guard (before anything else looks at the request) ---
  const info: HeadInfo = {
    host: undefined, hostCount: 0, xff: undefined, forwarded: undefined, xfProto: undefined, xfHost: undefined,
    requestId: undefined, connection: undefined, contentLength: undefined, transferEncoding: false, userAgent: undefined,
    teTrailers: false, origin: undefined, traceparent: undefined, tracestate: undefined,
  };
  let headerCount = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':authority') {
        info.host = value;
        info.hostCount++;
      }
      continue;
    }
    headerCount++;
    switch (name) {
      case 'host':
        if (h2 && info.host !== undefined) {
          if (value !== info.host) info.hostCount++;
        } else {
          info.host = value;
          info.hostCount++;
        }
        break;
      case 'x-forwarded-for': info.xff = info.xff === undefined ? value : `${info.xff}, ${value}`; break;
      case 'forwarded': info.forwarded = info.forwarded === undefined ? value : `${info.forwarded}, ${value}`; break;
      case 'x-forwarded-proto': info.xfProto ??= value; break;
      case 'x-forwarded-host': info.xfHost ??= value; break;
      case 'x-request-id': info.requestId ??= value; break;
      case 'connection': info.connection = info.connection === undefined ? value : `${info.connection}, ${value}`; break;
      case 'content-length': info.contentLength = value; break;
      case 'transfer-encoding': info.transferEncoding = true; break;
      case 'user-agent': info.userAgent = value; break;
      case 'traceparent': info.traceparent = info.traceparent === undefined ? value : ''; break; // twice: invalid, a new trace
      case 'tracestate': info.tracestate = info.tracestate === undefined ? value : `${info.tracestate},${value}`; break;
      case 'te': info.teTrailers = hasToken(value, 'trailers'); break;
      case 'origin': info.origin = info.origin === undefined ? value : `${info.origin}, ${value}`; break;
    }
  }
  const requestId = trustedPeer && info.requestId !== undefined && isValidRequestId(info.requestId) ? info.requestId : randomUUID();
  const options = { requestId, hsts, close: !h2, securityHeaders: settings.securityHeaders };
  const reject = (err: GatewayError): void => {
    sendError(res, err, options);
    const ctx = bareContext(req, requestId, startedAt, peerIp, secure);
    ctx.status = err.status;
    ctx.errorCode = err.code;
    ctx.errorReason = err.message;
    runtime.accessLog.write(ctx, performance.now(), info.userAgent);
  };

  if (!h2 && req.httpVersion !== '1.1' && req.httpVersion !== '1.0') {
    return reject(new GatewayError('PCL_REQUEST_BAD_VERSION', `HTTP/${req.httpVersion} request line`));
  }
  if (headerCount > settings.limits.maxHeaders) {
    return reject(new GatewayError('PCL_REQUEST_HEADERS_TOO_LARGE', `${headerCount} header fields (limit ${settings.limits.maxHeaders})`));
  }
  if (info.hostCount > 1) return reject(new GatewayError('PCL_REQUEST_DUPLICATE_HOST', 'more than one Host / :authority'));
  // RFC 9112 §3.2 / RFC 9113 §8.3.1 (Node's own check is off: it answers without a problem body).
  if (info.hostCount === 0 && (h2 || req.httpVersion === '1.1')) {
    return reject(new GatewayError('PCL_REQUEST_MISSING_HOST', 'no Host / :authority'));
  }
  if (!h2 && info.transferEncoding && req.httpVersion === '1.0') {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing cannot be trusted.
    return reject(new GatewayError('PCL_REQUEST_AMBIGUOUS_FRAMING', 'Transfer-Encoding on an HTTP/1.0 request'));
  }
  const url = req.url ?? '';
  if (url.length > settings.limits.maxUrlBytes) {
    return reject(new GatewayError('PCL_REQUEST_URI_TOO_LONG', `request target of ${url.length} bytes`));
  }
  const hostHeader = info.host ?? '';
  if (!HOST_RE.test(hostHeader)) return reject(new GatewayError('PCL_REQUEST_BAD_HOST', 'malformed Host'));
  let target;
  try {
    target = parseTarget(url);
  } catch (err) {
    return reject(toGatewayError(err));
  }

  const ctx = new RequestContext({
    requestId,
    startedAt,
    method: req.method ?? 'GET',
    host: hostname(hostHeader),
    path: target.path,
    query: target.query,
    clientIp: resolveClientIp(peerIp, info.xff, info.forwarded, settings.trustedProxies),
    peerIp,
    secure,
    httpVersion: h2 ? '2' : req.httpVersion,
    request: req,
  });
  runtime.inflight++;
  gateway.inflight++;
  ctx.trace = runtime.tracing.begin(info.traceparent, info.tracestate, trustedPeer);
  let done = false;
  const onDone = (c: RequestContext): void => {
    if (done) return;
    done = true;
    runtime.inflight--;
    gateway.inflight--;
    c.finish();
    runtime.accessLog.write(c, performance.now(), info.userAgent);
  };
  const fail = (err: unknown): void => {
    const ge = toGatewayError(err);
    if (ge.code === 'PCL_INTERNAL') runtime.logger.error({ err, requestId }, 'internal error');
    // An unread request body makes the HTTP/1 connection unusable for the next request; on HTTP/2
    // the rest of it is refused without error once the answer is out (RFC 9113 §8.1).
    const unread = hasBody(req, info) && !req.complete;
    sendError(res, ge, { requestId, hsts, close: !h2 && unread, securityHeaders: settings.securityHeaders }, ctx);
    if (h2 && unread) resetStream(res as Http2ServerResponse);
    onDone(ctx);
  };

  try {
    // --- route ---
    const found = gateway.router.match(ctx.host, ctx.path, ctx.method);
    // A CORS preflight belongs to the route of the method it asks for (src/stages/cors/cors.ts).
    const preflight = ctx.method === 'OPTIONS' && info.origin !== undefined ? findPreflight(gateway.router, ctx, raw) : undefined;
    // IP / country filter first (synchronous): the route's, or the defaults' when none matches (403, not 404).
    runStages(preflight !== undefined ? preflight.route.ipFilter : found.kind === 'match' ? found.match.route.ipFilter : gateway.ipFilter, ctx);
    if (preflight !== undefined) {
      // Answered here, before authentication (browsers send no credentials on it), never forwarded.
      ctx.route = preflight.route;
      ctx.params = preflight.params;
      const cors = preflight.route.cors as CompiledCors;
      sendPreflight(res, preflightHeaders(cors, info.origin as string, preflight), {
        requestId, hsts, securityHeaders: preflight.route.securityHeaders, close: !h2 && hasBody(req, info),
      });
      ctx.status = 204;
      onDone(ctx);
      return;
    }
    if (found.kind === 'none') throw new GatewayError('PCL_ROUTE_NOT_FOUND', `no route for ${ctx.method} ${ctx.host}${ctx.path}`);
    if (found.kind === 'method') {
      throw new GatewayError('PCL_ROUTE_METHOD_NOT_ALLOWED', `${ctx.method} not allowed`, { headers: { allow: found.allow.join(', ') } });
    }
    const route = found.match.route;
    ctx.route = route;
    ctx.params = found.match.params;
    ctx.prefixLength = found.match.prefixLength;
    if (route.cors !== undefined) applyCors(route.cors, info.origin, ctx);
    // A WebSocket handshake (src/websocket/upgrade.ts): only on a route that opted in, and well-formed.
    if (res instanceof UpgradeResponse) checkUpgrade(route, req as IncomingMessage);

    // --- declared body size: 413 before a byte of the body is read (and before 100 Continue) ---
    if (info.contentLength !== undefined && Number(info.contentLength) > route.maxBodyBytes) {
      throw new GatewayError('PCL_REQUEST_BODY_TOO_LARGE', `Content-Length ${info.contentLength} > ${route.maxBodyBytes}`);
    }

    if (route.needsBody) {
      // A route with a body stage runs in two parts: the stages before it, then (the body read) the rest.
      const staged = runStages(route.stages, ctx, 0, route.bodyStage);
      if (staged instanceof Promise) {
        staged.then(() => bufferBody(runtime, gateway, route, ctx, req, res, info, expectContinue, hsts, onDone, fail)).catch(fail);
      } else {
        bufferBody(runtime, gateway, route, ctx, req, res, info, expectContinue, hsts, onDone, fail);
      }
      return;
    }
    const staged = runStages(route.stages, ctx);
    if (staged instanceof Promise) {
      staged.then(() => forward(runtime, gateway, route, ctx, req, res, info, expectContinue, hsts, onDone)).catch(fail);
    } else {
      forward(runtime, gateway, route, ctx, req, res, info, expectContinue, hsts, onDone);
    }
  } catch (err) {
    fail(err);
  }
}

function forward(
  runtime: Runtime,
  gateway: Gateway,
  route: CompiledRoute,
  ctx: RequestContext,
  req: AnyRequest,
  res: AnyResponse,
  info: HeadInfo,
  expectContinue: boolean,
  hsts: string | null,
  onDone: (ctx: RequestContext) => void,
): void {
  const settings = gateway.settings;
  const upstream = route.upstream instanceof Upstream
    ? route.upstream
    : route.upstream instanceof TrafficSplit ? route.upstream.choose(ctx) : selectVersion(route.upstream, ctx, req);
  ctx.upstream = upstream;

  let path = ctx.path;
  if (route.stripPrefix && ctx.prefixLength > 0) path = path.slice(ctx.prefixLength) || '/';
  const transform = route.transform;
  if (transform?.path !== undefined) {
    const rewritten = rewritePath(transform.path, path, ctx);
    if (rewritten === undefined) {
      // A template variable without a value, or a result with dot segments (src/stages/transform/path.ts).
      const err = new GatewayError('PCL_REQUEST_BAD_PATH', `path rewrite of ${ctx.path.slice(0, 128)} refused`);
      sendError(res, err, { requestId: ctx.requestId, hsts, close: true, securityHeaders: settings.securityHeaders }, ctx);
      onDone(ctx);
      return;
    }
    path = rewritten;
  }
  const query = transform?.query !== undefined ? rewriteQuery(transform.query, ctx.query, ctx) : ctx.query;
  if (query !== '') path += '?' + query;

  // --- request headers for the upstream ---
  const raw = req.rawHeaders;
  const headers: string[] = [];
  const drop = transform?.requestDrop;
  const rename = transform?.requestRename;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) === 58) continue;
    const lower = name.toLowerCase();
    if (REQUEST_SKIP.has(lower) || (drop !== undefined && drop.has(lower))) continue;
    headers.push((rename !== undefined ? rename.get(lower) : undefined) ?? name, raw[i + 1] as string);
  }
  if (info.connection !== undefined) {
    const named = connectionTokens(info.connection);
    if (named.length > 0) {
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (named.includes((headers[i] as string).toLowerCase())) headers.splice(i, 2);
      }
    }
  }
  const trusted = settings.trustedProxies.has(ctx.peerIp);
  const proto = ctx.secure ? 'https' : 'http';
  const hostHeader = info.host ?? '';
  headers.push(
    'x-forwarded-for', trusted && info.xff !== undefined ? `${info.xff}, ${ctx.peerIp}` : ctx.peerIp,
    'x-forwarded-proto', trusted && info.xfProto !== undefined ? info.xfProto : proto,
    'x-forwarded-host', trusted && info.xfHost !== undefined ? info.xfHost : hostHeader,
    'forwarded', forwardedValue(trusted ? info.forwarded : undefined, ctx.peerIp, hostHeader, proto),
    'x-real-ip', ctx.clientIp,
    'x-request-id', ctx.requestId,
  );
  const tc = ctx.trace;
  if (tc !== undefined) {
    headers.push('traceparent', Tracing.header(tc));
    if (tc.tracestate !== undefined) headers.push('tracestate', tc.tracestate);
  }
  if (settings.via) headers.push('via', `${ctx.httpVersion === '2' ? '2' : ctx.httpVersion} portcullis`);
  if (transform !== undefined) {
    if (transform.requestSet.length > 0) renderInto(headers, transform.requestSet, ctx);
    if (transform.requestAppend.length > 0) renderInto(headers, transform.requestAppend, ctx);
    // undici sends this Host (and :authority to an HTTP/2 backend) instead of the target's.
    if (transform.host !== undefined) headers.push('host', transform.host);
  }

  // --- body: the buffered one as received, or streamed (counted only when its length was not declared) ---
  let body: Readable | AsyncIterable<Buffer> | Buffer | null = null;
  if (ctx.body !== undefined) {
    // undici frames a Buffer with its own Content-Length (equal to a declared one; Transfer-Encoding is never forwarded).
    body = ctx.body;
  } else if (hasBody(req, info)) {
    body = info.contentLength !== undefined ? (req as Readable) : limitBody(req as Readable, route.maxBodyBytes);
  }
  if (expectContinue) (res as ServerResponse).writeContinue();
  // A WebSocket handshake that passed every stage: the tunnel takes the socket (src/websocket/tunnel.ts).
  if (res instanceof UpgradeResponse) {
    openTunnel(ctx, res, upstream, { path, headers, policy: route.websocket as WebSocketPolicy, hsts, onDone });
    return;
  }
  // TE is hop-by-hop, but the gateway relays response trailers, so it may ask an HTTP/2 backend for
  // them itself when the client did (gRPC servers expect `te: trailers`); HTTP/1.1 backends never get TE.
  if (info.teTrailers && upstream.protocol !== 'h1') headers.push('te', 'trailers');

  // Shadow traffic: a copy to the route's mirror (never awaited; its outcome never reaches this exchange).
  if (route.mirror !== undefined) route.mirror.send(ctx, ctx.method, path, headers, body);
  new ProxyExchange(ctx, res, { path, headers, body, hsts, via: settings.via, onDone }).start(upstream, ctx.method);
}

/**
 * A route with a body stage, once the stages before it have passed: the body is read whole (within
 * the route's limit and the request timeout) into `ctx.body`, then the remaining stages run and the
 * exact bytes are forwarded. `100 Continue` goes out only now, when the body is about to be read.
 */
function bufferBody(
  runtime: Runtime,
  gateway: Gateway,
  route: CompiledRoute,
  ctx: RequestContext,
  req: AnyRequest,
  res: AnyResponse,
  info: HeadInfo,
  expectContinue: boolean,
  hsts: string | null,
  onDone: (ctx: RequestContext) => void,
  fail: (err: unknown) => void,
): void {
  const proceed = (): void => {
    try {
      const staged = runStages(route.stages, ctx, route.bodyStage);
      if (staged instanceof Promise) staged.then(() => forward(runtime, gateway, route, ctx, req, res, info, false, hsts, onDone)).catch(fail);
      else forward(runtime, gateway, route, ctx, req, res, info, false, hsts, onDone);
    } catch (err) {
      fail(err);
    }
  };
  if (!hasBody(req, info)) {
    proceed();
    return;
  }
  if (expectContinue) (res as ServerResponse).writeContinue();
  const requestTimeout = gateway.settings.limits.requestTimeout;
  const left = requestTimeout > 0 ? requestTimeout - (performance.now() - ctx.startedAt) : Infinity;
  readBody(req, route.maxBodyBytes, left).then(
    (body) => {
      ctx.body = body;
      proceed();
    },
    (err: unknown) => {
      if (err instanceof BodyAbortedError) {
        ctx.errorCode = 'CLIENT_CLOSED';
        destroyResponse(res);
        onDone(ctx);
        return;
      }
      fail(err);
    },
  );
}

/** RST_STREAM(NO_ERROR) after the answer: Node sends it once the response's frames are flushed. */
function resetStream(res: Http2ServerResponse): void {
  const stream = res.stream;
  if (stream !== undefined && !stream.destroyed && !stream.closed) stream.close(http2constants.NGHTTP2_NO_ERROR);
}

function hasBody(req: AnyRequest, info: HeadInfo): boolean {
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  return info.transferEncoding || (info.contentLength !== undefined && info.contentLength !== '0');
}

async function* limitBody(stream: Readable, max: number): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > max) throw new GatewayError('PCL_REQUEST_BODY_TOO_LARGE', `streamed body over ${max} bytes`);
    yield chunk as Buffer;
  }
}

function selectVersion(sel: VersionSelector, ctx: RequestContext, req: AnyRequest): Upstream {
  let version: string | undefined;
  if (sel.header !== undefined) {
    const v = (req as IncomingMessage).headers[sel.header];
    version = Array.isArray(v) ? v[0] : v;
  } else if (sel.query !== undefined) {
    version = queryParam(ctx.query, sel.query);
  } else if (sel.paramIndex >= 0) {
    version = ctx.params[sel.paramIndex];
  }
  if (version === undefined || version === '') {
    if (sel.fallback) return sel.fallback;
    throw new GatewayError('PCL_ROUTE_UNKNOWN_VERSION', 'no version in the request and no default', { detail: 'This route needs an API version.' });
  }
  const u = sel.map.get(version);
  if (!u) throw new GatewayError('PCL_ROUTE_UNKNOWN_VERSION', `version "${version.slice(0, 64)}" is not mapped`);
  return u;
}

function queryParam(query: string, name: string): string | undefined {
  if (query === '') return undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (key === name) {
      try {
        return decodeURIComponent((eq === -1 ? '' : pair.slice(eq + 1)).replace(/\+/g, ' '));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function forwardedValue(incoming: string | undefined, peer: string, host: string, proto: string): string {
  const element = `for=${forwardedNode(peer)};host="${host.replace(/["\\]/g, '')}";proto=${proto}`;
  return incoming !== undefined ? `${incoming}, ${element}` : element;
}

/** Lower-case host name without port; `[::1]:8443` → `[::1]`. */
function hostname(hostHeader: string): string {
  let end = hostHeader.length;
  if (hostHeader.charCodeAt(0) === 91 /* [ */) end = hostHeader.indexOf(']') + 1;
  else {
    const colon = hostHeader.lastIndexOf(':');
    if (colon !== -1) end = colon;
  }
  const h = hostHeader.slice(0, end);
  return h.endsWith('.') ? h.slice(0, -1).toLowerCase() : h.toLowerCase();
}

function bareContext(req: AnyRequest, requestId: string, startedAt: number, peerIp: string, secure: boolean): RequestContext {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new RequestContext({
    requestId,
    startedAt,
    method: req.method ?? '',
    host: '',
    path: (q === -1 ? url : url.slice(0, q)).slice(0, 256),
    query: '',
    clientIp: peerIp,
    peerIp,
    secure,
    httpVersion: req.httpVersionMajor === 2 ? '2' : req.httpVersion,
    request: req,
  });
}
