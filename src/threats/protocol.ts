/**
 * Protocol anomalies and attacks on the HTTP layer (detector `protocol`), and LDAP filter injection
 * (detector `ldap`).
 *
 * Per value (from the normalisation flags and the decoded text):
 * - `protocol.nul-byte`, `protocol.overlong-utf8`, `protocol.percent-u`: encodings no conforming
 *   client produces, used to slip past filters (critical);
 * - `protocol.double-encoding`, `protocol.invalid-utf8`, `protocol.bad-escape`,
 *   `protocol.control-char`: warnings at paranoia 1, critical from 2;
 * - `protocol.header-injection`: a line break followed by a header field (`%0d%0aSet-Cookie:`) or
 *   in a parameter name; `protocol.response-splitting`: a line break followed by markup;
 *   `protocol.request-smuggling`: a request line (`GET /x HTTP/1.1`) inside a value.
 * Per request:
 * - `protocol.body-on-get` (GET/HEAD with a body), `protocol.range` (more than 5 ranges, the
 *   obsolete Request-Range), `protocol.charset` (a charset other than UTF-8 / Latin-1, or two),
 *   `protocol.content-type` (a `boundary` on a non-multipart type), `protocol.restricted-header`
 *   (`Proxy` — httpoxy — and `X-Middleware-Subrequest`; at paranoia 2 also method overrides,
 *   `Lock-Token`, `If`, `Content-Range`), `protocol.method-override` (`_method=`, paranoia 2),
 *   `protocol.user-agent` (empty: notice; missing: notice at paranoia 2).
 */
