/**
 * One proxied exchange: the request streamed to a pooled upstream connection through undici's
 * low-level dispatch API, the response streamed back with backpressure. Neither body ever sits in
 * memory whole.
 *
 * The exchange picks the target (balancing over healthy targets), asks the circuit breaker, and when
 * a try fails decides whether another one is safe (src/upstream/retry.ts): each try is its own
 * dispatch handler (`Attempt`), so a late callback of an abandoned try can never touch the response.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { GatewayError, isGatewayError } from '../errors/gateway-error.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { connectionTokens, RESPONSE_SKIP } from '../server/forwarding.ts';
import { destroyResponse, sendError, type AnyResponse } from '../server/respond.ts';
import { applyResponseHeaders } from '../stages/transform/response.ts';
import { safeToRetry, type TryFailure } from './retry.ts';
import type { Target, Upstream } from './upstream.ts';

export type AnyRequest = IncomingMessage | Http2ServerRequest;

export interface ProxyOptions {
  path: string;
  headers: string[];
  /** Request body: the request stream itself, a byte-counting wrapper, the buffered body, or null. */
  body: Readable | AsyncIterable<Buffer> | Buffer | null;
  hsts: string | null;
  via: boolean;
  onDone: (ctx: RequestContext) => void;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** Statuses after which an idempotent request may go to another target (the backend says it did not act). */
const RETRY_STATUSES = new Set([502, 503, 504]);
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
]);

