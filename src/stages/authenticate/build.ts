/**
 * Building authenticators from config: every error is collected with its path. Local key files are
 * read here; remote key sets and discovery documents are fetched lazily, so a slow identity provider
 * never blocks a config load.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { importSPKI, importX509, type JWK } from 'jose';
import type { Authenticator, TokenLocation } from '../../auth/authenticator.ts';
import { ApiKeyAuthenticator, HASH_RE } from '../../auth/api-key.ts';
import type { IdentityMapping } from '../../auth/identity.ts';
import { IntrospectionAuthenticator } from '../../auth/introspection.ts';
import { parseJwks, RemoteJwks, StaticKeys, type KeySource } from '../../auth/jwks.ts';
import { JwtAuthenticator } from '../../auth/jwt.ts';
import { MtlsAuthenticator } from '../../auth/mtls.ts';
import { formatPath, type ConfigIssue } from '../../config/errors.ts';
import { parseDuration, parseSize } from '../../config/units.ts';
import type {
  RawApiKeyAuthenticator,
  RawIntrospectionAuthenticator,
  RawJwtAuthenticator,
  RawMtlsAuthenticator,
} from './schema.ts';
import { buildSignature } from './build-signature.ts';
import type { RawSignatureAuthenticator } from './signature-schema.ts';
import type { Store } from '../../store/store.ts';

export type RawAuthenticator = RawJwtAuthenticator | RawIntrospectionAuthenticator | RawApiKeyAuthenticator | RawMtlsAuthenticator | RawSignatureAuthenticator;

export interface AuthBuildContext {
  baseDir: string;
  /** JSON pointers of values that came from ${ENV} substitution (secrets must). */
  envPaths: ReadonlySet<string>;
  issues: ConfigIssue[];
  /** server.https.clientCertificates is configured (mtls authenticators need it). */
  clientCertificates: boolean;
  onJwksFetch?: (authenticator: string, outcome: 'ok' | 'error', error?: Error) => void;
  /** The gateway's store (signature nonces); a process-local one when absent. */
  store?: Store | undefined;
}

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

export async function buildAuthenticators(
  raw: Record<string, RawAuthenticator> | undefined,
  ctx: AuthBuildContext,
): Promise<Map<string, Authenticator>> {
  const out = new Map<string, Authenticator>();
  for (const [name, a] of Object.entries(raw ?? {})) {
    if (name === 'public') {
      ctx.issues.push({ path: `authenticators.public`, message: '"public" is reserved (auth: public opts a route out of authentication)' });
      continue;
    }
    const at = formatPath(['authenticators', name]);
    const env = (key: string): EnvCheck => ({ pointer: `/authenticators/${escapePointer(name)}/${key}`, path: `${at}.${key}` });
    const before = ctx.issues.length;
    let built: Authenticator | undefined;
    switch (a.type) {
      case 'jwt':
        built = await buildJwt(name, a, at, env, ctx);
        break;
      case 'introspection':
        built = buildIntrospection(name, a, at, env, ctx);
        break;
      case 'apiKey':
        built = buildApiKey(name, a, at, env, ctx);
        break;
      case 'mtls':
        built = buildMtls(name, a, at, ctx);
        break;
      case 'signature':
        built = await buildSignature(name, a, at, `/authenticators/${escapePointer(name)}`, { ...ctx, store: ctx.store });
        break;
    }
    if (built && ctx.issues.length === before) out.set(name, built);
  }
  return out;
}

/** A key of an authenticator: its JSON pointer (as the env substitution recorded it) and its path in errors. */
interface EnvCheck {
  pointer: string;
  path: string;
}
type EnvOf = (key: string) => EnvCheck;

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function requireEnv(where: EnvCheck, ctx: AuthBuildContext, what: string): void {
  if (!ctx.envPaths.has(where.pointer)) {
    ctx.issues.push({ path: where.path, message: `${what} must come from an environment variable (write \${NAME}), never from the file itself` });
  }
}

