/**
 * Reading a request body whole, for a route with a stage that needs it (validate). Bounded: 413 the
 * moment the bytes received cross the route's limit (a declared Content-Length over it never gets
 * here), 408 when the request timeout runs out; either way reading stops there. The bytes are kept
 * exactly as received: the upstream gets the same body, framed with a Content-Length.
 */
import { GatewayError } from '../errors/gateway-error.ts';
import type { AnyRequest } from '../upstream/proxy.ts';

/** The client went away before its body was complete: nothing to answer. */
export class BodyAbortedError extends Error {
  constructor() {
    super('the client closed the connection before the body was complete');
    this.name = 'BodyAbortedError';
  }
}

class BodyReader {
  private readonly req: AnyRequest;
  private readonly max: number;
  private readonly resolve: (body: Buffer) => void;
  private readonly reject: (err: Error) => void;
  private readonly chunks: Buffer[] = [];
  private total = 0;
  private settled = false;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(req: AnyRequest, max: number, timeoutMs: number, resolve: (body: Buffer) => void, reject: (err: Error) => void) {
    this.req = req;
    this.max = max;
    this.resolve = resolve;
    this.reject = reject;
    // Infinity: no request timeout (requestTimeout: 0). setTimeout takes at most 2^31-1 ms.
    this.timer = Number.isFinite(timeoutMs) ? setTimeout(this.onTimeout, Math.min(Math.max(0, timeoutMs), 2 ** 31 - 1)) : undefined;
    req.on('data', this.onData);
    req.once('end', this.onEnd);
    req.once('error', this.onError);
    req.once('close', this.onClose);
  }

  private stop(): void {
    this.settled = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const req = this.req;
    req.off('data', this.onData);
    req.off('end', this.onEnd);
    req.off('close', this.onClose);
    // An error after this point (a reset while the answer is written) must not be unhandled.
    req.off('error', this.onError);
    req.on('error', ignore);
  }

  /** Stops reading: an HTTP/1 connection is closed after the answer, an HTTP/2 stream is reset by the handler. */
  private refuse(err: GatewayError): void {
    this.stop();
    this.chunks.length = 0;
    this.req.pause();
    this.reject(err);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.total += chunk.length;
    if (this.total > this.max) {
      this.refuse(new GatewayError('PCL_REQUEST_BODY_TOO_LARGE', `body over ${this.max} bytes`));
      return;
    }
    this.chunks.push(chunk);
  };

  private readonly onEnd = (): void => {
    if (this.settled) return;
    this.stop();
    const chunks = this.chunks;
    this.resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.total));
  };

  private readonly onError = (): void => {
    if (this.settled) return;
    this.stop();
    this.reject(new BodyAbortedError());
  };

  private readonly onClose = (): void => {
    if (this.settled) return;
    this.stop();
    this.reject(new BodyAbortedError());
  };

  private readonly onTimeout = (): void => {
    if (this.settled) return;
    this.refuse(new GatewayError('PCL_REQUEST_TIMEOUT', `body not complete within the request timeout (${this.total} bytes received)`));
  };
}

function ignore(): void {}

/**
 * Reads the request body into one Buffer of at most `max` bytes within `timeoutMs` (Infinity: no
 * limit). Rejects with a
 * GatewayError (413, 408) or a BodyAbortedError.
 */
export function readBody(req: AnyRequest, max: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    new BodyReader(req, max, timeoutMs, resolve, reject);
  });
}
