/**
 * OAuth 2.0 Token Introspection (RFC 7662). The gateway authenticates to the endpoint as a client
 * (HTTP Basic or client_secret_post), caches `active: true` answers for min(cacheTtl, exp - now)
 * keyed by a hash of the token, and shares one call among concurrent requests with the same token.
 * `active: false` (or a missing `active`) is 401. A timeout, a non-200 answer or invalid JSON is
 * "unavailable" (503 by default, 401 with onError: unauthorized) and is never cached.
 */
import { request } from 'undici';
import { ABSENT, invalid, readToken, type AuthInput, type AuthResult, type Authenticator, type CredentialLocation, type TokenLocation } from './authenticator.ts';
import { identityFromClaims, type IdentityMapping } from './identity.ts';
import { credentialKey, TokenCache } from './token-cache.ts';

export interface IntrospectionOptions {
  name: string;
  endpoint: string;
  clientId: string;
  clientSecret: string;
  clientAuth: 'basic' | 'post';
  timeoutMs: number;
  cacheTtlMs: number;
  cacheMaxEntries: number;
  maxResponseBytes: number;
  onError: 'unavailable' | 'unauthorized';
  token: TokenLocation;
  identity: IdentityMapping;
  now?: () => number;
}

export class IntrospectionAuthenticator implements Authenticator {
  readonly name: string;
  readonly type = 'introspection' as const;
  readonly scheme = 'Bearer' as const;
  readonly location: CredentialLocation;
  readonly cache: TokenCache;
  private readonly o: IntrospectionOptions;
  private readonly now: () => number;
  private readonly inflight = new Map<string, Promise<AuthResult>>();
  private readonly authorization: string | undefined;
  calls = 0;

  constructor(options: IntrospectionOptions) {
    this.o = options;
    this.name = options.name;
    this.location = { header: options.token.header, cookie: options.token.cookie };
    this.now = options.now ?? Date.now;
    this.cache = new TokenCache(options.cacheMaxEntries, this.now);
    // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
    this.authorization = options.clientAuth === 'basic'
      ? 'Basic ' + Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')
      : undefined;
  }

  /** Endpoint calls that failed (timeout, 5xx, invalid answer): never cached. */
  failures = 0;

  get stats(): Readonly<Record<string, number>> {
    return { cache_hit: this.cache.hits, cache_miss: this.cache.misses, introspection_call: this.calls, introspection_failed: this.failures };
  }

  authenticate(input: AuthInput): AuthResult | Promise<AuthResult> {
    const token = readToken(input.headers, this.o.token);
    if (token === undefined) return ABSENT;
    if (token.length > 8192) return invalid('token too long');
    const key = credentialKey(token);
    const cached = this.cache.get(key);
    if (cached) return { outcome: 'ok', identity: cached };
    let p = this.inflight.get(key);
    if (!p) {
      p = this.introspect(token, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async introspect(token: string, key: string): Promise<AuthResult> {
    this.calls++;
    let body = `token=${encodeURIComponent(token)}&token_type_hint=access_token`;
    if (this.o.clientAuth === 'post') body += `&client_id=${encodeURIComponent(this.o.clientId)}&client_secret=${encodeURIComponent(this.o.clientSecret)}`;
    let doc: Record<string, unknown>;
    try {
      const res = await request(this.o.endpoint, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
        signal: AbortSignal.timeout(this.o.timeoutMs),
        headersTimeout: this.o.timeoutMs,
        bodyTimeout: this.o.timeoutMs,
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return this.failure(`introspection endpoint answered ${res.statusCode}`);
      }
      let text = '';
      for await (const chunk of res.body) {
        text += String(chunk);
        if (text.length > this.o.maxResponseBytes) {
          res.body.destroy();
          return this.failure('introspection response too large');
        }
      }
      const parsed: unknown = JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return this.failure('introspection response is not a JSON object');
      doc = parsed as Record<string, unknown>;
    } catch (err) {
      return this.failure(`introspection failed: ${(err as Error).name}: ${(err as Error).message}`);
    }
    if (doc.active !== true) return invalid('token is not active');
    const nowMs = this.now();
    const exp = typeof doc.exp === 'number' ? doc.exp * 1000 : undefined;
    if (exp !== undefined && exp <= nowMs) return invalid('introspection says active but exp has passed');
    if (typeof doc.nbf === 'number' && doc.nbf * 1000 > nowMs) return invalid('token not yet valid (nbf)');
    const identity = identityFromClaims(this.name, 'introspection', doc, this.o.identity, exp);
    this.cache.set(key, identity, this.o.cacheTtlMs);
    return { outcome: 'ok', identity };
  }

  private failure(reason: string): AuthResult {
    this.failures++;
    return this.o.onError === 'unauthorized' ? invalid(reason) : { outcome: 'unavailable', reason };
  }
}

function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+');
}
