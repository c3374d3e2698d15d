/**
 * The client side of a WebSocket handshake (RFC 6455 §4.2). Node hands an upgrade request over with
 * its raw socket and no response object; `UpgradeResponse` stands in for one so that the handshake
 * runs through the same request path as any request (protocol guard, route match, ip filter, the
 * route's stages, upstream pick, forwarding headers) and a rejection goes out as the usual
 * problem+json, written raw on the socket, which is then closed.
 */
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { CompiledRoute } from '../config/gateway.ts';
import { GatewayError } from '../errors/gateway-error.ts';

/** Only `Upgrade: websocket` is taken over by the gateway; any other upgrade (h2c) is ignored and the request served as HTTP/1.1 (RFC 9110 §7.8). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && hasToken(upgrade, 'websocket');
}

/** Case-insensitive token in a comma-separated header value. */
export function hasToken(value: string, token: string): boolean {
  const v = value.toLowerCase();
  if (v === token) return true;
  for (const part of v.split(',')) if (part.trim() === token) return true;
  return false;
}

/**
 * A handshake the matched route may take: the route opted in, and the request is a valid opening
 * handshake (GET, version 13, a key, no body). Runs before the route's stages: a handshake that can
 * never succeed costs no authentication.
 */
export function checkUpgrade(route: CompiledRoute, req: IncomingMessage): void {
  if (route.websocket === undefined) {
    throw new GatewayError('PCL_WEBSOCKET_NOT_ALLOWED', `WebSocket upgrade on route ${route.name}, which does not accept them`);
  }
  const h = req.headers;
  // Cross-site WebSocket hijacking: a page elsewhere opening a socket with the user's cookies.
  const origins = route.websocket.allowedOrigins;
  if (origins !== undefined && h.origin !== undefined && !origins.has(h.origin.toLowerCase())) {
    throw new GatewayError('PCL_WEBSOCKET_ORIGIN_DENIED', `Origin ${h.origin.slice(0, 128)} is not allowed on route ${route.name}`);
  }
  if (req.method !== 'GET' || req.httpVersion !== '1.1') {
    throw new GatewayError('PCL_WEBSOCKET_BAD_HANDSHAKE', `${req.method} HTTP/${req.httpVersion} handshake (needs GET over HTTP/1.1)`);
  }
  if (h['sec-websocket-version'] !== '13') {
    throw new GatewayError('PCL_WEBSOCKET_BAD_HANDSHAKE', 'Sec-WebSocket-Version is not 13', { headers: { 'sec-websocket-version': '13' } });
  }
  const key = h['sec-websocket-key'];
  if (typeof key !== 'string' || key.length !== 24) throw new GatewayError('PCL_WEBSOCKET_BAD_HANDSHAKE', 'missing or malformed Sec-WebSocket-Key');
  if (h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) {
    throw new GatewayError('PCL_WEBSOCKET_BAD_HANDSHAKE', 'handshake with a body');
  }
}

/**
 * The part of a ServerResponse that the request path uses to reject (`sendError`): the answer is
 * written raw on the socket, then the connection is closed. The tunnel takes the socket over when
 * the handshake passes.
 */
export class UpgradeResponse {
  readonly socket: net.Socket;
  /** Bytes the client sent after the handshake (already frames), to go to the backend first. */
  readonly head: Buffer;
  /** Marks the response as HTTP/1 for `sendError` (it adds `connection: close`). */
  readonly shouldKeepAlive = false;
  headersSent = false;
  private pending = '';

  constructor(socket: net.Socket, head: Buffer) {
    this.socket = socket;
    this.head = head;
    // Node removes its own error listener from an upgraded socket: a reset must not become an uncaught error.
    socket.on('error', onSocketError);
    // Bytes that arrive while the stages run stay in the socket until the tunnel reads them.
    socket.pause();
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  writeHead(status: number, headers: Record<string, string | number | readonly string[]>): this {
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const one of v) text += `${name}: ${one}\r\n`;
      else text += `${name}: ${String(v)}\r\n`;
    }
    this.pending = text + '\r\n';
    this.headersSent = true;
    return this;
  }

  end(body?: string): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    socket.end(body === undefined ? this.pending : this.pending + body);
    this.pending = '';
    // A client that keeps the connection open after the answer does not hold it.
    setTimeout(() => socket.destroy(), 2000).unref();
  }
}

function onSocketError(this: net.Socket): void {
  this.destroy();
}
