/**
 * Logs: pino for the operational log (stderr) and for the access log (one JSON line per request).
 * Secrets never reach either: request headers are not logged, and query parameters whose names
 * suggest credentials are redacted.
 */
import pino, { type Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.ts';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'portcullis' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
}

/** Query parameters whose values are never logged (lower-case names). */
export const SECRET_QUERY_PARAMS = new Set([
  'access_token', 'id_token', 'refresh_token', 'token', 'api_key', 'apikey', 'api-key', 'key', 'x-api-key',
  'password', 'passwd', 'pwd', 'secret', 'client_secret', 'code', 'sig', 'signature', 'auth', 'authorization',
  'session', 'sessionid', 'jwt',
]);

export function redactQuery(query: string, secret: ReadonlySet<string> = SECRET_QUERY_PARAMS): string {
  if (query === '') return '';
  let out = '';
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    out += (out ? '&' : '') + (eq !== -1 && secret.has(name.toLowerCase()) ? `${rawName}=[REDACTED]` : pair);
  }
  return out;
}

export interface AccessLog {
  write(ctx: RequestContext, now: number, userAgent: string | undefined): void;
  flush(): Promise<void>;
}

export function createAccessLog(target: string): AccessLog {
  if (target === 'off') return { write() {}, flush: async () => {} };
  // Lines are batched into writes of at least 4 KiB (one syscall per ~15 lines instead of per line)
  // and flushed at least every 250 ms, so a quiet gateway's log is never more than that behind.
  const dest = target === 'stdout'
    ? pino.destination({ fd: 1, sync: false, minLength: 4096 })
    : pino.destination({ dest: target, sync: false, mkdir: true, minLength: 4096 });
  const flusher = setInterval(() => {
    try {
      dest.flush();
    } catch {
      // not open yet
    }
  }, 250);
  flusher.unref();
  return {
    // The line pino's `logger.info(record)` would write (same keys, order and escaping; absent fields
    // left out), built directly: the access record has a fixed shape, so pino's generic serialiser,
    // its per-line ISO timestamp and its object walk are work for nothing (~3.5% of a loaded
    // gateway's CPU with the log on). Strings go through JSON.stringify; the timestamp is formatted
    // once per millisecond.
    write(ctx, now, userAgent) {
      let line = `{"level":30,"time":"${isoNow()}","type":"access","requestId":${JSON.stringify(ctx.requestId)},"method":${JSON.stringify(ctx.method)},"host":${JSON.stringify(ctx.host)},"path":${JSON.stringify(ctx.path)}`;
      if (ctx.query !== '') line += `,"query":${JSON.stringify(redactQuery(ctx.query))}`;
      line += `,"proto":${JSON.stringify(ctx.httpVersion)},"tls":${ctx.secure},"clientIp":${JSON.stringify(ctx.clientIp)}`;
      if (ctx.peerIp !== ctx.clientIp) line += `,"peerIp":${JSON.stringify(ctx.peerIp)}`;
      if (ctx.route !== undefined) line += `,"route":${JSON.stringify(ctx.route.name)}`;
      if (ctx.upstream !== undefined) line += `,"upstream":${JSON.stringify(ctx.upstream.name)}`;
      if (ctx.target !== undefined) line += `,"target":${JSON.stringify(ctx.target.origin)}`;
      line += `,"status":${ctx.status}`;
      if (ctx.errorCode !== undefined) line += `,"code":${JSON.stringify(ctx.errorCode)}`;
      if (ctx.errorReason !== undefined) line += `,"reason":${JSON.stringify(ctx.errorReason)}`;
      line += `,"bytesOut":${ctx.bytesOut},"durationMs":${round(now - ctx.startedAt)}`;
      if (ctx.upstreamMs >= 0) line += `,"upstreamMs":${round(ctx.upstreamMs)}`;
      if (ctx.decisions.length > 0) line += `,"decisions":${JSON.stringify(ctx.decisions)}`;
      if (ctx.notes !== undefined) line += `,"notes":${JSON.stringify(ctx.notes)}`;
      if (userAgent !== undefined) line += `,"userAgent":${JSON.stringify(userAgent)}`;
      dest.write(`${line}}\n`);
    },
    flush: () =>
      new Promise<void>((resolve) => {
        clearInterval(flusher);
        try {
          dest.flush(() => resolve());
        } catch {
          resolve();
        }
      }),
  };
}

let isoMs = -1;
let isoText = '';
/** `new Date().toISOString()`, formatted at most once per millisecond. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * The access log with something else that wants every finished request (metrics, span export):
 * writing the log line is the one place every request passes, whatever its outcome.
 */
export function observedAccessLog(log: AccessLog, observe: (ctx: RequestContext, now: number) => void): AccessLog {
  return {
    write(ctx, now, userAgent) {
      observe(ctx, now);
      log.write(ctx, now, userAgent);
    },
    flush: () => log.flush(),
  };
}
