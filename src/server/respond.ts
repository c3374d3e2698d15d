/** Writing rejections: RFC 9457 problem+json with the stable code and the request id, nothing else. */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Http2ServerResponse } from 'node:http2';
import { ERROR_CODES } from '../errors/codes.ts';
import { GatewayError, isGatewayError } from '../errors/gateway-error.ts';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../errors/problem.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { SecurityHeaderList } from '../stages/transform/security-headers.ts';

export type AnyResponse = ServerResponse | Http2ServerResponse;

/**
 * HTTP/1 connections whose last answer said `Connection: close` (a rejection that leaves the framing
 * or the connection untrustworthy). Node's parser may already have read a request pipelined behind the
 * rejected one: it must never be handled (`isClosing`), only dropped with the connection.
 */
const closing = new WeakSet<Socket>();

export function isClosing(socket: Socket | null | undefined): boolean {
  return socket != null && closing.has(socket);
}

export function toGatewayError(err: unknown): GatewayError {
  if (isGatewayError(err)) return err;
  return new GatewayError('PCL_INTERNAL', err instanceof Error ? `${err.name}: ${err.message}` : String(err), { cause: err });
}

export interface ErrorResponseOptions {
  requestId: string;
  hsts: string | null;
  /** Close an HTTP/1 connection after the answer (unread request body, broken framing). */
  close?: boolean;
  /** defaults.securityHeaders, for answers with no matched route (a matched route's own list wins). */
  securityHeaders?: SecurityHeaderList;
}

/** Sends the problem response unless a response has already started; then the stream is reset. */
export function sendError(res: AnyResponse, err: GatewayError, options: ErrorResponseOptions, ctx?: RequestContext): void {
  if (ctx) {
    ctx.status = err.status;
    ctx.errorCode = err.code;
    ctx.errorReason = err.message;
  }
  if (res.headersSent || res.destroyed) {
    destroyResponse(res);
    return;
  }
  const body = problemBody(err.code, options.requestId, err.detail, err.errors);
  const headers: Record<string, string | number> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-request-id': options.requestId,
  };
  if (options.hsts) headers['strict-transport-security'] = options.hsts;
  const security = ctx?.route?.securityHeaders ?? options.securityHeaders;
  if (security !== undefined) for (const [name, value] of security) headers[name] = value;
  if (ctx?.responseHeaders) Object.assign(headers, ctx.responseHeaders);
  if (err.headers) Object.assign(headers, err.headers);
  const isH1 = (res as ServerResponse).shouldKeepAlive !== undefined;
  if (isH1 && options.close) {
    headers.connection = 'close';
    closing.add((res as ServerResponse).socket as Socket);
  }
  (res as ServerResponse).writeHead(ERROR_CODES[err.code].status, headers);
  res.end(body);
}

/** Aborts a response mid-flight: the client must not mistake a truncated body for a complete one. */
export function destroyResponse(res: AnyResponse): void {
  const h2 = (res as Http2ServerResponse).stream;
  if (h2) {
    if (!h2.destroyed) h2.close(0x2 /* INTERNAL_ERROR */);
    return;
  }
  (res as ServerResponse).socket?.destroy();
}
