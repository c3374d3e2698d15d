/**
 * Verification keys for the JWT authenticator, by `kid` and algorithm:
 * - RemoteJwks: a JWKS URL (or found through OIDC discovery), cached with a max age (once stale it is
 *   refetched in the background while the cached set keeps answering), refetched on an unknown `kid`
 *   at most once per cooldown with all concurrent callers sharing one fetch, a fetch deadline and a
 *   response size cap; when the endpoint is down the cached keys keep working.
 * - StaticKeys: a local JWKS or PEM file, or an HMAC secret.
 * The token's `jku`, `x5u`, `jwk` and `x5c` header parameters are never read: keys come only from here.
 */
import { importJWK, importSPKI, importX509, type CryptoKey, type JWK } from 'jose';
import { request } from 'undici';

export class KeyUnavailableError extends Error {
  override readonly name = 'KeyUnavailableError';
}
export class UnknownKeyError extends Error {
  override readonly name = 'UnknownKeyError';
}

export type VerifyKey = CryptoKey | Uint8Array;

export interface KeySource {
  getKey(kid: string | undefined, alg: string): Promise<VerifyKey>;
  /** Key-set fetches that succeeded and that failed (0 for local keys). */
  readonly fetchesOk?: number;
  readonly fetchesFailed?: number;
}

const ALG_KTY: Record<string, string> = {
  RS256: 'RSA', RS384: 'RSA', RS512: 'RSA', PS256: 'RSA', PS384: 'RSA', PS512: 'RSA',
  ES256: 'EC', ES384: 'EC', ES512: 'EC', EdDSA: 'OKP', Ed25519: 'OKP',
  HS256: 'oct', HS384: 'oct', HS512: 'oct',
};

/** A parsed key set: keys by kid, imported lazily once per algorithm. */
class KeySet {
  private readonly jwks: JWK[];
  private readonly imported = new Map<string, Promise<VerifyKey | undefined>>();

  constructor(jwks: JWK[]) {
    this.jwks = jwks.filter((k) => (k.use === undefined || k.use === 'sig') && typeof k.kty === 'string' && !('d' in k));
  }

  /** The key for (kid, alg), or undefined when the set has none that fits. */
  async find(kid: string | undefined, alg: string): Promise<VerifyKey | undefined> {
    const kty = ALG_KTY[alg];
    const fits = this.jwks.filter(
      (k) => k.kty === kty && (k.alg === undefined || k.alg === alg) && (kid === undefined || k.kid === kid),
    );
    // Without a kid the choice must be unambiguous.
    if (fits.length !== 1) return undefined;
    const jwk = fits[0] as JWK;
    const cacheKey = `${jwk.kid ?? ''}\u0000${alg}\u0000${this.jwks.indexOf(jwk)}`;
    let p = this.imported.get(cacheKey);
    if (!p) {
      p = importJWK(jwk, alg).then(
        (k) => k as VerifyKey,
        () => undefined,
      );
      this.imported.set(cacheKey, p);
    }
    return p;
  }

  get size(): number {
    return this.jwks.length;
  }
}

export function parseJwks(text: string): JWK[] {
  const doc = JSON.parse(text) as { keys?: unknown };
  if (!doc || !Array.isArray(doc.keys)) throw new Error('not a JWKS: no "keys" array');
  return doc.keys.filter((k): k is JWK => k !== null && typeof k === 'object');
}

export interface RemoteJwksOptions {
  /** The JWKS URL, or undefined when it comes from discovery. */
  jwksUri: string | undefined;
  /** OIDC discovery document URL; its `issuer` must equal `expectedIssuer`. */
  discoveryUrl: string | undefined;
  expectedIssuer: string | undefined;
  timeoutMs: number;
  maxBytes: number;
  maxAgeMs: number;
  cooldownMs: number;
  now?: () => number;
  onFetch?: (outcome: 'ok' | 'error', error?: Error) => void;
}

export class RemoteJwks implements KeySource {
  private readonly options: RemoteJwksOptions;
  private readonly now: () => number;
  private set: KeySet | undefined;
  private jwksUri: string | undefined;
  private fetchedAt = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  fetches = 0;
  fetchesOk = 0;
  fetchesFailed = 0;

  constructor(options: RemoteJwksOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.jwksUri = options.jwksUri;
  }

