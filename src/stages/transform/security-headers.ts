/**
 * Security headers added to every response — proxied, or answered by the gateway (problem+json
 * errors, CORS preflights) — that does not already carry them: a backend's own header (or one the
 * route sets in transform.response) wins. Defaults: `X-Content-Type-Options: nosniff` and
 * `Referrer-Policy: no-referrer` (an API has no use for sending its URLs to third parties);
 * X-Frame-Options and Content-Security-Policy are opt-in. HSTS is server.https.hsts.
 */
import type { ConfigIssue } from '../../config/errors.ts';
import type { RawSecurityHeaders } from './schema.ts';

/** [lower-case name, value] pairs, compiled once. */
export type SecurityHeaderList = readonly (readonly [string, string])[];

export const DEFAULT_SECURITY_HEADERS: SecurityHeaderList = [
  ['x-content-type-options', 'nosniff'],
  ['referrer-policy', 'no-referrer'],
];

/** Field values allowed in a header (RFC 9110 §5.5). */
const SAFE_VALUE = /^[\t\x20-\x7e]*$/;

/** `at` is the key's path (`defaults.securityHeaders`, `routes[2].securityHeaders`). */
export function compileSecurityHeaders(raw: RawSecurityHeaders | undefined, at: string, issues: ConfigIssue[]): SecurityHeaderList {
  if (raw === undefined) return DEFAULT_SECURITY_HEADERS;
  if (raw === false) return [];
  const out: [string, string][] = [];
  if (raw.contentTypeOptions !== false) out.push(['x-content-type-options', 'nosniff']);
  const referrer = raw.referrerPolicy ?? 'no-referrer';
  if (referrer !== false) out.push(['referrer-policy', referrer]);
  if (raw.frameOptions) out.push(['x-frame-options', raw.frameOptions]);
  if (raw.contentSecurityPolicy && !SAFE_VALUE.test(raw.contentSecurityPolicy)) {
    issues.push({ path: `${at}.contentSecurityPolicy`, message: 'must not contain control characters (CR, LF, ...)' });
  } else if (raw.contentSecurityPolicy) out.push(['content-security-policy', raw.contentSecurityPolicy]);
  return out;
}
