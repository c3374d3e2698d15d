/**
 * H1Pool: a keep-alive connection pool and HTTP/1.1 client for plain-HTTP (`http:`) upstreams, with
 * the same low-level dispatch interface as undici's Pool (`dispatch(options, handler)` driving a
 * `Dispatcher.DispatchHandler` through the new handler API: onRequestStart, onResponseStart,
 * onResponseData, onResponseEnd, onResponseError, and a `DispatchController` with abort / pause /
 * resume). It exists because a hand-written client on net.Socket costs markedly less CPU per proxied
 * request than undici (bench/raw-proxy.ts); this is the production version of that prototype.
 *
 * Supported:
 * - `http:` origins, HTTP/1.1 requests, one request at a time per socket, sockets reused while
 *   idle (keepAliveTimeout, lowered by a server's `Keep-Alive: timeout=N`, minus 1 s), a FIFO queue
 *   when all `connections` sockets are busy.
 * - Request bodies: none, a Buffer (written with the head in one syscall, framed by Content-Length),
 *   a Readable or AsyncIterable (streamed with backpressure: chunked, or exactly the declared
 *   Content-Length).
 * - Strict response parsing (RFC 9112): status line, field lines (no whitespace before the colon, no
 *   obs-fold, no bare CR/LF, no NUL or other CTLs), a 64 KiB head limit, Content-Length (digits,
 *   one field, no list), Transfer-Encoding (exactly `chunked`), no TE together with CL,
 *   chunked bodies (bounded hex sizes, extensions ignored, trailers parsed), close-delimited bodies,
 *   no body for HEAD / 1xx / 204 / 304, 1xx interim responses skipped, `Connection: close` and
 *   HTTP/1.0 semantics. A parse error reaches the handler as an error whose `code` starts with `HPE_`
 *   and the socket is destroyed.
 * - headersTimeout, bodyTimeout, connectTimeout, with undici's error codes.
 *
 * Deliberately not supported (those upstreams stay on undici): TLS (`https:`), HTTP/2 and h2c,
 * upgrades (CONNECT, `Upgrade`, a 101 response is an error), pipelining, `Expect: 100-continue`,
 * request retries (the caller's policy: the pool never re-sends a request), proxies, and decoding of
 * transfer codings other than chunked (`gzip, chunked` is rejected rather than passed on undecoded).
 *
 * Behaviour differences to undici worth knowing: a connection reset during a close-delimited body is
 * an error, not the end of the body; a request body stream is detached, not destroyed, when the
 * request fails (its owner decides); handler exceptions thrown from onResponseStart/Data fail the
 * request (onResponseError) and destroy the socket, one from onResponseEnd is ignored. Only
 * `dispatch`, `close`, `destroy` and `stats` exist: no `request()` / `stream()` helpers (the health
 * checker and the mirror use undici's `request()`), no events.
 */
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export interface H1PoolOptions {
  /** Maximum sockets (connecting, busy and idle). Default: unlimited. */
  connections?: number | null;
  /** Idle time after which a kept-alive socket is closed, ms. Default 4000. */
  keepAliveTimeout?: number;
  /** From the request start to the complete response head, ms (0: none). Default 300000. */
  headersTimeout?: number;
  /** Longest gap between response body reads, ms (0: none). Default 300000. */
  bodyTimeout?: number;
  /** TCP connect, ms (0: none). Default 10000. */
  connectTimeout?: number;
  /** Opens a socket to host:port (default net.connect); tests use it to simulate a connect that never completes. */
  connect?: (host: string, port: number) => net.Socket;
}

export interface H1PoolStats {
  connected: number;
  free: number;
  pending: number;
  running: number;
  size: number;
}

/** An error with undici's `code` (UND_ERR_*) or llhttp's (HPE_*) so existing classification applies. */
export class H1Error extends Error {
  readonly code: string;
  constructor(name: string, code: string, message: string) {
    super(message);
    this.name = name;
    this.code = code;
  }
}

function parseError(code: string, message: string): H1Error {
  return new H1Error('HTTPParserError', code, message);
}

type Body = Buffer | Readable | AsyncIterable<Uint8Array | string> | null;
type Fields = Record<string, string | string[]>;

// --- constants (no regex is built per request) ---
const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const SEMI = 59;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_SIZE_DIGITS = 16;
const MAX_CHUNK_EXT = 4096;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Characters a field value (and a reason phrase) may not contain: CTLs other than HTAB, DEL. */
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
/** What a request header value may not contain: CTLs other than HTAB, DEL, anything beyond latin1. */
const BAD_REQUEST_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** A request target: visible latin1, no spaces or CTLs. */
const BAD_PATH = /[^\x21-\x7e\x80-\xff]/;
const PAYLOAD_METHODS = new Set(['POST', 'PUT', 'PATCH']);
/** Byte → hex digit value, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

// Parser phases.
const P_IDLE = 0;
const P_HEAD = 1;
const P_BODY_LEN = 2;
const P_BODY_CLOSE = 3;
const P_CHUNK_SIZE = 4;
const P_CHUNK_BWS = 5;
const P_CHUNK_EXT = 6;
const P_CHUNK_SIZE_LF = 7;
const P_CHUNK_DATA = 8;
const P_CHUNK_DATA_CR = 9;
const P_CHUNK_DATA_LF = 10;
const P_TRAILERS = 11;

// Request states.
const R_QUEUED = 0;
const R_STARTED = 1;
const R_DONE = 2;

/** Header objects without Object.prototype (a `__proto__` or `constructor` field is just a field), in V8's fast mode. */
const FieldsObject = function FieldsObject(): void {} as unknown as new () => Fields;
FieldsObject.prototype = Object.create(null) as object;

function socketError(message: string): H1Error {
  return new H1Error('SocketError', 'UND_ERR_SOCKET', message);
}

function invalidArg(message: string): H1Error {
  return new H1Error('InvalidArgumentError', 'UND_ERR_INVALID_ARG', message);
}

