/** The contract every authenticator implements, and where credentials are read from. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from './identity.ts';

export interface AuthInput {
  headers: IncomingHttpHeaders;
  /** Raw query string without `?`. */
  query: string;
  /** The client socket (TLS for mTLS), when there is one. */
  socket: unknown;
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
  readonly scheme: 'Bearer' | 'ApiKey' | 'mTLS';
  authenticate(input: AuthInput): AuthResult | Promise<AuthResult>;
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
