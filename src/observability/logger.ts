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
  const logger = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'msg' }, dest);
  return {
    write(ctx, now, userAgent) {
      logger.info({
        type: 'access',
        requestId: ctx.requestId,
        method: ctx.method,
        host: ctx.host,
        path: ctx.path,
        query: ctx.query === '' ? undefined : redactQuery(ctx.query),
        proto: ctx.httpVersion,
        tls: ctx.secure,
        clientIp: ctx.clientIp,
        peerIp: ctx.peerIp === ctx.clientIp ? undefined : ctx.peerIp,
        route: ctx.route?.name,
        upstream: ctx.upstream?.name,
        target: ctx.target?.origin,
        status: ctx.status,
        code: ctx.errorCode,
        reason: ctx.errorReason,
        bytesOut: ctx.bytesOut,
        durationMs: round(now - ctx.startedAt),
        upstreamMs: ctx.upstreamMs >= 0 ? round(ctx.upstreamMs) : undefined,
        decisions: ctx.decisions.length > 0 ? ctx.decisions : undefined,
        notes: ctx.notes,
        userAgent,
      });
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