function lengthMismatch(message: string): H1Error {
  return new H1Error('RequestContentLengthMismatchError', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', message);
}

/** Digits only, at most 15 of them (a safe integer); -1 otherwise. */
function parseLength(v: string): number {
  const n = v.length;
  if (n === 0 || n > 15) return -1;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(v);
}

/**
 * The Content-Length of a response, or -1 when absent; throws when invalid. Repeated fields and comma
 * lists are refused even when their values agree (RFC 9112 §6.3 lets a recipient reject them): the
 * gateway refuses them from clients too, and a backend that sends them is broken or being abused.
 */
function responseLength(field: string | string[] | undefined): number {
  if (field === undefined) return -1;
  if (typeof field !== 'string' || field.indexOf(',') !== -1) throw parseError('HPE_INVALID_CONTENT_LENGTH', 'repeated Content-Length');
  const n = parseLength(field);
  if (n < 0) throw parseError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length: ${JSON.stringify(field)}`);
  return n;
}

/** Transfer-Encoding must be exactly `chunked`: other codings could not be undone here and are rejected. */
function checkTransferEncoding(field: string | string[]): void {
  if (typeof field === 'string' && field.length === 7 && field.toLowerCase() === 'chunked') return;
  const codings: string[] = [];
  for (const f of typeof field === 'string' ? [field] : field) for (const part of f.split(',')) codings.push(part.trim().toLowerCase());
  const shown = JSON.stringify(codings.join(', '));
  if (codings[codings.length - 1] !== 'chunked') throw parseError('HPE_INVALID_TRANSFER_ENCODING', `Transfer-Encoding not ending in chunked: ${shown}`);
  throw parseError('HPE_INVALID_TRANSFER_ENCODING', `transfer codings other than a single chunked are not supported: ${shown}`);
}

/** Tokens of a Connection field: [close, keep-alive]. */
function connectionFlags(field: string | string[] | undefined): number {
  if (field === undefined) return 0;
  let flags = 0;
  for (const f of typeof field === 'string' ? [field] : field) {
    if (f.length <= 10) {
      const v = f.toLowerCase();
      if (v === 'close') { flags |= 1; continue; }
      if (v === 'keep-alive') { flags |= 2; continue; }
    }
    for (const part of f.split(',')) {
      const t = part.trim().toLowerCase();
      if (t === 'close') flags |= 1;
      else if (t === 'keep-alive') flags |= 2;
    }
  }
  return flags;
}

/** `timeout=N` of a Keep-Alive field in seconds, or -1. */
function keepAliveSeconds(field: string | string[] | undefined): number {
  if (field === undefined) return -1;
  const v = (typeof field === 'string' ? field : field.join(',')).toLowerCase();
  const i = v.indexOf('timeout=');
  if (i === -1) return -1;
  let n = 0;
  let digits = 0;
  for (let j = i + 8; j < v.length && digits < 9; j++, digits++) {
    const c = v.charCodeAt(j);
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return digits === 0 ? -1 : n;
}

/**
 * Field lines `lines[from..]` into `out` (lower-case names; repeated fields as arrays, never joined).
 * Strict: a token name directly followed by the colon, optional whitespace around the value, no CTLs.
 */
function parseFields(lines: string[], from: number, out: Fields): void {
  for (let i = from; i < lines.length; i++) {
    const line = lines[i] as string;
    const first = line.charCodeAt(0);
    if (first === SP || first === HTAB) throw parseError('HPE_INVALID_HEADER_TOKEN', 'obs-fold (line folding) in a field');
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw parseError('HPE_INVALID_HEADER_TOKEN', line.length === 0 ? 'empty field line' : badLine(line, 'field line without a colon'));
    }
    const rawName = line.slice(0, colon);
    if (!TOKEN.test(rawName)) {
      const last = rawName.charCodeAt(colon - 1);
      throw parseError('HPE_INVALID_HEADER_TOKEN', last === SP || last === HTAB ? 'whitespace before the colon of a field' : badLine(line, 'invalid field name'));
    }
    let s = colon + 1;
    let e = line.length;
    while (s < e) {
      const c = line.charCodeAt(s);
      if (c !== SP && c !== HTAB) break;
      s++;
    }
    while (e > s) {
      const c = line.charCodeAt(e - 1);
      if (c !== SP && c !== HTAB) break;
      e--;
    }
    const value = s === colon + 1 && e === line.length ? line.slice(s) : line.slice(s, e);
    if (BAD_VALUE.test(value)) throw parseError('HPE_INVALID_HEADER_TOKEN', badLine(value, 'invalid character in a field value'));
    const name = rawName.toLowerCase();
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (typeof prev === 'string') out[name] = [prev, value];
    else prev.push(value);
  }
}

/** A message naming the offending control character. */
function badLine(s: string, fallback: string): string {
  if (s.indexOf('\n') !== -1) return 'bare LF in the response head';
  if (s.indexOf('\r') !== -1) return 'bare CR in the response head';
  if (s.indexOf('\0') !== -1) return 'NUL in the response head';
  return fallback;
}

/**
 * One request: the dispatch controller the handler sees. Its state outlives the socket it ran on, so
 * a late abort/pause/resume from the handler can never touch the socket's next request.
 */
class H1Request implements Dispatcher.DispatchController {
  readonly handler: Dispatcher.DispatchHandler;
  readonly pool: H1Pool;
  head = '';
  body: Body = null;
  /** Declared body length for a stream body, -1: chunked. */
  bodyLength = -1;
  isHead = false;
  /** The request asked for `Connection: close`. */
  closeAfter = false;
  state = R_QUEUED;
  conn: Conn | null = null;
  next: H1Request | null = null;
  rawHeaders = null;
  rawTrailers = null;
  private abortedFlag = false;
  pausedFlag = false;
  private reasonErr: Error | null = null;

  constructor(pool: H1Pool, handler: Dispatcher.DispatchHandler) {
    this.pool = pool;
    this.handler = handler;
  }

  get aborted(): boolean {
    return this.abortedFlag;
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  get reason(): Error | null {
    return this.reasonErr;
  }

  abort(reason: Error): void {
    if (this.state === R_DONE) return;
    this.abortedFlag = true;
    this.reasonErr = reason;
    const conn = this.conn;
    if (conn !== null) conn.fail(reason);
    else this.pool.failQueued(this, reason);
  }

  pause(): void {
    if (this.state === R_DONE || this.pausedFlag) return;
    this.pausedFlag = true;
    this.conn?.socket.pause();
  }

  resume(): void {
    if (!this.pausedFlag) return;
    this.pausedFlag = false;
    if (this.state !== R_DONE) this.conn?.resumeReading();
  }

  /** Validates the options and renders the request head (throws InvalidArgumentError / NotSupportedError). */
  prepare(opts: Dispatcher.DispatchOptions): void {
    const method = opts.method as string;
    if (typeof method !== 'string' || !TOKEN.test(method)) throw invalidArg('invalid method');
    if (method === 'CONNECT') throw new H1Error('NotSupportedError', 'UND_ERR_NOT_SUPPORTED', 'CONNECT is not supported by H1Pool');
    if (opts.upgrade) throw new H1Error('NotSupportedError', 'UND_ERR_NOT_SUPPORTED', 'upgrades are not supported by H1Pool');
    const path = opts.path;
    if (typeof path !== 'string' || !(path.charCodeAt(0) === 47 || path === '*') || BAD_PATH.test(path)) throw invalidArg('invalid request path');
    this.isHead = method === 'HEAD';
    let head = method + ' ' + path + ' HTTP/1.1\r\n';
    let hasHost = false;
    let declared = -1;
    const h = opts.headers;
    if (h !== undefined && h !== null) {
      if (Array.isArray(h)) {
        const arr = h as unknown[];
        if (arr.length % 2 !== 0) throw invalidArg('headers array must have an even length');
        for (let i = 0; i < arr.length; i += 2) {
          const r = this.header(arr[i], arr[i + 1], declared);
          if (r === -2) hasHost = true;
          else if (r >= 0) declared = r;
          head += (arr[i] as string) + ': ' + String(arr[i + 1]) + '\r\n';
        }
      } else {
        const entries: Iterable<[string, unknown]> =
          typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function' ? (h as Iterable<[string, unknown]>) : Object.entries(h as object);
        for (const [name, value] of entries) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
            const r = this.header(name, v, declared);
            if (r === -2) hasHost = true;
            else if (r >= 0) declared = r;
            head += name + ': ' + String(v) + '\r\n';
          }
        }
      }
    }
    if (!hasHost) head += 'host: ' + this.pool.hostHeader + '\r\n';
    let body: unknown = opts.body ?? null;
    if (typeof body === 'string') body = Buffer.from(body);
    else if (body instanceof Uint8Array && !Buffer.isBuffer(body)) body = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (body === null || Buffer.isBuffer(body)) {
      const len = body === null ? 0 : (body as Buffer).length;
      if (declared >= 0 && declared !== len) throw lengthMismatch(`Content-Length ${declared} but the body has ${len} bytes`);
      if (declared < 0 && (len > 0 || PAYLOAD_METHODS.has(method))) head += 'content-length: ' + len + '\r\n';
      this.body = len === 0 ? null : (body as Buffer);
    } else if (body instanceof Readable || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      this.body = body as Readable | AsyncIterable<Uint8Array>;
      if (declared < 0) head += 'transfer-encoding: chunked\r\n';
      this.bodyLength = declared;
    } else {
      throw new H1Error('NotSupportedError', 'UND_ERR_NOT_SUPPORTED', 'unsupported request body type');
    }
    this.head = head + '\r\n';
  }

  /** Checks one request header; returns -2 for Host, a Content-Length value, or -1. */
  private header(name: unknown, value: unknown, declared: number): number {
    if (typeof name !== 'string' || !TOKEN.test(name)) throw invalidArg(`invalid header name ${JSON.stringify(String(name))}`);
    if (typeof value !== 'string') {
      if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'bigint') throw invalidArg(`invalid value of header ${name}`);
    } else if (BAD_REQUEST_VALUE.test(value)) {
      throw invalidArg(`invalid character (CR, LF, NUL or another control) in the value of header ${name}`);
    }
    const len = name.length;
    if (len !== 4 && len !== 6 && len !== 7 && len !== 10 && len !== 14 && len !== 17) return -1;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        return -2;
      case 'content-length': {
        const n = parseLength(String(value));
        if (n < 0) throw invalidArg('invalid content-length header');
        if (declared >= 0 && declared !== n) throw invalidArg('conflicting content-length headers');
        return n;
      }
      case 'connection': {
        const v = String(value).toLowerCase();
        if (v === 'close') this.closeAfter = true;
        else if (v !== 'keep-alive') throw invalidArg('invalid connection header');
        return -1;
      }
      case 'transfer-encoding':
      case 'keep-alive':
        throw invalidArg(`invalid ${lower} header`);
      case 'upgrade':
      case 'expect':
        throw new H1Error('NotSupportedError', 'UND_ERR_NOT_SUPPORTED', `${lower} header is not supported by H1Pool`);
      default:
        return -1;
    }
  }
}

/** One socket and its response parser; every callback is a method or a per-socket bound function. */
class Conn {
  readonly pool: H1Pool;
  readonly socket: net.Socket;
  req: H1Request | null = null;
  connected = false;
  closed = false;
  /** The current response allows the socket to be reused. */
  private reusable = true;
  private phase = P_IDLE;
  private remaining = 0;
  private sizeDigits = 0;
  private extLen = 0;
  /** Accumulated bytes of an incomplete head or trailer section. */
  private acc: Buffer | null = null;
  private accLen = 0;
  /** Bytes received while the handler had paused. */
  private stash: Buffer | null = null;
  private parsing = false;
  /** Idle lifetime for this socket (the server may have asked for less). */
  keepAliveMs: number;
  // Request body being streamed.
  private bodyDone = true;
  private bodyStream: Readable | null = null;
  /**
   * A streamed request's head, held back until its first body chunk (or its end) is there to go
   * with it — as undici does: a request whose body fails before its first byte (a client's bad
   * framing, an abort) never reaches the backend at all, and head and first chunk share one write.
   */
  private headPending: string | null = null;
  private bodyLeft = -1;
  private drainWaiter: (() => void) | null = null;
  // Timers: created once per socket and refreshed.
  private connectTimer: NodeJS.Timeout | null = null;
  private headersTimer: NodeJS.Timeout | null = null;
  private bodyTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleTimerMs = 0;

  constructor(pool: H1Pool) {
    this.pool = pool;
    this.keepAliveMs = pool.keepAliveTimeout;
    const socket = pool.connectFn(pool.hostname, pool.port);
    this.socket = socket;
    socket.on('connect', this.onConnect);
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    if (pool.connectTimeout > 0) {
      this.connectTimer = setTimeout(this.onConnectTimeout, pool.connectTimeout);
      this.connectTimer.unref();
    }
  }

  private readonly onConnect = (): void => {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    this.pool.connectedConn(this);
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (!this.connected) {
      this.socket.destroy(new H1Error('ConnectTimeoutError', 'UND_ERR_CONNECT_TIMEOUT', `connect timeout (${this.pool.connectTimeout} ms) to ${this.pool.origin}`));
    }
  };

  private readonly onError = (err: Error): void => {
    if (!this.connected) {
      this.pool.connectFailed(err);
      return;
    }
    this.fail(err);
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.clearTimers();
    if (this.req !== null) this.fail(socketError('other side closed'));
    this.detachBody();
    this.pool.removeConn(this);
  };

  private readonly onEnd = (): void => {
    const req = this.req;
    if (req === null) {
      // An idle socket the server closed: never hand it out again.
      this.pool.dropIdle(this);
      this.socket.destroy();
      return;
    }
    if (this.phase === P_BODY_CLOSE && this.stash === null) this.complete(new FieldsObject(), true);
    else this.fail(socketError('other side closed before the response was complete'));
  };

  private readonly onDrain = (): void => {
    if (this.bodyStream !== null) this.bodyStream.resume();
    const w = this.drainWaiter;
    if (w !== null) {
      this.drainWaiter = null;
      w();
    }
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.req === null) {
      // Bytes nobody asked for (a response to nothing, or a smuggling attempt): never parse them as the next response.
      this.socket.destroy();
      return;
    }
    if (this.phase >= P_BODY_LEN && this.bodyTimer !== null) this.bodyTimer.refresh();
    this.parse(chunk, 0);
  };

  // --- requests ---

  /** Begins `req` on this connected, idle socket. */
  start(req: H1Request): void {
    this.req = req;
    req.conn = this;
    req.state = R_STARTED;
    this.phase = P_HEAD;
    this.reusable = !req.closeAfter;
    this.keepAliveMs = this.pool.keepAliveTimeout;
    this.stash = null;
    this.acc = null;
    this.accLen = 0;
    const socket = this.socket;
    if (req.pausedFlag) socket.pause();
    else if (socket.isPaused()) socket.resume();
    this.armHeaders();
    try {
      req.handler.onRequestStart?.(req, {});
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (this.req !== req) return; // aborted in onRequestStart
    const body = req.body;
    if (body === null) {
      this.bodyDone = true;
      socket.write(req.head, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      this.bodyDone = true;
      socket.cork();
      socket.write(req.head, 'latin1');
      socket.write(body);
      socket.uncork();
    } else {
      this.bodyDone = false;
      this.bodyLeft = req.bodyLength;
      this.headPending = req.head;
      if (body instanceof Readable) this.streamReadable(body);
      else void this.streamIterable(req, body);
    }
  }

  private streamReadable(body: Readable): void {
    if (body.readableEnded) {
      this.onBodyEnd();
      return;
    }
    if (body.destroyed) {
      this.fail(new H1Error('RequestAbortedError', 'UND_ERR_ABORTED', 'request body stream destroyed before it was read'));
      return;
    }
    this.bodyStream = body;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('close', this.onBodyClose);
    body.resume();
  }

  private async streamIterable(req: H1Request, body: AsyncIterable<Uint8Array | string>): Promise<void> {
    try {
      for await (const chunk of body) {
        if (this.req !== req || this.bodyDone) return;
        if (!this.writeBodyChunk(chunk)) {
          if (this.req !== req || this.bodyDone) return;
          await new Promise<void>((resolve) => {
            this.drainWaiter = resolve;
          });
          if (this.req !== req || this.bodyDone) return;
        }
      }
      if (this.req === req && !this.bodyDone) this.onBodyEnd();
    } catch (err) {
      if (this.req === req && !this.bodyDone) this.fail(err as Error);
    }
  }

  /** Writes one body chunk (chunked framing or counted against the declared length); false when the socket wants a drain. */
  private writeBodyChunk(data: Uint8Array | string): boolean {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    const len = chunk.length;
    if (len === 0) return true; // a zero-size chunk would end a chunked body
    const socket = this.socket;
    if (this.bodyLeft >= 0) {
      if (len > this.bodyLeft) {
        this.fail(lengthMismatch('request body longer than its Content-Length'));
        return true;
      }
      this.bodyLeft -= len;
      const head = this.headPending;
      if (head === null) return socket.write(chunk);
      this.headPending = null;
      socket.cork();
      socket.write(head, 'latin1');
      const ok = socket.write(chunk);
      socket.uncork();
      return ok;
    }
    socket.cork();
    const head = this.headPending;
    if (head !== null) {
      this.headPending = null;
      socket.write(head, 'latin1');
    }
    socket.write(len.toString(16) + '\r\n', 'latin1');
    socket.write(chunk);
    const ok = socket.write('\r\n', 'latin1');
    socket.uncork();
    return ok;
  }

  private readonly onBodyData = (chunk: Buffer | string): void => {
    if (this.bodyDone || this.req === null) return;
    if (!this.writeBodyChunk(chunk) && this.bodyStream !== null) this.bodyStream.pause();
  };

  private readonly onBodyEnd = (): void => {
    if (this.bodyDone || this.req === null) return;
    if (this.bodyLeft > 0) {
      this.fail(lengthMismatch(`request body ended ${this.bodyLeft} bytes short of its Content-Length`));
      return;
    }
    const head = this.headPending;
    this.headPending = null;
    if (this.bodyLeft < 0) this.socket.write(head === null ? '0\r\n\r\n' : `${head}0\r\n\r\n`, 'latin1');
    else if (head !== null) this.socket.write(head, 'latin1');
    this.detachBody();
  };

  private readonly onBodyError = (err: Error): void => {
    if (this.bodyDone || this.req === null) return;
    this.fail(err);
  };

  private readonly onBodyClose = (): void => {
    const s = this.bodyStream;
    if (this.bodyDone || this.req === null || s === null || s.readableEnded) return;
    this.fail(new H1Error('RequestAbortedError', 'UND_ERR_ABORTED', 'request body stream closed before its end'));
  };

  /** Stops reading the request body (its owner keeps it). */
  private detachBody(): void {
    this.bodyDone = true;
    const s = this.bodyStream;
    if (s !== null) {
      this.bodyStream = null;
      s.off('data', this.onBodyData);
      s.off('end', this.onBodyEnd);
      s.off('error', this.onBodyError);
      s.off('close', this.onBodyClose);
    }
    const w = this.drainWaiter;
    if (w !== null) {
      this.drainWaiter = null;
      w();
    }
  }

  /** Fails the current request (once) and destroys the socket: nothing more is read or written on it. */
  fail(err: Error): void {
    const req = this.req;
    this.req = null;
    this.phase = P_IDLE;
    this.stash = null;
    this.acc = null;
    this.reusable = false;
    this.headPending = null;
    this.detachBody();
    this.socket.destroy();
    if (req === null) {
      this.pool.dropIdle(this);
      return;
    }
    req.conn = null;
    if (req.state === R_DONE) return;
    req.state = R_DONE;
    req.handler.onResponseError?.(req, err);
  }

  /** The response is complete: hand it over, then reuse or close the socket. */
  private complete(trailers: Fields, leftover: boolean): void {
    const req = this.req as H1Request;
    this.req = null;
    req.conn = null;
    req.state = R_DONE;
    this.phase = P_IDLE;
    // A request body still being sent when the response ended leaves the socket in an unknown state.
    const reuse = this.reusable && this.bodyDone && !leftover;
    this.detachBody();
    // Released before the handler hears of the end, so a request it dispatches from onResponseEnd can
    // take this socket instead of opening another. The socket is then another request's: an exception
    // from onResponseEnd is the handler's own and cannot be charged to it.
    if (reuse) this.pool.release(this);
    else this.socket.destroy();
    try {
      req.handler.onResponseEnd?.(req, trailers as IncomingHttpHeaders);
    } catch {
      // ignored (see above)
    }
  }

  resumeReading(): void {
    if (this.parsing) {
      // The parse loop sees the flag; the socket may have been paused by pause().
      this.socket.resume();
      return;
    }
    const s = this.stash;
    if (s !== null) {
      this.stash = null;
      this.parse(s, 0);
    }
    const req = this.req;
    if (this.bodyTimer !== null && req !== null && this.phase >= P_BODY_LEN) this.bodyTimer.refresh();
    if (!this.closed && (req === null || !req.pausedFlag)) this.socket.resume();
  }

  // --- the response parser ---

  private parse(input: Buffer, start: number): void {
    const req = this.req as H1Request;
    const buf = input;
    let pos = start;
    this.parsing = true;
    try {
      while (pos < buf.length) {
        if (this.req !== req) return;
        if (req.pausedFlag) {
          const rest = pos === 0 ? buf : buf.subarray(pos);
          this.stash = this.stash === null ? rest : Buffer.concat([this.stash, rest]);
          this.socket.pause();
          return;
        }
        switch (this.phase) {
          case P_HEAD:
          case P_TRAILERS: {
            const end = this.sectionEnd(buf, pos);
            if (end === -1) return;
            let section = buf;
            let from = pos;
            let to = end;
            if (this.acc !== null) {
              this.append(buf, pos, end);
              section = this.acc;
              // Trailers accumulate after a seeded CRLF (see sectionEnd).
              from = this.phase === P_TRAILERS ? 2 : 0;
              to = this.accLen;
              this.acc = null;
              this.accLen = 0;
            }
            pos = end;
            if (this.phase === P_HEAD) {
              if (to - from - 4 > MAX_HEAD) throw parseError('HPE_HEADER_OVERFLOW', 'response head larger than 64 KiB');
              if (!this.onHead(section, from, to - 4, req)) return;
              if ((this.phase as number) === P_IDLE) {
                this.complete(new FieldsObject(), pos < buf.length);
                return;
              }
            } else {
              if (to - from - 4 > MAX_HEAD) throw parseError('HPE_HEADER_OVERFLOW', 'response trailers larger than 64 KiB');
              const trailers = new FieldsObject();
              // [from, to) is either a lone CRLF (no trailers) or field lines ending in CRLFCRLF.
              if (to - from > 4) parseFields(section.toString('latin1', from, to - 4).split('\r\n'), 0, trailers);
              this.complete(trailers, pos < buf.length);
              return;
            }
            break;
          }
          case P_BODY_LEN: {
            const avail = buf.length - pos;
            const take = avail < this.remaining ? avail : this.remaining;
            const chunk = pos === 0 && take === buf.length ? buf : buf.subarray(pos, pos + take);
            pos += take;
            this.remaining -= take;
            req.handler.onResponseData?.(req, chunk);
            if (this.req !== req) return;
            if (this.remaining === 0) {
              this.complete(new FieldsObject(), pos < buf.length);
              return;
            }
            break;
          }
          case P_BODY_CLOSE: {
            const chunk = pos === 0 ? buf : buf.subarray(pos);
            pos = buf.length;
            req.handler.onResponseData?.(req, chunk);
            break;
          }
          case P_CHUNK_DATA: {
            const avail = buf.length - pos;
            const take = avail < this.remaining ? avail : this.remaining;
            const chunk = pos === 0 && take === buf.length ? buf : buf.subarray(pos, pos + take);
            pos += take;
            this.remaining -= take;
            if (this.remaining === 0) this.phase = P_CHUNK_DATA_CR;
            req.handler.onResponseData?.(req, chunk);
            break;
          }
          case P_CHUNK_SIZE: {
            const c = buf[pos++] as number;
            const h = HEX[c] as number;
            if (h >= 0) {
              if (++this.sizeDigits > MAX_CHUNK_SIZE_DIGITS) throw parseError('HPE_INVALID_CHUNK_SIZE', 'chunk size too long');
              this.remaining = this.remaining * 16 + h;
              if (this.remaining > Number.MAX_SAFE_INTEGER) throw parseError('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
              break;
            }
            if (this.sizeDigits === 0) throw parseError('HPE_INVALID_CHUNK_SIZE', 'invalid character in chunk size');
            if (c === CR) this.phase = P_CHUNK_SIZE_LF;
            else if (c === SEMI) this.phase = P_CHUNK_EXT;
            else if (c === SP || c === HTAB) this.phase = P_CHUNK_BWS;
            else throw parseError('HPE_INVALID_CHUNK_SIZE', 'invalid character in chunk size');
            break;
          }
          case P_CHUNK_BWS: {
            const c = buf[pos++] as number;
            if (c === SEMI) this.phase = P_CHUNK_EXT;
            else if (c !== SP && c !== HTAB) throw parseError('HPE_INVALID_CHUNK_SIZE', 'whitespace after a chunk size without an extension');
            break;
          }
          case P_CHUNK_EXT: {
            const c = buf[pos++] as number;
            if (c === CR) {
              this.phase = P_CHUNK_SIZE_LF;
              break;
            }
            if ((c < 0x20 && c !== HTAB) || c === 0x7f) throw parseError('HPE_INVALID_CHUNK_EXTENSIONS', 'invalid character in a chunk extension');
            if (++this.extLen > MAX_CHUNK_EXT) throw parseError('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'chunk extensions too long');
            break;
          }
          case P_CHUNK_SIZE_LF: {
            if (buf[pos++] !== LF) throw parseError('HPE_LF_EXPECTED', 'expected LF after the chunk size');
            this.phase = this.remaining === 0 ? P_TRAILERS : P_CHUNK_DATA;
            break;
          }
          case P_CHUNK_DATA_CR: {
            if (buf[pos++] !== CR) throw parseError('HPE_CR_EXPECTED', 'expected CRLF after chunk data');
            this.phase = P_CHUNK_DATA_LF;
            break;
          }
          case P_CHUNK_DATA_LF: {
            if (buf[pos++] !== LF) throw parseError('HPE_LF_EXPECTED', 'expected CRLF after chunk data');
            this.phase = P_CHUNK_SIZE;
            this.remaining = 0;
            this.sizeDigits = 0;
            this.extLen = 0;
            break;
          }
          default:
            throw parseError('HPE_INTERNAL', 'response bytes in no parser state');
        }
      }
    } catch (err) {
      if (this.req === req) this.fail(err as Error);
    } finally {
      this.parsing = false;
    }
  }

  /**
   * The end (exclusive, in `buf`) of the head or trailer section under way, or -1 when it is still
   * incomplete (then `buf[pos..]` has been accumulated, with bare-LF and size checks).
   * Trailers: the section starts right after the last chunk's CRLF, so an empty one is a single CRLF.
   */
  private sectionEnd(buf: Buffer, pos: number): number {
    const acc = this.acc;
    if (acc === null) {
      if (this.phase === P_TRAILERS && buf.length - pos >= 2 && buf[pos] === CR && buf[pos + 1] === LF) {
        return pos + 2; // the common case: no trailers

      }
      const k = buf.indexOf(CRLFCRLF, pos);
      if (k !== -1) return k + 4;
      this.acc = Buffer.allocUnsafe(Math.max(1024, (buf.length - pos) * 2));
      this.accLen = 0;
      if (this.phase === P_TRAILERS) {
        // Seed with the CRLF that ended the last-chunk line: "\r\n\r\n" then also ends an empty section.
        this.acc[0] = CR;
        this.acc[1] = LF;
        this.accLen = 2;
      }
      this.checkPartial(buf, pos);
      this.append(buf, pos, buf.length);
      return -1;
    }
    const len = this.accLen;
    // The terminator may begin in the accumulated bytes.
    for (let j = 3; j >= 1; j--) {
      if (len < j || buf.length - pos < 4 - j) continue;
      let ok = true;
      for (let m = 0; m < j && ok; m++) ok = acc[len - j + m] === CRLFCRLF[m];
      for (let m = 0; m < 4 - j && ok; m++) ok = buf[pos + m] === CRLFCRLF[j + m];
      if (ok) return pos + 4 - j;
    }
    const k = buf.indexOf(CRLFCRLF, pos);
    if (k !== -1) return k + 4;
    this.checkPartial(buf, pos);
    this.append(buf, pos, buf.length);
    return -1;
  }

  /** An incomplete section: reject a bare LF early (a head with only LFs never has CRLFCRLF) and bound its size. */
  private checkPartial(buf: Buffer, pos: number): void {
    let i = buf.indexOf(LF, pos);
    while (i !== -1) {
      const prev = i > pos ? buf[i - 1] : this.accLen > 0 ? (this.acc as Buffer)[this.accLen - 1] : -1;
      if (prev !== CR) throw parseError('HPE_LF_EXPECTED', 'bare LF in the response head');
      i = buf.indexOf(LF, i + 1);
    }
    if (this.accLen + buf.length - pos > MAX_HEAD + 4) {
      throw parseError('HPE_HEADER_OVERFLOW', this.phase === P_HEAD ? 'response head larger than 64 KiB' : 'response trailers larger than 64 KiB');
    }
  }

  private append(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    let acc = this.acc as Buffer;
    if (this.accLen + n > acc.length) {
      const grown = Buffer.allocUnsafe(Math.max(acc.length * 2, this.accLen + n));
      acc.copy(grown, 0, 0, this.accLen);
      acc = grown;
      this.acc = grown;
    }
    buf.copy(acc, this.accLen, from, to);
    this.accLen += n;
  }

  /**
   * A complete head `buf[start..end)` (without the final CRLFCRLF). Returns false when the request is
   * over (the handler aborted). Sets the phase: P_HEAD again after a 1xx, P_IDLE for no body.
   */
  private onHead(buf: Buffer, start: number, end: number, req: H1Request): boolean {
    const lines = buf.toString('latin1', start, end).split('\r\n');
    const sl = lines[0] as string;
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (sl.length < 12 || !sl.startsWith('HTTP/1.') || sl.charCodeAt(8) !== SP) {
      throw parseError('HPE_INVALID_CONSTANT', badLine(sl, 'invalid status line'));
    }
    const minor = sl.charCodeAt(7) - 48;
    if (minor !== 0 && minor !== 1) throw parseError('HPE_INVALID_VERSION', 'unsupported HTTP version');
    const d0 = sl.charCodeAt(9) - 48;
    const d1 = sl.charCodeAt(10) - 48;
    const d2 = sl.charCodeAt(11) - 48;
    if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw parseError('HPE_INVALID_STATUS', 'invalid status code');
    const status = d0 * 100 + d1 * 10 + d2;
    let reason = '';
    if (sl.length > 12) {
      if (sl.charCodeAt(12) !== SP) throw parseError('HPE_INVALID_STATUS', 'invalid status code');
      reason = sl.slice(13);
      if (BAD_VALUE.test(reason)) throw parseError('HPE_INVALID_STATUS', badLine(reason, 'invalid character in the reason phrase'));
    }
    const headers = new FieldsObject();
    parseFields(lines, 1, headers);
    if (status < 200) {
      if (status === 101) throw parseError('HPE_UNEXPECTED_UPGRADE', '101 Switching Protocols: upgrades are not supported by H1Pool');
      return true; // interim response (100 Continue, 103 Early Hints): skipped, the final one follows
    }
    const te = headers['transfer-encoding'];
    const length = responseLength(headers['content-length']);
    if (te !== undefined) {
      if (length !== -1) throw parseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Transfer-Encoding and Content-Length (response smuggling)');
      if (minor === 0) throw parseError('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 response');
      checkTransferEncoding(te);
    }
    const conn = connectionFlags(headers['connection']);
    if (minor === 0 ? (conn & 2) === 0 || (conn & 1) !== 0 : (conn & 1) !== 0) this.reusable = false;
    const ka = keepAliveSeconds(headers['keep-alive']);
    if (ka >= 0) {
      const ms = ka * 1000 - 1000;
      if (ms <= 0) this.reusable = false;
      else if (ms < this.keepAliveMs) this.keepAliveMs = ms;
    }
    if (req.isHead || status === 204 || status === 304) this.phase = P_IDLE;
    else if (te !== undefined) {
      this.phase = P_CHUNK_SIZE;
      this.remaining = 0;
      this.sizeDigits = 0;
      this.extLen = 0;
    } else if (length >= 0) {
      this.phase = length === 0 ? P_IDLE : P_BODY_LEN;
      this.remaining = length;
    } else {
      this.phase = P_BODY_CLOSE;
      this.reusable = false;
    }
    this.armBody();
    req.handler.onResponseStart?.(req, status, headers as IncomingHttpHeaders, reason);
    return this.req === req;
  }

  // --- timers ---

  private armHeaders(): void {
    const ms = this.pool.headersTimeout;
    if (ms <= 0) return;
    if (this.headersTimer === null) {
      this.headersTimer = setTimeout(this.onHeadersTimeout, ms);
      this.headersTimer.unref();
    } else this.headersTimer.refresh();
  }

  private armBody(): void {
    const ms = this.pool.bodyTimeout;
    if (ms <= 0) return;
    if (this.bodyTimer === null) {
      this.bodyTimer = setTimeout(this.onBodyTimeout, ms);
      this.bodyTimer.unref();
    } else this.bodyTimer.refresh();
  }

  armIdle(): void {
    const ms = this.keepAliveMs;
    if (this.idleTimer !== null && this.idleTimerMs === ms) {
      this.idleTimer.refresh();
      return;
    }
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(this.onIdleTimeout, ms);
    this.idleTimer.unref();
    this.idleTimerMs = ms;
  }

  // A timer refreshed for an earlier phase may fire later: each checks that its phase is still under way.
  private readonly onHeadersTimeout = (): void => {
    if (this.req === null || this.phase !== P_HEAD) return;
    // Still sending a body the server keeps reading: the wait for the head has not begun.
    if (!this.bodyDone && !this.socket.writableNeedDrain) {
      this.headersTimer?.refresh();
      return;
    }
    this.fail(new H1Error('HeadersTimeoutError', 'UND_ERR_HEADERS_TIMEOUT', `no response head within ${this.pool.headersTimeout} ms`));
  };

  private readonly onBodyTimeout = (): void => {
    const req = this.req;
    if (req === null || this.phase < P_BODY_LEN) return;
    if (req.pausedFlag) {
      // The stall is ours (backpressure), not the server's.
      this.bodyTimer?.refresh();
      return;
    }
    this.fail(new H1Error('BodyTimeoutError', 'UND_ERR_BODY_TIMEOUT', `no response body data within ${this.pool.bodyTimeout} ms`));
  };

  private readonly onIdleTimeout = (): void => {
    if (this.req === null && !this.closed) {
      this.pool.dropIdle(this);
      this.socket.destroy();
    }
  };

  private clearTimers(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    if (this.headersTimer !== null) clearTimeout(this.headersTimer);
    if (this.bodyTimer !== null) clearTimeout(this.bodyTimer);
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.connectTimer = this.headersTimer = this.bodyTimer = this.idleTimer = null;
  }
}

/**
 * A keep-alive pool of HTTP/1.1 connections to one `http:` origin, dispatching undici-style
 * handlers (see the comment at the top of this file).
 */
export class H1Pool {
  readonly origin: string;
  readonly hostname: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly connections: number;
  readonly keepAliveTimeout: number;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly connectTimeout: number;
  readonly connectFn: (host: string, port: number) => net.Socket;
  closing = false;
  private destroyed = false;
  private readonly conns = new Set<Conn>();
  private readonly idle: Conn[] = [];
  private connecting = 0;
  private qHead: H1Request | null = null;
  private qTail: H1Request | null = null;
  private queued = 0;
  private closeWaiters: (() => void)[] = [];

  constructor(origin: string | URL, options: H1PoolOptions = {}) {
    const url = typeof origin === 'string' ? new URL(origin) : origin;
    if (url.protocol !== 'http:') throw invalidArg(`H1Pool supports http: origins only, not ${url.protocol}`);
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
      throw invalidArg('origin must be scheme://host[:port] only');
    }
    this.origin = url.origin;
    this.hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? 80 : Number(url.port);
    this.hostHeader = url.host;
    const c = options.connections;
    this.connections = c === undefined || c === null || c <= 0 ? Infinity : c;
    this.keepAliveTimeout = options.keepAliveTimeout ?? 4000;
    this.headersTimeout = options.headersTimeout ?? 300_000;
    this.bodyTimeout = options.bodyTimeout ?? 300_000;
    this.connectTimeout = options.connectTimeout ?? 10_000;
    this.connectFn = options.connect ?? defaultConnect;
  }

  /** Sends a request; the handler hears everything. Returns false when the request had to queue. */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const req = new H1Request(this, handler);
    try {
      if (this.destroyed) throw new H1Error('ClientDestroyedError', 'UND_ERR_DESTROYED', 'the pool is destroyed');
      if (this.closing) throw new H1Error('ClientClosedError', 'UND_ERR_CLOSED', 'the pool is closed');
      req.prepare(opts);
    } catch (err) {
      req.state = R_DONE;
      handler.onResponseError?.(req, err as Error);
      return !this.busy;
    }
    let conn = this.idle.pop();
    while (conn !== undefined && conn.socket.destroyed) conn = this.idle.pop(); // closing, its 'close' not yet seen
    if (conn !== undefined) {
      conn.start(req);
      return true;
    }
    if (this.qTail === null) this.qHead = req;
    else this.qTail.next = req;
    this.qTail = req;
    this.queued++;
    this.maybeConnect();
    return false;
  }

  get busy(): boolean {
    return this.idle.length === 0 && this.conns.size >= this.connections;
  }

  get stats(): H1PoolStats {
    const size = this.conns.size;
    return {
      connected: size - this.connecting,
      free: this.idle.length,
      pending: this.queued,
      running: size - this.connecting - this.idle.length,
      size: this.queued + size - this.connecting - this.idle.length,
    };
  }

  /** Lets queued and running requests finish, then closes every socket. */
  close(): Promise<void> {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
    return this.waitClosed();
  }

  /** Fails every queued and running request (`err`, or UND_ERR_DESTROYED) and closes every socket. */
  destroy(err?: Error): Promise<void> {
    this.closing = true;
    this.destroyed = true;
    const reason = err ?? new H1Error('ClientDestroyedError', 'UND_ERR_DESTROYED', 'the pool was destroyed');
    for (let r = this.dequeue(); r !== null; r = this.dequeue()) {
      r.state = R_DONE;
      r.handler.onResponseError?.(r, reason);
    }
    this.idle.length = 0;
    for (const conn of [...this.conns]) {
      if (conn.req !== null) conn.fail(reason);
      else conn.socket.destroy();
    }
    return this.waitClosed();
  }

  private waitClosed(): Promise<void> {
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      this.checkClosed();
    });
  }

  private checkClosed(): void {
    if (!this.closing || this.conns.size > 0 || this.queued > 0) return;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of waiters) w();
  }

  private dequeue(): H1Request | null {
    let r = this.qHead;
    while (r !== null && r.state === R_DONE) r = r.next; // aborted while queued (already uncounted)
    if (r === null) {
      this.qHead = this.qTail = null;
      return null;
    }
    this.qHead = r.next;
    if (this.qHead === null) this.qTail = null;
    r.next = null;
    this.queued--;
    return r;
  }

  private maybeConnect(): void {
    while (!this.destroyed && this.connecting < this.queued && this.conns.size < this.connections) {
      this.connecting++;
      this.conns.add(new Conn(this));
    }
  }

  /** @internal A queued request was aborted before it got a socket. */
  failQueued(req: H1Request, err: Error): void {
    req.state = R_DONE;
    this.queued--;
    req.handler.onResponseError?.(req, err);
    this.checkClosed();
  }

  /** @internal */
  connectedConn(conn: Conn): void {
    this.connecting--;
    this.release(conn);
  }

  /** @internal The connect of `conn` failed: the oldest waiting request gets the error (never a started one). */
  connectFailed(err: Error): void {
    const req = this.dequeue();
    if (req !== null) {
      req.state = R_DONE;
      req.handler.onResponseError?.(req, err);
    }
  }

  /** @internal A connected socket is free: the next queued request, or the idle list. */
  release(conn: Conn): void {
    if (conn.closed || conn.socket.destroyed) return;
    const req = this.dequeue();
    if (req !== null) {
      conn.start(req);
      return;
    }
    if (this.closing) {
      conn.socket.destroy();
      return;
    }
    this.idle.push(conn);
    conn.armIdle();
  }

  /** @internal */
  dropIdle(conn: Conn): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  /** @internal */
  removeConn(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    if (!conn.connected) this.connecting--;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    this.maybeConnect();
    this.checkClosed();
  }
}

function defaultConnect(host: string, port: number): net.Socket {
  return net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
}
