/**
 * What the upstream receives as request headers: the client's end-to-end headers minus hop-by-hop
 * ones (RFC 9110 §7.6.1, including those named in Connection) and minus every header the gateway
 * owns, which it then sets itself: X-Forwarded-For/-Proto/-Host, Forwarded (RFC 7239), X-Real-IP,
 * X-Request-Id. Client copies of those are believed only from server.trustedProxies.
 */

/** Never forwarded as received (lower-case). Host is set by the upstream client from the target. */
export const REQUEST_SKIP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'http2-settings',
  // Replaced by the gateway's own trace context (src/observability/tracing.ts).
  'traceparent',
  'tracestate',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
  'x-request-id',
]);

/** Never passed back to the client (lower-case): hop-by-hop, and backend fingerprints. */
export const RESPONSE_SKIP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'server',
  'x-powered-by',
  'x-aspnet-version',
  'x-aspnetmvc-version',
]);

/** Tokens of a Connection header that name further hop-by-hop headers (lower-case). */
const NO_TOKENS: string[] = [];

export function connectionTokens(value: string): string[] {
  // The common values name no further header: no split, no allocation.
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return NO_TOKENS;
  }
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t && t !== 'close' && t !== 'keep-alive') out.push(t);
  }
  return out;
}

/** RFC 7239 node: IPv6 in brackets and quotes. */
export function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:\-]{1,128}$/;

export function isValidRequestId(id: string): boolean {
  return REQUEST_ID_RE.test(id);
}