/** An identity provider URL: http(s), a host, no credentials (they would end up in logs). */
function checkUrl(url: string, at: string, ctx: AuthBuildContext): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    ctx.issues.push({ path: at, message: `"${url}" is not a URL` });
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.issues.push({ path: at, message: `"${url}" must use http:// or https://` });
  else if (!u.hostname) ctx.issues.push({ path: at, message: `"${url}" has no host` });
  else if (u.username || u.password) ctx.issues.push({ path: at, message: `"${url}" must not carry credentials` });
}

function tokenLocation(t: { header?: string; cookie?: string } | undefined, at: string, ctx: AuthBuildContext): TokenLocation {
  if (t?.header !== undefined && t.cookie !== undefined) {
    ctx.issues.push({ path: `${at}.token`, message: 'name either a header or a cookie, not both' });
  }
  if (t?.cookie !== undefined) return { header: undefined, cookie: t.cookie };
  return { header: (t?.header ?? 'authorization').toLowerCase(), cookie: undefined };
}

function identityMapping(i: { subject?: string; consumer?: string; scopes?: string; roles?: string; groups?: string } | undefined): IdentityMapping {
  return {
    subject: i?.subject ?? 'sub',
    consumer: i?.consumer,
    scopes: i?.scopes ?? 'scope',
    roles: i?.roles,
    groups: i?.groups,
  };
}

