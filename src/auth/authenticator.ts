/** The contract every authenticator implements, and where credentials are read from. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from './identity.ts';

export interface AuthInput {
  headers: IncomingHttpHeaders;
  /** Raw query string without `?`. */
  query: string;
  /** The client socket (TLS for mTLS), when there is one. */
  socket: unknown;
  /** Request method, raw request target and field lines (HTTP message signatures sign them as sent). */
  method?: string | undefined;
  url?: string | undefined;
  rawHeaders?: readonly string[] | undefined;
  /** The request came over TLS (`@scheme` https). */
  secure?: boolean | undefined;
  /** A described request (`explain`): an authenticator must not change shared state (e.g. record a nonce). */
  explain?: boolean | undefined;
}

export type AuthResult =
  | { readonly outcome: 'ok'; readonly identity: Identity }
  /** The request carries no credential of this kind: try the next authenticator. */
  | { readonly outcome: 'absent' }
  /** A credential is present but not acceptable; `reason` is for the log only. */
  | { readonly outcome: 'invalid'; readonly reason: string }
  /** The credential could not be checked (key set or introspection endpoint down). */
  | { readonly outcome: 'unavailable'; readonly reason: string };

export interface Authenticator {
  readonly name: string;
  readonly type: Identity['type'];
  /** Auth scheme for WWW-Authenticate (RFC 9110 §11.6.1). */
  readonly scheme: 'Bearer' | 'ApiKey' | 'mTLS' | 'Signature';
  /**
   * Where the credential is read from. The authenticate stage refuses a request that gives it more
   * than once: the authenticator reads the first, the whole request goes to the backend, which may
   * read another one (an unverified token next to a valid one).
   */
  readonly location?: CredentialLocation;
  authenticate(input: AuthInput): AuthResult | Promise<AuthResult>;
  /** Counters for the metrics (cache hits and misses, key-set fetches, endpoint calls), read at scrape time. */
  readonly stats: Readonly<Record<string, number>>;
}

/** Lower-case header name, cookie name or query parameter name of a credential. */
export interface CredentialLocation {
  header?: string | undefined;
  cookie?: string | undefined;
  query?: string | undefined;
}

/**
 * The first credential field of `loc` that the request gives more than once (several header fields,
 * or one cookie or query parameter name repeated), or undefined.
 */
export function repeatedCredential(rawHeaders: readonly string[], query: string, loc: CredentialLocation): string | undefined {
  let headerCount = 0;
  let cookieCount = 0;
  const headerLength = loc.header?.length ?? -1;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i] as string;
    // Lower-case only the names of the right length: this runs on every authenticated request.
    if (raw.length !== headerLength && raw.length !== 6) continue;
    const name = raw.toLowerCase();
    if (loc.header !== undefined && name === loc.header && ++headerCount > 1) return `${loc.header} header`;
    if (loc.cookie !== undefined && name === 'cookie') {
      for (const part of (rawHeaders[i + 1] as string).split(';')) {
        const eq = part.indexOf('=');
        if (eq !== -1 && part.slice(0, eq).trim() === loc.cookie && ++cookieCount > 1) return `${loc.cookie} cookie`;
      }
    }
  }
  if (loc.query !== undefined && query !== '') {
    let n = 0;
    for (const pair of query.split('&')) {
      const eq = pair.indexOf('=');
      let key = eq === -1 ? pair : pair.slice(0, eq);
      try {
        key = decodeURIComponent(key.replace(/\+/g, ' '));
      } catch {
        // compare the raw name
      }
      if (key === loc.query && ++n > 1) return `${loc.query} query parameter`;
    }
  }
  return undefined;
}

/**
 * The first credential the request presents in any of `locations` (a header field's whole value, a
 * cookie's or a query parameter's value), unverified: what the brute-force guard counts failures of.
 */
export function presentedCredential(rawHeaders: readonly string[], query: string, locations: readonly CredentialLocation[]): string | undefined {
  for (const loc of locations) {
    if (loc.header !== undefined || loc.cookie !== undefined) {
      const want = loc.header ?? 'cookie';
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const raw = rawHeaders[i] as string;
        if (raw.length !== want.length || raw.toLowerCase() !== want) continue;
        const value = rawHeaders[i + 1] as string;
        if (loc.header !== undefined) return value;
        for (const part of value.split(';')) {
          const eq = part.indexOf('=');
          if (eq !== -1 && part.slice(0, eq).trim() === loc.cookie) return part.slice(eq + 1).trim();
        }
      }
    }
    if (loc.query !== undefined && query !== '') {
      for (const pair of query.split('&')) {
        const eq = pair.indexOf('=');
        if (eq !== -1 && pair.slice(0, eq) === loc.query) return pair.slice(eq + 1);
      }
    }
  }
  return undefined;
}

export const ABSENT: AuthResult = Object.freeze({ outcome: 'absent' });

export function invalid(reason: string): AuthResult {
  return { outcome: 'invalid', reason };
}

/** Where a bearer token is taken from. */
export interface TokenLocation {
  /** Lower-case header name; `authorization` means the Bearer scheme of RFC 6750. */
  header: string | undefined;
  cookie: string | undefined;
}

/** The token of `loc`, or undefined. Only the Bearer scheme is read from Authorization. */
export function readToken(headers: IncomingHttpHeaders, loc: TokenLocation): string | undefined {
  if (loc.header !== undefined) {
    const v = headers[loc.header];
    const value = Array.isArray(v) ? v[0] : v;
    if (value === undefined) return undefined;
    if (loc.header !== 'authorization') return value.trim() || undefined;
    // RFC 6750 §2.1: "Bearer" is case-insensitive; exactly one space-separated token.
    if (value.length < 8 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
    const token = value.slice(7).trim();
    return token === '' ? undefined : token;
  }
  if (loc.cookie !== undefined) {
    const cookie = headers.cookie;
    if (!cookie) return undefined;
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=');
      if (eq !== -1 && part.slice(0, eq).trim() === loc.cookie) return part.slice(eq + 1).trim() || undefined;
    }
  }
  return undefined;
}