  async getKey(kid: string | undefined, alg: string): Promise<VerifyKey> {
    if (!this.set) await this.refresh();
    // Stale: refetch in the background and keep answering from the cached set, so that a slow or
    // hanging endpoint never holds every request for the fetch timeout.
    else if (this.now() - this.fetchedAt > this.options.maxAgeMs) this.refresh().catch(() => {});
    if (!this.set) throw new KeyUnavailableError('no JWKS could be fetched yet');
    let key = await this.set.find(kid, alg);
    if (key) return key;
    // Unknown kid: perhaps a rotation. Refetch, at most once per cooldown, shared by all callers.
    await this.refresh();
    key = await this.set.find(kid, alg);
    if (key) return key;
    throw new UnknownKeyError(`no key for kid ${JSON.stringify(kid ?? null)} and ${alg}`);
  }

  /** One fetch at a time, and none within the cooldown of the previous attempt. Never throws. */
  private refresh(): Promise<void> {
    if (this.pending) return this.pending;
    if (this.now() - this.lastAttempt < this.options.cooldownMs) return Promise.resolve();
    this.lastAttempt = this.now();
    this.pending = this.fetchKeys().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetchKeys(): Promise<void> {
    this.fetches++;
    try {
      if (!this.jwksUri && this.options.discoveryUrl) {
        const doc = JSON.parse(await fetchText(this.options.discoveryUrl, this.options.timeoutMs, this.options.maxBytes)) as {
          issuer?: unknown;
          jwks_uri?: unknown;
        };
        // OpenID Connect Discovery §4.3: the document's issuer must be the one we expect.
        if (this.options.expectedIssuer !== undefined && doc.issuer !== this.options.expectedIssuer) {
          throw new Error(`discovery issuer ${JSON.stringify(doc.issuer)} is not ${JSON.stringify(this.options.expectedIssuer)}`);
        }
        if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new Error('discovery document has no jwks_uri');
        this.jwksUri = doc.jwks_uri;
      }
      if (!this.jwksUri) throw new Error('no JWKS URL');
      const keys = parseJwks(await fetchText(this.jwksUri, this.options.timeoutMs, this.options.maxBytes));
      this.set = new KeySet(keys);
      this.fetchedAt = this.now();
      this.fetchesOk++;
      this.options.onFetch?.('ok');
    } catch (err) {
      // Keep serving with the keys we have; the next attempt waits for the cooldown.
      this.fetchesFailed++;
      this.options.onFetch?.('error', err as Error);
    }
  }
}

/** GET a small document with a hard deadline and a size cap; no redirects. */
export async function fetchText(url: string, timeoutMs: number, maxBytes: number): Promise<string> {
  const signal = AbortSignal.timeout(timeoutMs);
  const res = await request(url, { method: 'GET', signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, headers: { accept: 'application/json' } });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${url} answered ${res.statusCode}`);
  }
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    res.body.destroy();
    throw new Error(`${url}: response of ${declared} bytes is over ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      res.body.destroy();
      throw new Error(`${url}: response over ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Keys from a local JWKS or PEM file, or an HMAC secret: loaded at config build, never fetched. */
export class StaticKeys implements KeySource {
  private readonly set: KeySet | undefined;
  private readonly pem: string | undefined;
  private readonly secret: Uint8Array | undefined;
  private readonly pemKeys = new Map<string, Promise<VerifyKey | undefined>>();

  private constructor(set: KeySet | undefined, pem: string | undefined, secret: Uint8Array | undefined) {
    this.set = set;
    this.pem = pem;
    this.secret = secret;
  }

  static fromJwks(keys: JWK[]): StaticKeys {
    return new StaticKeys(new KeySet(keys), undefined, undefined);
  }
  static fromPem(pem: string): StaticKeys {
    return new StaticKeys(undefined, pem, undefined);
  }
  static fromSecret(secret: Uint8Array): StaticKeys {
    return new StaticKeys(undefined, undefined, secret);
  }

  async getKey(kid: string | undefined, alg: string): Promise<VerifyKey> {
    if (this.secret) {
      if (!alg.startsWith('HS')) throw new UnknownKeyError(`${alg} needs a public key, this authenticator has a shared secret`);
      return this.secret;
    }
    if (this.set) {
      const key = await this.set.find(kid, alg);
      if (key) return key;
      throw new UnknownKeyError(`no key for kid ${JSON.stringify(kid ?? null)} and ${alg}`);
    }
    const pem = this.pem as string;
    if (alg.startsWith('HS')) throw new UnknownKeyError(`${alg} is not usable with a public key`);
    let p = this.pemKeys.get(alg);
    if (!p) {
      const imp = pem.includes('BEGIN CERTIFICATE') ? importX509(pem, alg) : importSPKI(pem, alg);
      p = imp.then(
        (k) => k as VerifyKey,
        () => undefined,
      );
      this.pemKeys.set(alg, p);
    }
    const key = await p;
    if (!key) throw new UnknownKeyError(`the PEM key does not fit ${alg}`);
    return key;
  }
}