/** One try: forwards undici's callbacks to the exchange, tagged with itself. */
class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: ProxyExchange;
  readonly target: Target;
  controller: Dispatcher.DispatchController | null = null;
  /** undici began writing the request (onRequestStart): from here on the backend may have seen it. */
  started = false;
  settled = false;
  released = false;

  constructor(exchange: ProxyExchange, target: Target) {
    this.exchange = exchange;
    this.target = target;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.started = true;
    this.exchange.tryStarted(this, controller);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.exchange.head(this, controller, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.exchange.data(this, controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.exchange.end(this, responseTrailers(controller, trailers));
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.exchange.tryFailed(this, err);
  }
}

export class ProxyExchange {
  private current: Attempt | null = null;
  private finished = false;
  private headWritten = false;
  private waitingDrain = false;
  private tries = 0;
  private tried: Set<Target> | undefined = undefined;
  private deadline: NodeJS.Timeout | undefined = undefined;
  private deadlinePassed = false;
  private upstream: Upstream | undefined = undefined;
  private method = 'GET';
  private readonly ctx: RequestContext;
  private readonly res: AnyResponse;
  private readonly options: ProxyOptions;

  constructor(ctx: RequestContext, res: AnyResponse, options: ProxyOptions) {
    this.ctx = ctx;
    this.res = res;
    this.options = options;
  }

  /** Picks a target of `upstream` (health, balancing, breaker) and sends the request, retrying when safe. */
  start(upstream: Upstream, method: string): void {
    this.upstream = upstream;
    this.method = method;
    this.ctx.upstream = upstream;
    this.ctx.upstreamStartedAt = performance.now();
    this.res.once('close', this.onClientClose);
    upstream.budget?.request();
    const total = upstream.totalTimeout;
    if (total > 0) {
      this.deadline = setTimeout(this.onDeadline, total);
      this.deadline.unref();
    }
    this.attempt(null);
  }

  private attempt(previous: GatewayError | null): void {
    const upstream = this.upstream as Upstream;
    const ctx = this.ctx;
    const breaker = upstream.breaker;
    if (breaker !== undefined && !breaker.allow()) {
      if (previous !== null) return this.fail(previous);
      const wait = Math.max(1, Math.ceil(breaker.retryAfter() / 1000));
      return this.fail(new GatewayError('PCL_UPSTREAM_CIRCUIT_OPEN', `circuit of upstream ${upstream.name} is ${breaker.state}`, {
        headers: { 'retry-after': String(wait) },
      }));
    }
    const target = upstream.pick(ctx, this.tried);
    if (target === undefined) {
      breaker?.release();
      return this.fail(previous ?? new GatewayError('PCL_UPSTREAM_UNAVAILABLE', `no healthy target in upstream ${upstream.name}`));
    }
    this.tries++;
    if (upstream.retries > 0) (this.tried ??= new Set()).add(target);
    ctx.target = target;
    target.active++;
    // `sign:` (src/upstream/sign.ts): signed per try, the @authority being this try's target.
    let headers = this.options.headers;
    if (upstream.signer !== undefined) {
      try {
        headers = upstream.signer.sign(this.method, target.origin, this.options.path, headers, this.options.body);
      } catch (err) {
        target.active--;
        breaker?.release();
        return this.fail(new GatewayError('PCL_INTERNAL', `upstream ${upstream.name}: ${(err as Error).message}`));
      }
    }
    const attempt = new Attempt(this, target);
    this.current = attempt;
    target.dispatcher.dispatch(
      {
        path: this.options.path,
        method: this.method as Dispatcher.HttpMethod,
        headers,
        body: this.options.body as Readable | null,
        // Replays are this exchange's policy (retries); the pool itself must never re-send a request.
        idempotent: false,
      },
      attempt,
    );
  }

  tryStarted(attempt: Attempt, controller: Dispatcher.DispatchController): void {
    if (attempt !== this.current || this.finished) controller.abort(new Error('exchange over'));
  }

  head(attempt: Attempt, controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx interim responses are not relayed
    if (attempt !== this.current || this.finished) return;
    if (RETRY_STATUSES.has(statusCode) && this.mayRetry('sent')) {
      this.settle(attempt, false);
      this.current = null;
      this.ctx.note(`retry after ${statusCode} from ${attempt.target.origin}`);
      controller.abort(new Error('retrying on another try'));
      this.attempt(new GatewayError('PCL_UPSTREAM_BAD_RESPONSE', `status ${statusCode} from every try`));
      return;
    }
    this.settle(attempt, statusCode < 500);
    this.clearDeadline();
    const ctx = this.ctx;
    ctx.status = statusCode;
    ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
    const out: OutgoingHttpHeaders = {};
    let extra: string[] | undefined;
    for (const name in headers) {
      if (RESPONSE_SKIP.has(name)) {
        if (name === 'connection') extra = connectionTokens(String(headers[name]));
        continue;
      }
      out[name] = headers[name];
    }
    if (extra) for (const t of extra) delete out[t];
    // transform.response, CORS, stage headers, security headers (src/stages/transform/response.ts).
    applyResponseHeaders(out, ctx);
    out['x-request-id'] = ctx.requestId;
    if (this.options.hsts && out['strict-transport-security'] === undefined) {
      out['strict-transport-security'] = this.options.hsts;
    }
    if (this.options.via) out.via = out.via ? `${String(out.via)}, 1.1 portcullis` : '1.1 portcullis';
    const res = this.res;
    if (res.destroyed) return;
    this.headWritten = true;
    try {
      (res as ServerResponse).writeHead(statusCode, out);
    } catch (err) {
      // A header the client protocol cannot carry (e.g. an invalid value from the backend).
      this.fail(new GatewayError('PCL_UPSTREAM_BAD_RESPONSE', `response head rejected: ${(err as Error).message}`));
    }
  }

  data(attempt: Attempt, controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (attempt !== this.current || this.finished) return;
    this.ctx.bytesOut += chunk.length;
    if (!(this.res as ServerResponse).write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      controller.pause();
      this.res.once('drain', this.onDrain);
    }
  }

  end(attempt: Attempt, trailers: OutgoingHttpHeaders | undefined): void {
    this.release(attempt);
    if (attempt !== this.current || this.finished) return;
    this.finished = true;
    this.clearDeadline();
    // gRPC's grpc-status / grpc-message: HTTP/2 clients get a trailing HEADERS frame, HTTP/1.1 ones a chunked trailer.
    if (trailers !== undefined) {
      try {
        (this.res as ServerResponse).addTrailers(trailers);
      } catch {
        // A trailer field the client protocol cannot carry is dropped; the body is complete.
      }
    }
    this.res.end();
    this.options.onDone(this.ctx);
  }

  tryFailed(attempt: Attempt, err: Error): void {
    if (attempt !== this.current || this.finished) {
      this.release(attempt);
      return;
    }
    const ge = classify(err);
    this.settle(attempt, false);
    this.release(attempt);
    const failure: TryFailure = attempt.started ? 'sent' : 'not-sent';
    if (!this.headWritten && this.mayRetry(failure)) {
      this.current = null;
      this.ctx.note(`retry after ${ge.code} (${failure}) from ${attempt.target.origin}`);
      this.attempt(ge);
      return;
    }
    this.fail(ge);
  }

  /** Tries left, deadline not passed, safe for this request, and the budget has a retry for it. */
  private mayRetry(failure: TryFailure): boolean {
    const upstream = this.upstream as Upstream;
    if (this.tries > upstream.retries || this.deadlinePassed || this.headWritten) return false;
    const body = this.options.body;
    const headers = this.ctx.request.headers;
    const safe = safeToRetry({
      failure,
      method: this.method,
      nonIdempotentOptIn: this.ctx.route?.retryNonIdempotent === true,
      hasIdempotencyKey: headers['idempotency-key'] !== undefined,
      replayableBody: body === null || Buffer.isBuffer(body),
      // Only asked for `not-sent`: undici never began writing, so the stream was not read.
      bodyUntouched: true,
      responseStarted: this.headWritten,
    });
    if (!safe) return false;
    const granted = upstream.budget?.tryRetry() ?? false;
    if (granted) upstream.stats.retries++;
    else upstream.stats.retriesDenied++;
    return granted;
  }

  /** The try's outcome for passive health and the breaker (once). */
  private settle(attempt: Attempt, ok: boolean): void {
    if (attempt.settled) return;
    attempt.settled = true;
    const upstream = this.upstream as Upstream;
    upstream.report(attempt.target, ok);
    if (ok) upstream.breaker?.success();
    else upstream.breaker?.failure();
  }

  /** The try no longer occupies its target (least-connections); an unsettled half-open probe is given back. */
  private release(attempt: Attempt): void {
    if (attempt.released) return;
    attempt.released = true;
    attempt.target.active--;
    if (!attempt.settled) {
      attempt.settled = true;
      this.upstream?.breaker?.release();
    }
  }

  private clearDeadline(): void {
    if (this.deadline !== undefined) {
      clearTimeout(this.deadline);
      this.deadline = undefined;
    }
  }

  private fail(err: GatewayError): void {
    if (this.finished) return;
    this.finished = true;
    this.clearDeadline();
    if (this.ctx.upstreamMs < 0 && this.ctx.upstreamStartedAt > 0) {
      this.ctx.upstreamMs = performance.now() - this.ctx.upstreamStartedAt;
    }
    this.current?.controller?.abort(err);
    // After a body error the request may be half-read: close an HTTP/1 connection.
    sendError(this.res, err, { requestId: this.ctx.requestId, hsts: this.options.hsts, close: true }, this.ctx);
    this.options.onDone(this.ctx);
  }

  private readonly onDeadline = (): void => {
    this.deadline = undefined;
    this.deadlinePassed = true;
    if (this.finished || this.headWritten) return;
    const attempt = this.current;
    if (attempt !== null) this.settle(attempt, false);
    this.fail(new GatewayError('PCL_UPSTREAM_TIMEOUT', `upstream deadline of ${this.upstream?.totalTimeout} ms passed after ${this.tries} tries`));
  };

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.current?.controller?.resume();
  };

  private readonly onClientClose = (): void => {
    if (this.finished) return;
    this.finished = true;
    this.clearDeadline();
    this.ctx.errorCode = 'CLIENT_CLOSED';
    this.current?.controller?.abort(new Error('client closed the connection'));
    if (!this.res.writableFinished) destroyResponse(this.res);
    this.options.onDone(this.ctx);
  };
}

