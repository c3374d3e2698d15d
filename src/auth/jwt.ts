/**
 * JWT authenticator (RFC 7519, RFC 8725 best practices) on jose. Checks in order: token shape and
 * size; `alg` in the configured list (never taken from the token: `none` in any casing fails here);
 * `kid` only as a lookup key; signature; `crit` (unknown → reject, by jose); `iss`, `aud`, `exp`,
 * `nbf` with clock tolerance; `iat` not in the future; `typ` and required claims when configured.
 * `jku`, `x5u`, `jwk` and `x5c` are never followed or trusted. Verified tokens are cached by hash
 * until at most their `exp`.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { ABSENT, invalid, readToken, type AuthInput, type AuthResult, type Authenticator, type CredentialLocation, type TokenLocation } from './authenticator.ts';
import { identityFromClaims, type IdentityMapping } from './identity.ts';
import { KeyUnavailableError, UnknownKeyError, type KeySource } from './jwks.ts';
import { credentialKey, TokenCache } from './token-cache.ts';

export interface JwtOptions {
  name: string;
  issuer: string[] | undefined;
  audience: string[] | undefined;
  algorithms: string[];
  clockToleranceSec: number;
  typ: string | undefined;
  requiredClaims: string[];
  keys: KeySource;
  token: TokenLocation;
  identity: IdentityMapping;
  cacheTtlMs: number;
  cacheMaxEntries: number;
  maxTokenBytes: number;
  now?: () => number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const KID_RE = /^[\x21-\x7e]{1,256}$/;

export class JwtAuthenticator implements Authenticator {
  readonly name: string;
  readonly type = 'jwt' as const;
  readonly scheme = 'Bearer' as const;
  readonly location: CredentialLocation;
  readonly cache: TokenCache;
  private readonly o: JwtOptions;
  private readonly algorithms: ReadonlySet<string>;
  private readonly now: () => number;

  constructor(options: JwtOptions) {
    this.o = options;
    this.name = options.name;
    this.location = { header: options.token.header, cookie: options.token.cookie };
    this.algorithms = new Set(options.algorithms);
    this.now = options.now ?? Date.now;
    this.cache = new TokenCache(options.cacheMaxEntries, this.now);
  }

  get stats(): Readonly<Record<string, number>> {
    const keys = this.o.keys;
    return {
      cache_hit: this.cache.hits,
      cache_miss: this.cache.misses,
      jwks_fetch_ok: keys.fetchesOk ?? 0,
      jwks_fetch_failed: keys.fetchesFailed ?? 0,
    };
  }

  authenticate(input: AuthInput): AuthResult | Promise<AuthResult> {
    const token = readToken(input.headers, this.o.token);
    if (token === undefined) return ABSENT;
    if (token.length > this.o.maxTokenBytes) return invalid(`token of ${token.length} bytes`);
    // A cache hit is a token that passed every check before (the key is its SHA-256).
    const key = credentialKey(token);
    const cached = this.cache.get(key);
    if (cached) return { outcome: 'ok', identity: cached };
    if (!JWT_SHAPE.test(token)) return invalid('not a JWS compact serialization');
    return this.verify(token, key);
  }

  private async verify(token: string, cacheKey: string): Promise<AuthResult> {
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalid('malformed JOSE header');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !this.algorithms.has(alg)) {
      return invalid(`alg ${JSON.stringify(alg ?? null).slice(0, 40)} is not allowed`);
    }
    const kid = header.kid;
    if (kid !== undefined && (typeof kid !== 'string' || !KID_RE.test(kid))) return invalid('malformed kid');
    let verifyKey;
    try {
      verifyKey = await this.o.keys.getKey(kid, alg);
    } catch (err) {
      if (err instanceof UnknownKeyError) return invalid(err.message);
      if (err instanceof KeyUnavailableError) return { outcome: 'unavailable', reason: err.message };
      return { outcome: 'unavailable', reason: `key lookup failed: ${(err as Error).message}` };
    }
    let payload: JWTPayload;
    const nowMs = this.now();
    try {
      const result = await jwtVerify(token, verifyKey, {
        algorithms: [alg],
        ...(this.o.issuer ? { issuer: this.o.issuer } : {}),
        ...(this.o.audience ? { audience: this.o.audience } : {}),
        ...(this.o.typ ? { typ: this.o.typ } : {}),
        clockTolerance: this.o.clockToleranceSec,
        requiredClaims: this.o.requiredClaims,
        currentDate: new Date(nowMs),
      });
      payload = result.payload;
    } catch (err) {
      return invalid(describeJoseError(err));
    }
    const nowSec = nowMs / 1000;
    if (typeof payload.iat === 'number' && payload.iat > nowSec + this.o.clockToleranceSec) {
      return invalid('iat is in the future');
    }
    const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
    const identity = identityFromClaims(this.name, 'jwt', payload as Record<string, unknown>, this.o.identity, expiresAt);
    this.cache.set(cacheKey, identity, this.o.cacheTtlMs);
    return { outcome: 'ok', identity };
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'token not yet valid (nbf)';
    return `claim ${err.claim} ${err.reason}`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'alg not allowed';
  if (err instanceof errors.JOSENotSupported) return `not supported: ${(err as Error).message}`;
  if (err instanceof errors.JOSEError) return `${err.code}: ${err.message}`;
  return `verification error: ${(err as Error).message}`;
}