import {
  F_BAD_ESCAPE,
  F_CONTROL,
  F_CRLF,
  F_INVALID_UTF8,
  F_MULTI_ENCODED,
  F_NUL,
  F_OVERLONG_UTF8,
  F_PERCENT_U,
} from './normalize.ts';
import { C_ANGLE, C_NEWLINE, C_PAREN, C_SLASH, CRITICAL, hit, NOTICE, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

export function detectProtocolValue(value: string, paranoia: Paranoia, info: ValueInfo): Hit | null {
  const f = info.flags;
  if (f === 0 && (info.chars & (C_NEWLINE | C_SLASH | C_ANGLE)) === 0) return null;
  if (f !== 0) {
    if (f & F_NUL) return hit('protocol.nul-byte', CRITICAL, 'NUL byte');
    if (f & F_OVERLONG_UTF8) return hit('protocol.overlong-utf8', CRITICAL, 'overlong UTF-8 encoding');
    if (f & F_PERCENT_U) return hit('protocol.percent-u', CRITICAL, 'IIS %u encoding');
  }
  if (f & F_CRLF || value.includes('\n')) {
    if (info.key) return hit('protocol.header-injection', CRITICAL, 'line break in a parameter name');
    const h = /\n\s*(?:content-(?:length|type|disposition|encoding|security-policy|location)|set-cookie2?|location|refresh|host|transfer-encoding|connection|x-[a-z0-9-]+|remote-addr|cache-control|access-control-[a-z-]+|www-authenticate|authorization|cookie|user-agent|referer|origin|x-forwarded-[a-z]+|forwarded|link|expires|last-modified|pragma|status|http-equiv)\s*:/.exec(value);
    if (h !== null) return hit('protocol.header-injection', CRITICAL, 'line break followed by a header field', h.index);
    const r = /\n\s*(?:http\/\d|<\s*(?:html|meta|script|title|body|head|iframe|svg|img)\b)/.exec(value);
    if (r !== null) return hit('protocol.response-splitting', CRITICAL, 'line break followed by a response', r.index);
    const p = /\n[a-z0-9_.\[\]-]{1,32}=/.exec(value);
    if (p !== null && info.location !== 'body') return hit('protocol.header-injection', CRITICAL, 'line break followed by a parameter', p.index);
  }
  if (value.includes('http/')) {
    const s = /(?:^|\n|[^a-z])(?:get|post|head|put|delete|options|connect|trace|patch|propfind)\s+(?:\/|https?:\/\/|\*)\S*\s+http\/\d(?:\.\d)?\b/.exec(value);
    if (s !== null) return hit('protocol.request-smuggling', CRITICAL, 'HTTP request line inside a value', s.index);
  }
  if (value.includes('http-equiv')) {
    const m = /<\s*meta\b[^>]*http-equiv\s*=\s*['"]?\s*(?:refresh|set-cookie|location)/.exec(value);
    if (m !== null) return hit('protocol.response-splitting', CRITICAL, '<meta http-equiv> injection', m.index);
  }
  if (f !== 0) {
    const strict = paranoia >= 2;
    if (f & F_CONTROL) return strict ? hit('protocol.control-char', CRITICAL, 'control character') : null;
    if (f & F_MULTI_ENCODED) return hit('protocol.double-encoding', strict ? CRITICAL : WARNING, 'URL-encoded more than once');
    if (f & F_INVALID_UTF8) return hit('protocol.invalid-utf8', strict ? CRITICAL : WARNING, 'invalid UTF-8 after URL decoding');
    if (f & F_BAD_ESCAPE && (info.location === 'query' || info.location === 'path')) {
      return hit('protocol.bad-escape', strict ? CRITICAL : WARNING, 'malformed percent-escape');
    }
  }
  return null;
}

/** LDAP filter injection: closing the application's filter and opening another (`*)(uid=*`, `)(|(`). */
export function detectLdap(value: string, paranoia: Paranoia, info: ValueInfo): Hit | null {
  if ((info.chars & C_PAREN) === 0 || !value.includes(')') || !value.includes('(')) return null;
  const m = /\)\s*!?\s*\(\s*(?:[&|!]|[a-z][a-z0-9.;-]*\s*[~<>]?=)|\*\s*\)\s*\(|\)\s*\(\s*[&|]\s*\)?$/.exec(value);
  if (m === null) return null;
  // Two LDAP filters side by side is also what a directory search form legitimately sends as a whole.
  if (/^\(\s*[&|!]?\s*\(/.test(value) && paranoia < 2) return null;
  return hit('ldap.injection', CRITICAL, 'LDAP filter injection', m.index);
}

export interface RequestHead {
  method: string;
  /** Lower-case names and values, in order. */
  headers: readonly (readonly [string, string])[];
  hasBody: boolean;
}

export interface RequestHit extends Hit {
  field: string;
}

const ALLOWED_CHARSETS = new Set(['utf-8', 'utf8', 'iso-8859-1', 'iso-8859-15', 'windows-1252', 'us-ascii', 'latin1']);

export function detectProtocolRequest(head: RequestHead, paranoia: Paranoia): RequestHit[] {
  const out: RequestHit[] = [];
  const add = (field: string, h: Hit): void => {
    out.push({ ...h, field });
  };
  let userAgent: string | undefined;
  for (const [name, value] of head.headers) {
    switch (name) {
      case 'user-agent':
        userAgent = value;
        break;
      case 'range': {
        const ranges = value.split(',').length;
        if (ranges > 5) add('header.range', hit('protocol.range', CRITICAL, `${ranges} byte ranges`));
        else if (paranoia >= 3 && !/^\s*bytes\s*=/i.test(value)) add('header.range', hit('protocol.range', WARNING, 'Range without a bytes unit'));
        break;
      }
      case 'request-range':
        add('header.request-range', hit('protocol.range', CRITICAL, 'obsolete Request-Range header'));
        break;
      case 'content-type': {
        const ct = value.toLowerCase();
        const charsets = ct.match(/;\s*charset\s*=\s*"?([^";\s]*)/g) ?? [];
        if (charsets.length > 1) add('header.content-type', hit('protocol.charset', CRITICAL, 'more than one charset'));
        else if (charsets.length === 1) {
          const cs = (charsets[0] as string).replace(/^;\s*charset\s*=\s*"?/, '');
          if (!ALLOWED_CHARSETS.has(cs)) add('header.content-type', hit('protocol.charset', CRITICAL, `charset ${cs.slice(0, 24)}`));
        }
        if (/;\s*boundary\s*=/.test(ct) && !/^\s*multipart\//.test(ct)) add('header.content-type', hit('protocol.content-type', CRITICAL, 'boundary on a non-multipart type'));
        break;
      }
      case 'proxy':
        add('header.proxy', hit('protocol.restricted-header', CRITICAL, 'Proxy header (httpoxy)'));
        break;
      case 'x-middleware-subrequest':
        add('header.x-middleware-subrequest', hit('protocol.restricted-header', CRITICAL, 'X-Middleware-Subrequest'));
        break;
      case 'x-http-method-override':
      case 'x-http-method':
      case 'x-method-override':
      case 'lock-token':
      case 'if':
      case 'content-range':
        if (paranoia >= 2) add(`header.${name}`, hit('protocol.restricted-header', CRITICAL, `restricted header ${name}`));
        break;
    }
  }
  if (head.hasBody && (head.method === 'GET' || head.method === 'HEAD')) {
    add('method', hit('protocol.body-on-get', paranoia >= 2 ? CRITICAL : WARNING, `${head.method} with a body`));
  }
  if (userAgent === undefined) {
    if (paranoia >= 2) add('header.user-agent', hit('protocol.user-agent', NOTICE, 'no User-Agent'));
  } else if (userAgent.trim() === '') {
    add('header.user-agent', hit('protocol.user-agent', NOTICE, 'empty User-Agent'));
  }
  return out;
}
