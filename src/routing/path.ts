/**
 * Request-target normalisation. The router, every policy and the upstream all see the same
 * normalised path, so `/public/../admin`, `/admin//x` or `/%61dmin` cannot reach a route that
 * `/admin` would not (RFC 3986 §6.2.2: case and percent-encoding normalisation, §5.2.4: dot segments).
 *
 * Rejected with 400: encoded `/` or `\` (the backend would see another path than the router),
 * encoded NUL and control bytes, malformed escapes, a fragment, anything but origin-form.
 */
import { GatewayError } from '../errors/gateway-error.ts';

export interface Target {
  /** Normalised path, percent-escapes of unreserved characters decoded, others upper-cased. */
  path: string;
  /** Raw query string without `?` ('' when absent); never rewritten. */
  query: string;
}

const HEX = '0123456789ABCDEF';

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** pchar / "/" per RFC 3986, minus "%": the bytes that may stand literally in a path. */
const PATH_OK = new Uint8Array(128);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/") {
  PATH_OK[ch.charCodeAt(0)] = 1;
}

export function parseTarget(raw: string): Target {
  const q = raw.indexOf('?');
  const rawPath = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? '' : raw.slice(q + 1);
  if (rawPath.charCodeAt(0) !== 47 /* / */) {
    throw new GatewayError('PCL_REQUEST_BAD_PATH', `request target is not origin-form: ${raw.slice(0, 64)}`);
  }
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 35 /* # */) {
      throw new GatewayError('PCL_REQUEST_BAD_PATH', 'invalid byte in query string');
    }
  }
  return { path: normalizePath(rawPath), query };
}

/** Fast path: a path of plain safe characters with no `//`, `/.` or `%` is already normal. */
export function normalizePath(rawPath: string): string {
  let simple = true;
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c >= 128 || PATH_OK[c] !== 1) {
      if (c === 37 /* % */) {
        simple = false;
        continue;
      }
      throw new GatewayError('PCL_REQUEST_BAD_PATH', `invalid byte 0x${c.toString(16)} in path`);
    }
    if (c === 47 && i + 1 < rawPath.length) {
      const n = rawPath.charCodeAt(i + 1);
      if (n === 47 || n === 46) simple = false;
    }
  }
  if (simple) return rawPath;
  return removeDotSegments(decodeUnreserved(rawPath));
}

function decodeUnreserved(p: string): string {
  if (!p.includes('%')) return p;
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c !== 37) {
      out += p[i];
      continue;
    }
    const hi = hexValue(p.charCodeAt(i + 1));
    const lo = hexValue(p.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) throw new GatewayError('PCL_REQUEST_BAD_PATH', 'malformed percent-escape in path');
    const byte = hi * 16 + lo;
    if (byte === 0x2f || byte === 0x5c) {
      throw new GatewayError('PCL_REQUEST_BAD_PATH', 'encoded slash or backslash in path');
    }
    if (byte < 0x20 || byte === 0x7f) throw new GatewayError('PCL_REQUEST_BAD_PATH', 'encoded control byte in path');
    if (isUnreserved(byte)) out += String.fromCharCode(byte);
    else out += '%' + HEX[hi] + HEX[lo];
    i += 2;
  }
  return out;
}

/** Merge repeated slashes and resolve `.` and `..` (a `..` above the root stays at the root). */
function removeDotSegments(p: string): string {
  const parts = p.split('/');
  const out: string[] = [];
  const trailing = parts.length > 1 && (parts[parts.length - 1] === '' || parts[parts.length - 1] === '.' || parts[parts.length - 1] === '..');
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i] as string;
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    out.push(seg);
  }
  let result = '/' + out.join('/');
  if (trailing && out.length > 0) result += '/';
  return result;
}
