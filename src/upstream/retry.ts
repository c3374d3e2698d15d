/**
 * When a failed try may be sent again, and how many retries an upstream can afford.
 *
 * A retry is safe only when the backend cannot have acted on the request, or acting twice is harmless:
 * - the connection failed before any byte of the request was written (any method), or
 * - the method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE, TRACE) — or the route
 *   opted in with `retryNonIdempotent` and the request carries an `Idempotency-Key` — and the body can
 *   be sent again (none, or buffered whole), and nothing of the response reached the client yet.
 *
 * The budget (Finagle / Linkerd style) caps retries at `ratio` of the requests over a sliding window,
 * plus a small floor so that a quiet upstream can still retry: a failing backend gets at most
 * `1 + ratio` times its normal load, never `1 + retries` times.
 */

import { PairWindow } from './window.ts';

export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export interface RetryBudgetSpec {
  /** Retries allowed per request over the window, e.g. 0.2. */
  ratio: number;
  /** Retries always allowed per window, whatever the traffic. */
  minRetries: number;
  /** Sliding window, ms. */
  window: number;
}

export class RetryBudget {
  /** Milliseconds, monotonic; replaced by tests (the window reads it through a wrapper). */
  clock: () => number;
  private readonly spec: RetryBudgetSpec;
  /** Requests (first tries) and retries over the window. */
  private readonly window: PairWindow;

  constructor(spec: RetryBudgetSpec, clock: () => number = () => performance.now()) {
    this.spec = spec;
    this.clock = clock;
    this.window = new PairWindow(spec.window, () => this.clock());
  }

  /** Counts one request (its first try). */
  request(): void {
    this.window.add(1, 0);
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    const [requests, retries] = this.window.totals();
    if (retries + 1 > this.spec.minRetries + this.spec.ratio * requests) return false;
    this.window.add(0, 1);
    return true;
  }
}

/** What went wrong with one try, as far as retrying is concerned. */
export type TryFailure =
  /** Nothing of the request was written: connection refused, connect timeout, TLS handshake failed. */
  | 'not-sent'
  /** The request was (maybe partly) sent: reset, timeout, malformed response, or a retryable status. */
  | 'sent';

export interface RetryQuestion {
  failure: TryFailure;
  method: string;
  /** The route opted in to retrying non-idempotent requests that carry Idempotency-Key. */
  nonIdempotentOptIn: boolean;
  hasIdempotencyKey: boolean;
  /** The body can be sent again: none, or buffered whole. */
  replayableBody: boolean;
  /** The request body stream was not touched (only for `not-sent`). */
  bodyUntouched: boolean;
  /** Some of the response already went to the client. */
  responseStarted: boolean;
}

/** The safety rule alone (attempts, budget and deadline are checked by the caller). */
export function safeToRetry(q: RetryQuestion): boolean {
  if (q.responseStarted) return false;
  if (q.failure === 'not-sent') return q.replayableBody || q.bodyUntouched;
  if (!q.replayableBody) return false;
  if (IDEMPOTENT_METHODS.has(q.method)) return true;
  return q.nonIdempotentOptIn && q.hasIdempotencyKey;
}
