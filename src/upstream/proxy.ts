/**
 * One proxied exchange: the request streamed to a pooled upstream connection through undici's
 * low-level dispatch API, the response streamed back with backpressure. Neither body ever sits in
 * memory whole.
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
import type { Target } from './upstream.ts';

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

export class ProxyExchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private finished = false;
  private waitingDrain = false;
  private readonly ctx: RequestContext;
  private readonly res: AnyResponse;
  private readonly options: ProxyOptions;

  constructor(ctx: RequestContext, res: AnyResponse, options: ProxyOptions) {
    this.ctx = ctx;
    this.res = res;
    this.options = options;
  }

  start(target: Target, method: string): void {
    this.ctx.upstreamStartedAt = performance.now();
    this.res.once('close', this.onClientClose);
    target.pool.dispatch(
      {
        path: this.options.path,
        method: method as Dispatcher.HttpMethod,
        headers: this.options.headers,
        body: this.options.body as Readable | null,
        // Replays are issue-7 policy (retries); the pool itself must never re-send a request.
        idempotent: false,
      },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished) controller.abort(new Error('client went away'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return; // 1xx interim responses are not relayed
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
    const transform = ctx.route?.transform;
    if (transform !== undefined) {
      for (const name of transform.responseDrop) delete out[name];
      for (const [name, t] of transform.responseSet) {
        const v = t.render(ctx);
        if (v !== undefined) out[name] = v;
      }
    }
    const added = ctx.responseHeaders;
    if (added !== undefined) for (const name in added) out[name] = added[name];
    out['x-request-id'] = ctx.requestId;
    if (this.options.hsts && out['strict-transport-security'] === undefined) {
      out['strict-transport-security'] = this.options.hsts;
    }
    if (this.options.via) out.via = out.via ? `${String(out.via)}, 1.1 portcullis` : '1.1 portcullis';
    const res = this.res;
    if (res.destroyed) return;
    try {
      (res as ServerResponse).writeHead(statusCode, out);
    } catch (err) {
      // A header the client protocol cannot carry (e.g. an invalid value from the backend).
      this.fail(new GatewayError('PCL_UPSTREAM_BAD_RESPONSE', `response head rejected: ${(err as Error).message}`));
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.ctx.bytesOut += chunk.length;
    if (!(this.res as ServerResponse).write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      controller.pause();
      this.res.once('drain', this.onDrain);
    }
  }

  onResponseEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.res.end();
    this.options.onDone(this.ctx);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.finished) return;
    this.fail(this.classify(err));
  }

  private classify(err: Error): GatewayError {
    if (isGatewayError(err)) return err;
    const code = (err as { code?: string }).code ?? '';
    if (TIMEOUT_CODES.has(code)) return new GatewayError('PCL_UPSTREAM_TIMEOUT', `${code}: ${err.message}`, { cause: err });
    if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') {
      return new GatewayError('PCL_UPSTREAM_BAD_RESPONSE', `${code}: ${err.message}`, { cause: err });
    }
    return new GatewayError('PCL_UPSTREAM_UNREACHABLE', `${code || err.name}: ${err.message}`, { cause: err });
  }

  private fail(err: GatewayError): void {
    if (this.finished) return;
    this.finished = true;
    if (this.ctx.upstreamMs < 0 && this.ctx.upstreamStartedAt > 0) {
      this.ctx.upstreamMs = performance.now() - this.ctx.upstreamStartedAt;
    }
    this.controller?.abort(err);
    // After a body error the request may be half-read: close an HTTP/1 connection.
    sendError(this.res, err, { requestId: this.ctx.requestId, hsts: this.options.hsts, close: true }, this.ctx);
    this.options.onDone(this.ctx);
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.controller?.resume();
  };

  private readonly onClientClose = (): void => {
    if (this.finished) return;
    this.finished = true;
    this.ctx.errorCode = 'CLIENT_CLOSED';
    this.controller?.abort(new Error('client closed the connection'));
    if (!this.res.writableFinished) destroyResponse(this.res);
    this.options.onDone(this.ctx);
  };
}
