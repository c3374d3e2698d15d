/** Per-request state that flows through the pipeline, and the decision record it accumulates. */
import type { TraceState } from '../observability/tracing.ts';
import type { CompiledRoute } from '../config/gateway.ts';
import type { Identity } from '../auth/identity.ts';
import type { AnyRequest } from '../upstream/proxy.ts';
import type { Target, Upstream } from '../upstream/upstream.ts';

export type Decision = 'allow' | 'deny' | 'shadow-deny' | 'skip';

export interface DecisionEntry {
  stage: string;
  decision: Decision;
  code?: string;
  detail?: string;
  ms: number;
}

export class RequestContext {
  readonly requestId: string;
  readonly startedAt: number;
  readonly method: string;
  /** Lower-case host without port. */
  readonly host: string;
  readonly path: string;
  readonly query: string;
  readonly clientIp: string;
  readonly peerIp: string;
  readonly secure: boolean;
  readonly httpVersion: string;
  /** The client request (headers, socket); stages read it, only the proxy consumes its body. */
  readonly request: AnyRequest;
  /** Set by the authenticate stage. */
  identity: Identity | undefined = undefined;
  /**
   * The request body, read whole by the handler before the first stage that needs it (validate);
   * undefined when no stage needs it or the request has none. Forwarded to the upstream unchanged.
   */
  body: Buffer | undefined = undefined;
  /** The body as the validate stage parsed it (JSON value, form fields, text): later stages reuse it, nothing parses twice. */
  parsedBody: unknown = undefined;
  route: CompiledRoute | undefined = undefined;
  params: string[] = [];
  prefixLength = -1;
  upstream: Upstream | undefined = undefined;
  target: Target | undefined = undefined;
  upstreamStartedAt = 0;
  upstreamMs = -1;
  status = 0;
  errorCode: string | undefined = undefined;
  errorReason: string | undefined = undefined;
  decisions: DecisionEntry[] = [];
  /** Headers stages add to the response (RateLimit fields, ...), on success and on rejection; created on first use. */
  responseHeaders: Record<string, string> | undefined = undefined;
  /** Notes for the access log (store fallbacks, consumer tiers); created on first use. */
  notes: string[] | undefined = undefined;

  note(text: string): void {
    (this.notes ??= []).push(text);
  }
  private finishers: (() => void)[] | undefined = undefined;

  /** Registers work for the end of the exchange (releasing a concurrency slot), whatever its outcome. */
  onFinish(fn: () => void): void {
    (this.finishers ??= []).push(fn);
  }

  /** Runs the registered end-of-exchange work once. */
  finish(): void {
    const f = this.finishers;
    if (f === undefined) return;
    this.finishers = undefined;
    for (const fn of f) fn();
  }
  bytesOut = 0;
  /** A described request run by `explain` (admin API, CLI): stages must not change shared state (no charges, no failure counts). */
  explain = false;
  /** W3C trace context (set by the handler at the start of the request). */
  trace: TraceState | undefined = undefined;

  constructor(init: {
    requestId: string;
    startedAt: number;
    method: string;
    host: string;
    path: string;
    query: string;
    clientIp: string;
    peerIp: string;
    secure: boolean;
    httpVersion: string;
    request: AnyRequest;
  }) {
    this.requestId = init.requestId;
    this.startedAt = init.startedAt;
    this.method = init.method;
    this.host = init.host;
    this.path = init.path;
    this.query = init.query;
    this.clientIp = init.clientIp;
    this.peerIp = init.peerIp;
    this.secure = init.secure;
    this.httpVersion = init.httpVersion;
    this.request = init.request;
  }
}
