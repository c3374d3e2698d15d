/**
 * Listeners: one TLS server whose connections are handed to an HTTP/1.1 or an HTTP/2 server by the
 * ALPN result, and an optional plain HTTP server (308 to HTTPS, or serving). Strict parsing
 * everywhere (`insecureHTTPParser` is never set); limits from server.limits.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import type { Gateway, Limits } from '../config/gateway.ts';
import type { ErrorCode } from '../errors/codes.ts';
import { rawProblemResponse } from '../errors/problem.ts';
import { AEAD_CIPHERS } from './tls.ts';
import { handleRequest, type Runtime } from './handler.ts';
import { normalizeIp } from './client-ip.ts';
import { GatewayError } from '../errors/gateway-error.ts';
import { sendError } from './respond.ts';
import { isWebSocketUpgrade, UpgradeResponse } from '../websocket/upgrade.ts';

export interface Listener {
  name: 'https' | 'http';
  server: net.Server;
  /** Stops accepting, asks idle keep-alive connections and HTTP/2 sessions to close. */
  stopAccepting(): void;
  /** Closes keep-alive connections that have no request in progress. */
  closeIdle(): void;
  openConnections(): number;
  /** Destroys every connection still open. */
  destroyAll(): void;
  /** HTTP/2 streams in flight (metrics). */
  activeStreams(): number;
  /** After a reload: the default certificate (clients without SNI) and client CA of the new config. */
  updateTls(gateway: Gateway): void;
}

/** Counts open connections per client address; refuses the ones over the limit. */
class ConnectionGate {
  private readonly perIp = new Map<string, number>();
  readonly sockets = new Set<net.Socket>();
  private readonly runtime: Runtime;
  constructor(runtime: Runtime) {
    this.runtime = runtime;
  }

  admit(socket: net.Socket): boolean {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    const limit = this.runtime.gateway.settings.limits.maxConnectionsPerIp;
    const n = (this.perIp.get(ip) ?? 0) + 1;
    if (n > limit || this.runtime.draining) {
      socket.destroy();
      return false;
    }
    this.perIp.set(ip, n);
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
    return true;
  }
}

function http1Options(limits: Limits): http.ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    // maxHeadersCount is set to maxHeaders + 1 in attachHttp1: the guard answers 431 for the excess in problem+json.
    insecureHTTPParser: false,
    // The protocol guard answers a missing Host itself (problem+json); Node's check sends a bare 400.
    requireHostHeader: false,
    joinDuplicateHeaders: false,
    requestTimeout: limits.requestTimeout,
    headersTimeout: limits.headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeout),
  };
}

/** Sockets whose parse error is answered or about to be: the failed parser repeats the error on every later chunk. */
const failedSockets = new WeakSet<net.Socket>();

/** The response Node is writing on an HTTP/1 socket (`socket._httpMessage`), if any. */
function activeResponse(socket: net.Socket): ServerResponse | null {
  return (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
}

/** Calls `fn` once the responses to the requests already read off the socket have been written. */
function whenResponsesWritten(socket: net.Socket, fn: () => void): void {
  const res = activeResponse(socket);
  if (!res) {
    fn();
    return;
  }
  // Node's own 'finish' listener runs first and detaches the response (or attaches the next pipelined one).
  res.once('finish', () => whenResponsesWritten(socket, fn));
}

/** Parser and timeout errors: a problem+json answer on the raw socket, then close. */
function onClientError(err: NodeJS.ErrnoException & { bytesParsed?: number }, socket: net.Socket | tls.TLSSocket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (failedSockets.has(socket)) return;
  failedSockets.add(socket);
  const pending = activeResponse(socket);
  // The error is in a later pipelined request when the request of the response in progress was read
  // completely: answering now would hand the client a 400 in place of the response to that earlier
  // request (already proxied), so the problem goes out after it.
  const laterRequest = pending !== null && pending.req.complete;
  if (pending && pending.headersSent && !laterRequest) {
    socket.destroy();
    return;
  }
  let code: ErrorCode = 'PCL_REQUEST_BAD';
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      code = 'PCL_REQUEST_HEADERS_TOO_LARGE';
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      code = 'PCL_REQUEST_TIMEOUT';
      break;
    case 'HPE_INVALID_VERSION':
      code = 'PCL_REQUEST_BAD_VERSION';
      break;
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_INVALID_CHUNK_SIZE':
      code = 'PCL_REQUEST_AMBIGUOUS_FRAMING';
      break;
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_INVALID_HEADER_VALUE':
    case 'HPE_LF_EXPECTED':
    case 'HPE_CR_EXPECTED':
      code = 'PCL_REQUEST_BAD_HEADER';
      break;
  }
  const answer = (): void => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(rawProblemResponse(code, randomUUID()));
    socket.destroySoon?.();
  };
  if (laterRequest) whenResponsesWritten(socket, answer);
  else answer();
}

