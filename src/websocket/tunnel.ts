/**
 * A WebSocket tunnel, once the handshake passed the route's stages: the handshake goes to a target
 * of the upstream (through the target's undici pool, so its TLS settings apply) with the gateway's
 * forwarding headers; a 101 from the backend is relayed to the client and the two sockets are joined.
 * Anything else from the backend is a 502. Both directions are followed frame by frame
 * (src/websocket/frames.ts) for the message-size limit, and the connection is closed when no byte
 * went either way for the idle timeout.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../errors/gateway-error.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { connectionTokens, RESPONSE_SKIP } from '../server/forwarding.ts';
import { sendError, type AnyResponse } from '../server/respond.ts';
import { classify } from '../upstream/proxy.ts';
import type { Target, Upstream } from '../upstream/upstream.ts';
import { CLOSE_GOING_AWAY, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, closeFrame, FRAME_OK, FrameReader, maskedCloseFrame } from './frames.ts';
import type { WebSocketPolicy } from './policy.ts';
import { hasToken, type UpgradeResponse } from './upgrade.ts';

/** After the gateway's close frame, how long the peers get to close their side. */
const CLOSE_GRACE_MS = 1000;

export interface TunnelOptions {
  path: string;
  /** The request headers as forward() built them (hop-by-hop removed, forwarding headers added). */
  headers: string[];
  policy: WebSocketPolicy;
  hsts: string | null;
  onDone: (ctx: RequestContext) => void;
}

/** Opens the tunnel for a handshake that passed every stage (called by forward()). */
export function openTunnel(ctx: RequestContext, res: UpgradeResponse, upstream: Upstream, options: TunnelOptions): void {
  new WebSocketTunnel(ctx, res, upstream, options).start();
}

class WebSocketTunnel implements Dispatcher.DispatchHandler {
  private readonly ctx: RequestContext;
  private readonly res: UpgradeResponse;
  private readonly upstream: Upstream;
  private readonly options: TunnelOptions;
  private target: Target | undefined = undefined;
  private controller: Dispatcher.DispatchController | null = null;
  private backend: Duplex | null = null;
  /** The handshake is over (tunnel open, or answered with an error). */
  private settled = false;
  private finished = false;
  private open = 0;
  /** Both sides are piped (counted in the upstream's open WebSocket gauge until finish). */
  private joined = false;
  private readonly fromClient: FrameReader;
  private readonly fromBackend: FrameReader;
  private last = 0;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  /** The handshake's outcome went to passive health and the breaker. */
  private reported = false;

  constructor(ctx: RequestContext, res: UpgradeResponse, upstream: Upstream, options: TunnelOptions) {
    this.ctx = ctx;
    this.res = res;
    this.upstream = upstream;
    this.options = options;
    const max = options.policy.maxMessageBytes;
    this.fromClient = new FrameReader({ maxMessageBytes: max, fromClient: true });
    this.fromBackend = new FrameReader({ maxMessageBytes: max, fromClient: false });
  }

  start(): void {
    const ctx = this.ctx;
    const upstream = this.upstream;
    ctx.upstream = upstream;
    ctx.upstreamStartedAt = performance.now();
    if (this.res.destroyed) return this.clientGone();
    this.res.socket.once('close', this.onEarlyClose);
    const breaker = upstream.breaker;
    if (breaker !== undefined && !breaker.allow()) {
      const wait = Math.max(1, Math.ceil(breaker.retryAfter() / 1000));
      return this.fail(new GatewayError('PCL_UPSTREAM_CIRCUIT_OPEN', `circuit of upstream ${upstream.name} is ${breaker.state}`, {
        headers: { 'retry-after': String(wait) },
      }));
    }
    const target = upstream.pick(ctx);
    if (target === undefined) {
      breaker?.release();
      return this.fail(new GatewayError('PCL_UPSTREAM_UNAVAILABLE', `no healthy target in upstream ${upstream.name}`));
    }
    this.target = target;
    ctx.target = target;
    target.active++;
    target.pool.dispatch(
      { path: this.options.path, method: 'GET', headers: this.options.headers, body: null, upgrade: 'websocket', idempotent: false },
      this,
    );
  }

