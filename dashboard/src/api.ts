// Every admin call carries the token in the Authorization header; the token lives in sessionStorage
// only (gone when the browser session ends) and never in a URL.

const KEY = 'portcullis.adminToken';

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Called when the server refuses the token (the app goes back to the login form). */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token === null ? extra : { ...extra, authorization: `Bearer ${token}` };
}

export async function api<T>(path: string, init: { method?: string; body?: string; headers?: Record<string, string>; token?: string } = {}): Promise<T> {
  const h = init.token !== undefined ? { ...(init.headers ?? {}), authorization: `Bearer ${init.token}` } : headers(init.headers);
  const res = await fetch(path, { method: init.method ?? 'GET', headers: h, cache: 'no-store', credentials: 'omit', ...(init.body !== undefined ? { body: init.body } : {}) });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') body = JSON.parse(text);
  if (res.status === 401 && init.token === undefined) onUnauthorized();
  if (!res.ok) {
    const detail = typeof body === 'object' && body !== null ? ((body as { detail?: string; title?: string }).detail ?? (body as { title?: string }).title) : undefined;
    throw new ApiError(res.status, `${res.status}${detail ? `: ${detail}` : ''}`, body);
  }
  return body as T;
}

export interface DecisionEntry { stage: string; decision: 'allow' | 'deny' | 'shadow-deny' | 'skip'; code?: string; detail?: string; ms: number }
export interface LivePoint { t: number; requests: number; errors: number; p50: number | null; p99: number | null; rejections: Record<string, number> }
export interface Rejection {
  seq: number; time: number; route: string | null; method: string; path: string; status: number; code: string | null; reason: string | null;
  clientIp: string; consumer: string | null; stage: string; shadow: boolean; decisions: DecisionEntry[];
}
export interface RouteCounters { requests: number; errors: number; rejections: number; shadowRejections: number }
export interface UpstreamLive { requests: number; errors: number; p50: number | null; p99: number | null }
export interface TopEntry { key: string; count: number }
export interface Counters {
  routes: Record<string, RouteCounters>;
  upstreams: Record<string, UpstreamLive>;
  threats: Record<string, { blocked: number; detected: number }>;
  topClientIps: TopEntry[];
  topConsumers: TopEntry[];
  /** Cluster primary (server.workers > 1) only: how many workers' live data this holds. */
  workers?: { answered: number; total: number };
}
export interface Snapshot extends Counters { now: number; windowSeconds: number; series: LivePoint[]; rejections: Rejection[]; lastSeq: number }
export interface Tick extends Counters { point: LivePoint; rejections: Rejection[]; lastSeq: number }

/**
 * GET /events read with fetch() (EventSource cannot send the Authorization header). Calls `onTick`
 * for each `tick` event; reconnects after 2 s when the stream ends, until `stop()` is called.
 */
export function subscribe(after: () => number, onTick: (t: Tick) => void, onState: (connected: boolean) => void): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  const run = async (): Promise<void> => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const res = await fetch(`/events?after=${after()}`, { headers: headers({ accept: 'text/event-stream' }), cache: 'no-store', credentials: 'omit', signal: controller.signal });
        if (res.status === 401) {
          onUnauthorized();
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`events: ${res.status}`);
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (event === 'tick' && data !== '') onTick(JSON.parse(data) as Tick);
          }
        }
      } catch {
        // network error or abort: retry below unless stopped
      }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 2000));
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}