/**
 * The response trailers worth relaying (hop-by-hop and pseudo fields dropped), or undefined. undici
 * parses HTTP/1.1 trailers; from an HTTP/2 backend they reach `controller.rawTrailers` as the
 * object node:http2 gave it, which its parser does not read.
 */
function responseTrailers(controller: Dispatcher.DispatchController, parsed: IncomingHttpHeaders): OutgoingHttpHeaders | undefined {
  let source: Record<string, unknown> = parsed;
  const raw = (controller as { rawTrailers?: unknown }).rawTrailers;
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) source = raw as Record<string, unknown>;
  let out: OutgoingHttpHeaders | undefined;
  for (const name in source) {
    const v = source[name];
    if (v === undefined || name.charCodeAt(0) === 58 || RESPONSE_SKIP.has(name) || name === 'content-length') continue;
    (out ??= {})[name] = v as string | string[];
  }
  return out;
}

/** An undici error as the gateway's upstream error (also used by the WebSocket tunnel). */
export function classify(err: Error): GatewayError {
  if (isGatewayError(err)) return err;
  const code = (err as { code?: string }).code ?? '';
  if (TIMEOUT_CODES.has(code)) return new GatewayError('PCL_UPSTREAM_TIMEOUT', `${code}: ${err.message}`, { cause: err });
  // undici's HTTPParserError (llhttp: bare LF, bad chunk size, invalid status or header) often has no code.
  if (code.startsWith('HPE_') || err.name === 'HTTPParserError' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') {
    return new GatewayError('PCL_UPSTREAM_BAD_RESPONSE', `${code}: ${err.message}`, { cause: err });
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
    return new GatewayError('PCL_UPSTREAM_TLS_FAILED', `${code}: ${err.message}`, { cause: err });
  }
  return new GatewayError('PCL_UPSTREAM_UNREACHABLE', `${code || err.name}: ${err.message}`, { cause: err });
}