async function buildJwt(name: string, a: RawJwtAuthenticator, at: string, env: EnvOf, ctx: AuthBuildContext): Promise<Authenticator | undefined> {
  const sources = (['jwksUri', 'discovery', 'keys', 'secret'] as const).filter((k) => a[k] !== undefined);
  if (sources.length !== 1) {
    ctx.issues.push({ path: at, message: `needs exactly one key source: jwksUri, discovery, keys or secret (has ${sources.length ? sources.join(', ') : 'none'})` });
    return undefined;
  }
  const algorithms = [...new Set(a.algorithms)];
  const hmac = algorithms.filter((alg) => alg.startsWith('HS'));
  const asymmetric = algorithms.filter((alg) => !alg.startsWith('HS'));
  // Key confusion (RFC 8725 §2.1): one authenticator never mixes HMAC with public-key algorithms.
  // One message per problem: the mix is the problem, whatever the key source.
  if (hmac.length > 0 && asymmetric.length > 0) {
    ctx.issues.push({ path: `${at}.algorithms`, message: 'do not mix HS* with public-key algorithms in one authenticator (key confusion); define two authenticators' });
  } else if (a.secret !== undefined && asymmetric.length > 0) {
    ctx.issues.push({ path: `${at}.algorithms`, message: 'a shared secret works only with HS256, HS384 or HS512' });
  } else if (a.secret === undefined && hmac.length > 0) {
    ctx.issues.push({ path: `${at}.algorithms`, message: 'HS* algorithms need `secret` (from an environment variable)' });
  }
  const jwks = a.jwks ?? {};
  let keys: KeySource | undefined;
  if (a.secret !== undefined) {
    requireEnv(env('secret'), ctx, 'secret');
    const bytes = Buffer.from(a.secret, 'utf8');
    for (const alg of hmac) {
      const min = HMAC_MIN_BYTES[alg] as number;
      if (bytes.length < min) ctx.issues.push({ path: `${at}.secret`, message: `is ${bytes.length} bytes; ${alg} needs at least ${min}` });
    }
    keys = StaticKeys.fromSecret(new Uint8Array(bytes));
  } else if (a.keys !== undefined) {
    const file = path.resolve(ctx.baseDir, a.keys);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      ctx.issues.push({ path: `${at}.keys`, message: `cannot read ${a.keys}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return undefined;
    }
    try {
      keys = await staticKeys(text, asymmetric);
    } catch (err) {
      ctx.issues.push({ path: `${at}.keys`, message: `${a.keys}: ${(err as Error).message}` });
      return undefined;
    }
  } else {
    if (a.jwksUri !== undefined) checkUrl(a.jwksUri, `${at}.jwksUri`, ctx);
    if (a.discovery !== undefined) checkUrl(a.discovery, `${at}.discovery`, ctx);
    const issuer = typeof a.issuer === 'string' ? a.issuer : undefined;
    keys = new RemoteJwks({
      jwksUri: a.jwksUri,
      discoveryUrl: a.discovery,
      expectedIssuer: a.discovery !== undefined ? issuer : undefined,
      timeoutMs: jwks.timeout ? parseDuration(jwks.timeout) : 5_000,
      maxBytes: jwks.maxBytes ? parseSize(jwks.maxBytes) : 512 * 1024,
      maxAgeMs: jwks.maxAge ? parseDuration(jwks.maxAge) : 600_000,
      cooldownMs: jwks.cooldown ? parseDuration(jwks.cooldown) : 30_000,
      onFetch: (outcome, error) => ctx.onJwksFetch?.(name, outcome, error),
    });
    if (a.discovery !== undefined && issuer === undefined) {
      ctx.issues.push({ path: `${at}.issuer`, message: 'discovery needs the expected issuer (one string) to check the discovery document against' });
    }
  }
  const cache = a.cache === false ? { ttl: 0, max: 0 } : { ttl: a.cache?.ttl ? parseDuration(a.cache.ttl) : 300_000, max: a.cache?.maxEntries ?? 10_000 };
  return new JwtAuthenticator({
    name,
    issuer: a.issuer === undefined ? undefined : [a.issuer].flat(),
    audience: a.audience === undefined ? undefined : [a.audience].flat(),
    algorithms,
    clockToleranceSec: a.clockTolerance ? parseDuration(a.clockTolerance) / 1000 : 0,
    typ: a.typ,
    requiredClaims: [...new Set(['exp', ...(a.requiredClaims ?? [])])],
    keys: keys as KeySource,
    token: tokenLocation(a.token, at, ctx),
    identity: identityMapping(a.identity),
    cacheTtlMs: cache.ttl,
    cacheMaxEntries: cache.max,
    maxTokenBytes: a.maxTokenBytes ? parseSize(a.maxTokenBytes) : 8 * 1024,
  });
}

/**
 * Keys of a local file: a JWKS with at least one public key for the configured algorithms, or a PEM
 * public key / certificate that at least one of them can use. Private keys are refused.
 */
async function staticKeys(text: string, algorithms: readonly string[]): Promise<KeySource> {
  if (text.trimStart().startsWith('{')) {
    let jwks: JWK[];
    try {
      jwks = parseJwks(text);
    } catch (err) {
      throw new Error(err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message);
    }
    if (jwks.some((k) => 'd' in k || 'k' in k)) throw new Error('holds private or secret key material; give the public keys only');
    if (algorithms.length === 0) return StaticKeys.fromJwks(jwks); // HS* only: reported at algorithms
    const usable = jwks.filter((k) => (k.use === undefined || k.use === 'sig') && algorithms.some((alg) => ktyFits(k.kty, alg) && (k.alg === undefined || k.alg === alg)));
    if (usable.length === 0) throw new Error(`has no public signing key for ${algorithms.join(', ')}`);
    return StaticKeys.fromJwks(jwks);
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error('is a private key; give the public key or certificate');
  const m = /-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/.exec(text);
  if (!m) throw new Error('expected a JWKS (JSON) or a PEM public key or certificate');
  if (algorithms.length === 0) return StaticKeys.fromPem(text);
  const fits = await Promise.all(
    algorithms.map((alg) => (m[1] === 'CERTIFICATE' ? importX509(text, alg) : importSPKI(text, alg)).then(() => true, () => false)),
  );
  if (!fits.some(Boolean)) throw new Error(`the key fits none of the algorithms ${algorithms.join(', ')}`);
  return StaticKeys.fromPem(text);
}

function ktyFits(kty: unknown, alg: string): boolean {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return kty === 'RSA';
  if (alg.startsWith('ES')) return kty === 'EC';
  if (alg === 'EdDSA') return kty === 'OKP';
  return false;
}

function buildIntrospection(name: string, a: RawIntrospectionAuthenticator, at: string, env: EnvOf, ctx: AuthBuildContext): Authenticator {
  checkUrl(a.endpoint, `${at}.endpoint`, ctx);
  requireEnv(env('clientSecret'), ctx, 'clientSecret');
  return new IntrospectionAuthenticator({
    name,
    endpoint: a.endpoint,
    clientId: a.clientId,
    clientSecret: a.clientSecret,
    clientAuth: a.clientAuth ?? 'basic',
    timeoutMs: a.timeout ? parseDuration(a.timeout) : 2_000,
    cacheTtlMs: a.cacheTtl ? parseDuration(a.cacheTtl) : 60_000,
    cacheMaxEntries: a.cacheMaxEntries ?? 10_000,
    maxResponseBytes: a.maxResponseBytes ? parseSize(a.maxResponseBytes) : 64 * 1024,
    onError: a.onError ?? 'unavailable',
    token: tokenLocation(a.token, at, ctx),
    identity: identityMapping(a.identity),
  });
}

function buildApiKey(name: string, a: RawApiKeyAuthenticator, at: string, env: EnvOf, ctx: AuthBuildContext): Authenticator {
  if (a.pepper !== undefined) requireEnv(env('pepper'), ctx, 'pepper');
  const wanted = a.pepper !== undefined ? 'hmac-sha256' : 'sha256';
  const seenIds = new Set<string>();
  const seenHashes = new Set<string>();
  a.consumers.forEach((c, i) => {
    const m = HASH_RE.exec(c.keyHash);
    if (m && m[1] !== wanted) {
      ctx.issues.push({
        path: `${at}.consumers[${i}].keyHash`,
        message: a.pepper !== undefined ? 'with a pepper every keyHash must be hmac-sha256:' : 'hmac-sha256 hashes need `pepper`',
      });
    }
    if (seenIds.has(c.id)) ctx.issues.push({ path: `${at}.consumers[${i}].id`, message: `"${c.id}" is listed twice` });
    if (seenHashes.has(c.keyHash)) ctx.issues.push({ path: `${at}.consumers[${i}].keyHash`, message: 'the same key is given to two consumers' });
    seenIds.add(c.id);
    seenHashes.add(c.keyHash);
  });
  const inWhere = a.in ?? 'header';
  return new ApiKeyAuthenticator({
    name,
    in: inWhere,
    field: inWhere === 'header' ? (a.name ?? 'x-api-key').toLowerCase() : (a.name ?? 'api_key'),
    consumers: a.consumers.map((c) => ({ id: c.id, keyHash: c.keyHash, scopes: c.scopes ?? [], groups: c.groups ?? [], metadata: c.metadata ?? {} })),
    pepper: a.pepper,
  });
}

function buildMtls(name: string, a: RawMtlsAuthenticator, at: string, ctx: AuthBuildContext): Authenticator {
  if (!ctx.clientCertificates) {
    ctx.issues.push({ path: at, message: 'needs server.https.clientCertificates (the CA that verifies client certificates)' });
  }
  if ((a.subjects ?? []).length === 0 && (a.sans ?? []).length === 0) {
    ctx.issues.push({ path: at, message: 'list the allowed subjects or sans (an empty list would accept any certificate from the CA)' });
  }
  for (const [i, s] of (a.subjects ?? []).entries()) {
    if (!/^[A-Za-z.0-9]+=/.test(s)) ctx.issues.push({ path: `${at}.subjects[${i}]`, message: 'must look like "CN=name" or "CN=name, O=org"' });
  }
  return new MtlsAuthenticator({ name, subjects: a.subjects ?? [], sans: a.sans ?? [] });
}