function attachHttp1(server: http.Server, runtime: Runtime, secure: boolean): void {
  const limits = runtime.gateway.settings.limits;
  server.maxHeadersCount = limits.maxHeaders + 1;
  server.on('clientError', onClientError);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => handleRequest(runtime, req, res, secure, false));
  // WebSocket handshakes (RFC 6455) run the same request path with a stand-in response over the raw
  // socket (src/websocket/upgrade.ts). Any other Upgrade (h2c, ...) is not taken: Node then serves
  // the request as plain HTTP/1.1 and the Upgrade header is never forwarded (RFC 9110 §7.8).
  (server as http.Server & { shouldUpgradeCallback: (req: IncomingMessage) => boolean }).shouldUpgradeCallback = isWebSocketUpgrade;
  server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    handleRequest(runtime, req, new UpgradeResponse(socket, head) as unknown as ServerResponse, secure, false);
  });
  // Expect: 100-continue is answered only once the request has passed every check (413 instead).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handleRequest(runtime, req, res, secure, true));
  // Any other expectation cannot be met by a gateway (RFC 9110 §10.1.1): 417, in the usual format.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    sendError(res, new GatewayError('PCL_REQUEST_BAD_EXPECTATION', `Expect: ${String(req.headers.expect).slice(0, 64)}`), {
      requestId: randomUUID(),
      hsts: secure ? (runtime.gateway.settings.https?.hsts ?? null) : null,
      close: true,
    });
  });
}