  // --- undici handler (the handshake) ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(new Error('client gone'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    if (statusCode < 200 || this.settled) return;
    // The backend answered without switching protocols (a 200, a 403, ...): never relayed as is,
    // the client asked for a WebSocket and must not mistake this for one.
    this.report(statusCode < 500);
    // Answer first: the abort calls onResponseError synchronously.
    this.fail(new GatewayError('PCL_UPSTREAM_UPGRADE_REFUSED', `backend answered the WebSocket handshake with ${statusCode}`));
    controller.abort(new Error('upgrade refused'));
  }

  onResponseData(): void {}

  onResponseEnd(): void {}

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return;
    this.report(false);
    this.fail(classify(err));
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    socket.on('error', onSocketError);
    if (this.settled) {
      socket.destroy();
      return;
    }
    const upgrade = headers.upgrade;
    if (statusCode !== 101 || typeof upgrade !== 'string' || !hasToken(upgrade, 'websocket')) {
      socket.destroy();
      this.report(false);
      this.fail(new GatewayError('PCL_UPSTREAM_UPGRADE_REFUSED', `backend switched to ${String(upgrade)} with ${statusCode}`));
      return;
    }
    this.report(true);
    this.settled = true;
    const ctx = this.ctx;
    const client = this.res.socket;
    client.removeListener('close', this.onEarlyClose);
    if (client.destroyed) {
      socket.destroy();
      this.clientGone();
      return;
    }
    ctx.status = 101;
    ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
    client.write(switchingHead(headers, ctx.requestId));
    this.backend = socket;
    this.join(client, socket);
  }

  // --- the tunnel ---

  private join(client: Duplex, backend: Duplex): void {
    this.open = 2;
    this.joined = true;
    this.upstream.stats.websocketsOpen++;
    this.last = performance.now();
    client.on('data', this.onClientData);
    backend.on('data', this.onBackendData);
    client.on('drain', this.resumeBackend);
    backend.on('drain', this.resumeClient);
    client.on('end', this.onClientEnd);
    backend.on('end', this.onBackendEnd);
    client.once('close', this.onSideClosed);
    backend.once('close', this.onSideClosed);
    this.idleTimer = setTimeout(this.onIdleCheck, this.options.policy.idleTimeout);
    this.idleTimer.unref();
    const head = this.res.head;
    if (head.length > 0) this.onClientData(head);
    client.resume();
  }

  private readonly onClientData = (chunk: Buffer): void => {
    const backend = this.backend as Duplex;
    this.last = performance.now();
    const cut = this.fromClient.push(chunk);
    if (cut !== FRAME_OK) {
      if (cut > 0) backend.write(chunk.subarray(0, cut));
      this.violation(this.fromClient, true);
      return;
    }
    if (!backend.write(chunk)) this.res.socket.pause();
  };

  private readonly onBackendData = (chunk: Buffer): void => {
    const client = this.res.socket;
    this.last = performance.now();
    const cut = this.fromBackend.push(chunk);
    if (cut !== FRAME_OK) {
      if (cut > 0) client.write(chunk.subarray(0, cut));
      this.ctx.bytesOut += cut;
      this.violation(this.fromBackend, false);
      return;
    }
    this.ctx.bytesOut += chunk.length;
    if (!client.write(chunk)) (this.backend as Duplex).pause();
  };

  private readonly resumeBackend = (): void => {
    this.backend?.resume();
  };

  private readonly resumeClient = (): void => {
    this.res.socket.resume();
  };

  private readonly onClientEnd = (): void => {
    this.backend?.end();
  };

  private readonly onBackendEnd = (): void => {
    this.res.socket.end();
  };

  /** A frame broke the policy: the sides get a close frame where their stream is at a frame boundary. */
  private violation(reader: FrameReader, clientSide: boolean): void {
    const code = reader.violation === 'too-big' ? CLOSE_TOO_BIG : CLOSE_PROTOCOL_ERROR;
    this.ctx.errorCode = reader.violation === 'too-big' ? 'WEBSOCKET_MESSAGE_TOO_BIG' : 'WEBSOCKET_PROTOCOL_ERROR';
    this.ctx.note(`websocket ${reader.violation} from the ${clientSide ? 'client' : 'backend'}`);
    const toClientClean = clientSide ? this.fromBackend.atBoundary : reader.cleanCut;
    const toBackendClean = clientSide ? reader.cleanCut : this.fromClient.atBoundary;
    this.closeBoth(code, toClientClean, toBackendClean);
  }

  private readonly onIdleCheck = (): void => {
    this.idleTimer = undefined;
    if (this.finished) return;
    const idle = this.options.policy.idleTimeout;
    const quiet = performance.now() - this.last;
    if (quiet < idle) {
      this.idleTimer = setTimeout(this.onIdleCheck, idle - quiet);
      this.idleTimer.unref();
      return;
    }
    this.ctx.note('websocket idle timeout');
    this.closeBoth(CLOSE_GOING_AWAY, this.fromBackend.atBoundary, this.fromClient.atBoundary);
  };

  /** Stops relaying; a close frame to each side that can take one, then the sockets close. */
  private closeBoth(code: number, toClient: boolean, toBackend: boolean): void {
    const client = this.res.socket;
    const backend = this.backend as Duplex;
    client.removeListener('data', this.onClientData);
    backend.removeListener('data', this.onBackendData);
    client.pause();
    backend.pause();
    endWith(client, toClient ? closeFrame(code) : undefined);
    endWith(backend, toBackend ? maskedCloseFrame(code) : undefined);
  }

  private readonly onSideClosed = (): void => {
    // One side gone: the other is ended (its queued bytes still go out), then destroyed after the grace.
    const client = this.res.socket;
    const backend = this.backend as Duplex;
    if (!client.destroyed) endWith(client, undefined);
    if (!backend.destroyed) endWith(backend, undefined);
    if (--this.open === 0) this.finish();
  };

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.joined) this.upstream.stats.websocketsOpen--;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.release();
    this.options.onDone(this.ctx);
  }

  // --- handshake failures ---

  private fail(err: GatewayError): void {
    if (this.settled) return;
    this.settled = true;
    this.res.socket.removeListener('close', this.onEarlyClose);
    this.release();
    if (this.ctx.upstreamStartedAt > 0) this.ctx.upstreamMs = performance.now() - this.ctx.upstreamStartedAt;
    sendError(this.res as unknown as AnyResponse, err, { requestId: this.ctx.requestId, hsts: this.options.hsts, close: true }, this.ctx);
    this.finished = true;
    this.options.onDone(this.ctx);
  }

  private readonly onEarlyClose = (): void => {
    if (this.settled) return;
    this.settled = true;
    this.controller?.abort(new Error('client closed the connection'));
    this.release();
    this.clientGone();
  };

  private clientGone(): void {
    this.settled = true;
    this.finished = true;
    this.ctx.errorCode = 'CLIENT_CLOSED';
    this.options.onDone(this.ctx);
  }

  /** The handshake's outcome for passive health and the breaker. */
  private report(ok: boolean): void {
    const target = this.target;
    if (target === undefined || this.reported) return;
    this.reported = true;
    this.upstream.report(target, ok);
    if (ok) this.upstream.breaker?.success();
    else this.upstream.breaker?.failure();
  }

  private release(): void {
    if (this.target === undefined) return;
    this.target.active--;
    this.target = undefined;
    // A half-open probe that never got an answer is given back to the breaker.
    if (!this.reported) this.upstream.breaker?.release();
  }
}

/** The 101 for the client: the backend's end-to-end headers (Sec-WebSocket-Accept, -Protocol, -Extensions, cookies). */
function switchingHead(headers: IncomingHttpHeaders, requestId: string): string {
  let extra: string[] | undefined;
  const connection = headers.connection;
  if (typeof connection === 'string') extra = connectionTokens(connection);
  let text = 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n';
  for (const name in headers) {
    if (RESPONSE_SKIP.has(name) || name === 'x-request-id' || (extra !== undefined && extra.includes(name))) continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) text += `${name}: ${one}\r\n`;
    else text += `${name}: ${v}\r\n`;
  }
  return `${text}x-request-id: ${requestId}\r\n\r\n`;
}

function endWith(socket: Duplex, frame: Buffer | undefined): void {
  if (socket.destroyed) return;
  if (frame === undefined && socket.writableEnded) return;
  if (frame !== undefined && !socket.writableEnded) socket.end(frame);
  else socket.end();
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}

function onSocketError(this: Duplex): void {
  this.destroy();
}