export function createHttpsListener(runtime: Runtime, gateway: Gateway): Listener {
  const https = gateway.settings.https;
  if (!https) throw new Error('no https settings');
  const limits = gateway.settings.limits;
  const gate = new ConnectionGate(runtime);
  const h1 = http.createServer(http1Options(limits));
  attachHttp1(h1, runtime, true);

  const sessions = new Set<ServerHttp2Session>();
  const h2 = http2.createServer({
    settings: {
      maxConcurrentStreams: limits.http2MaxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderBytes,
      enablePush: false,
    },
    maxHeaderListPairs: limits.maxHeaders + 8,
    maxSessionMemory: 10,
    peerMaxConcurrentStreams: limits.http2MaxConcurrentStreams,
  });
  h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => handleRequest(runtime, req, res, true, false));
  // Without this listener Node answers `expect: 100-continue` with 100 before any check: as on HTTP/1,
  // 100 goes out only once the request passed every check before its body (413 or 401 instead).
  h2.on('checkContinue', (req: Http2ServerRequest, res: Http2ServerResponse) => handleRequest(runtime, req, res, true, true));
  h2.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', () => session.destroy());
  });
  h2.on('sessionError', () => {});
  // In-flight streams, for the metrics.
  const streams = { active: 0 };
  const streamClosed = (): void => {
    streams.active--;
  };
  h2.on('stream', (stream: http2.ServerHttp2Stream) => {
    streams.active++;
    stream.once('close', streamClosed);
  });
  h2.setTimeout(Math.max(limits.keepAliveTimeout, limits.requestTimeout));

  const server = tls.createServer({
    SNICallback: (servername, cb) => {
      const current = runtime.gateway.settings.https ?? https;
      cb(null, current.sni.lookup(servername) ?? current.sni.defaultContext);
    },
    // Node's TLS server ignores `secureContext` without SNI: the default certificate must be its own.
    cert: https.sni.defaultEntry.cert,
    key: https.sni.defaultEntry.key,
    minVersion: https.minVersion,
    ciphers: AEAD_CIPHERS,
    honorCipherOrder: true,
    ALPNProtocols: https.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    // A TLS handshake must finish as fast as a request head.
    handshakeTimeout: limits.headersTimeout,
    // mTLS: ask for a client certificate; with mode required the handshake fails without a valid one,
    // with optional the mtls authenticator checks `socket.authorized` per route.
    ...(https.clientCertificates
      ? { requestCert: true, rejectUnauthorized: https.clientCertificates.required, ca: https.clientCertificates.ca }
      : {}),
    allowHalfOpen: false,
  });
  server.maxConnections = limits.maxConnections;
  server.on('connection', (socket: net.Socket) => {
    gate.admit(socket);
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    // mTLS, optional mode: a client certificate that failed verification (e.g. signed by another CA
    // with the trusted CA's name) leaves an error on OpenSSL's thread-wide error queue; the next TLS
    // read then reports it as a fatal error and an HTTP/2 session dies before its first request.
    // Reading the peer certificate clears the queue (Node's ClearErrorOnReturn); the verification
    // result itself stays in `socket.authorized` / `authorizationError` for the mtls authenticator.
    if (https.clientCertificates && !socket.authorized) socket.getPeerX509Certificate();
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else h1.emit('connection', socket);
  });
  server.on('tlsClientError', () => {});
  return {
    name: 'https',
    server,
    stopAccepting() {
      server.close();
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
    },
    closeIdle() {
      h1.closeIdleConnections();
    },
    openConnections: () => gate.sockets.size,
    destroyAll() {
      for (const s of sessions) s.destroy();
      for (const s of gate.sockets) s.destroy();
    },
    activeStreams: () => streams.active,
    updateTls(gateway: Gateway) {
      const next = gateway.settings.https;
      if (next === undefined) return;
      server.setSecureContext({
        cert: next.sni.defaultEntry.cert,
        key: next.sni.defaultEntry.key,
        minVersion: next.minVersion,
        ciphers: AEAD_CIPHERS,
        honorCipherOrder: true,
        ...(next.clientCertificates ? { ca: next.clientCertificates.ca } : {}),
      });
    },
  };
}

export function createHttpListener(runtime: Runtime, gateway: Gateway): Listener {
  const settings = gateway.settings;
  const gate = new ConnectionGate(runtime);
  const server = http.createServer(http1Options(settings.limits));
  server.maxConnections = settings.limits.maxConnections;
  server.on('connection', (socket: net.Socket) => {
    gate.admit(socket);
  });
  if (settings.http?.redirectToHttps) {
    server.maxHeadersCount = settings.limits.maxHeaders + 1;
    server.on('clientError', onClientError);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => redirect(runtime, req, res));
  } else {
    attachHttp1(server, runtime, false);
  }
  return {
    name: 'http',
    server,
    stopAccepting() {
      server.close();
      server.closeIdleConnections();
    },
    closeIdle() {
      server.closeIdleConnections();
    },
    openConnections: () => gate.sockets.size,
    destroyAll() {
      for (const s of gate.sockets) s.destroy();
    },
    activeStreams: () => 0,
    updateTls() {},
  };
}

const REDIRECT_HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(:[0-9]{1,5})?$/;

/** 308 keeps the method and body (RFC 9110 §15.4.9); the target is the same host on the HTTPS port. */
function redirect(runtime: Runtime, req: IncomingMessage, res: ServerResponse): void {
  const https = runtime.gateway.settings.https;
  const host = req.headers.host ?? '';
  const m = REDIRECT_HOST_RE.exec(host);
  const url = req.url ?? '/';
  if (!m || !https || !url.startsWith('/')) {
    sendError(res, new GatewayError('PCL_REQUEST_BAD_HOST', 'cannot redirect'), { requestId: randomUUID(), hsts: null, close: true });
    return;
  }
  const httpsPort = runtime.httpsPort || https.port;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  res.writeHead(308, { location: `https://${m[1]}${port}${url}`, 'content-length': 0, 'cache-control': 'no-store' });
  res.end();
}
