/**
 * The HTTP Message Signature algorithms (RFC 9421 §3.3) this gateway accepts, on node:crypto. The
 * algorithm of a signature is always the KEY's (JWK `alg`, or its `kty`/`crv` when that decides
 * it): an `alg` parameter in Signature-Input can only agree with it (§3.2 step 6, §7.3.6 — no
 * algorithm confusion).
 */
import { createHmac, createPrivateKey, createPublicKey, createSecretKey, sign, timingSafeEqual, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:crypto';

export const SIGNATURE_ALGORITHMS = [
  'ed25519',
  'ecdsa-p256-sha256',
  'ecdsa-p384-sha384',
  'rsa-pss-sha512',
  'rsa-v1_5-sha256',
  'hmac-sha256',
] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export function isSignatureAlgorithm(alg: unknown): alg is SignatureAlgorithm {
  return typeof alg === 'string' && (SIGNATURE_ALGORITHMS as readonly string[]).includes(alg);
}

/** JOSE names (RFC 7518 / RFC 8037) that mean one of the RFC 9421 algorithms. */
const JOSE_NAMES: Record<string, SignatureAlgorithm> = {
  EdDSA: 'ed25519',
  Ed25519: 'ed25519',
  ES256: 'ecdsa-p256-sha256',
  ES384: 'ecdsa-p384-sha384',
  PS512: 'rsa-pss-sha512',
  RS256: 'rsa-v1_5-sha256',
  HS256: 'hmac-sha256',
};

/** HMAC keys at least as long as the hash output (RFC 2104 §3, RFC 7518 §3.2). */
export const HMAC_MIN_BYTES = 32;
/** RSA moduli below this are refused (NIST SP 800-131A). */
export const RSA_MIN_BITS = 2048;

/**
 * The algorithm a JWK is used with: its `alg` (an RFC 9421 name or the JOSE name of one) when
 * given, else what its key type leaves no choice about. RSA keys must say (PSS or v1.5). Throws with
 * a message for the config error.
 */
export function algorithmOfJwk(jwk: JsonWebKey & { alg?: unknown }): SignatureAlgorithm {
  const fromKey = ((): SignatureAlgorithm | undefined => {
    if (jwk.kty === 'OKP') {
      if (jwk.crv === 'Ed25519') return 'ed25519';
      throw new Error(`OKP curve ${String(jwk.crv)} is not supported (Ed25519 is)`);
    }
    if (jwk.kty === 'EC') {
      if (jwk.crv === 'P-256') return 'ecdsa-p256-sha256';
      if (jwk.crv === 'P-384') return 'ecdsa-p384-sha384';
      throw new Error(`EC curve ${String(jwk.crv)} is not supported (P-256, P-384 are)`);
    }
    if (jwk.kty === 'RSA') return undefined;
    if (jwk.kty === 'oct') return 'hmac-sha256';
    throw new Error(`key type ${String(jwk.kty)} is not supported`);
  })();
  let named: SignatureAlgorithm | undefined;
  if (jwk.alg !== undefined) {
    named = isSignatureAlgorithm(jwk.alg) ? jwk.alg : typeof jwk.alg === 'string' ? JOSE_NAMES[jwk.alg] : undefined;
    if (named === undefined) throw new Error(`alg ${JSON.stringify(jwk.alg)} is not an HTTP signature algorithm (${SIGNATURE_ALGORITHMS.join(', ')})`);
  }
  if (fromKey === undefined) {
    if (named === undefined) throw new Error('an RSA key needs "alg": rsa-pss-sha512 (PS512) or rsa-v1_5-sha256 (RS256)');
    if (!named.startsWith('rsa-')) throw new Error(`alg ${named} does not fit an RSA key`);
    return named;
  }
  if (named !== undefined && named !== fromKey) throw new Error(`alg ${named} does not fit a ${String(jwk.kty)} ${jwk.crv ?? ''} key`.trimEnd());
  return fromKey;
}

/** A public key object of a JWK, checked to fit `alg`. Throws with a message for the config error. */
export function publicKeyOfJwk(jwk: JsonWebKey, alg: SignatureAlgorithm): KeyObject {
  if (alg === 'hmac-sha256') throw new Error('HMAC keys are secrets: give them in `secrets` from environment variables, not in a key file');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  checkKeySize(key, alg);
  return key;
}

export function checkKeySize(key: KeyObject, alg: SignatureAlgorithm): void {
  if (alg.startsWith('rsa-')) {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < RSA_MIN_BITS) throw new Error(`RSA key of ${bits} bits; at least ${RSA_MIN_BITS} are required`);
  }
}

/** A key for signing: a private JWK or PEM, or an HMAC secret. */
export function privateKeyOf(material: string | JsonWebKey | Uint8Array): KeyObject {
  if (material instanceof Uint8Array) return createSecretKey(material);
  if (typeof material === 'string') return createPrivateKey(material);
  if (material.kty === 'oct') return createSecretKey(Buffer.from(String(material.k), 'base64url'));
  return createPrivateKey({ key: material, format: 'jwk' });
}

/** The algorithm an asymmetric key object is used with (`alg` decides for RSA). */
export function algorithmOfKeyObject(key: KeyObject, alg: SignatureAlgorithm | undefined): SignatureAlgorithm {
  if (key.type === 'secret') {
    if (alg !== undefined && alg !== 'hmac-sha256') throw new Error(`alg ${alg} does not fit a secret key`);
    return 'hmac-sha256';
  }
  // An RSASSA-PSS key (id-RSASSA-PSS, as RFC 9421 §B.1.2) has no JWK form: it can only be PSS.
  if (key.asymmetricKeyType === 'rsa-pss') {
    if (alg !== undefined && alg !== 'rsa-pss-sha512') throw new Error(`alg ${alg} does not fit an RSA-PSS key`);
    checkKeySize(key, 'rsa-pss-sha512');
    return 'rsa-pss-sha512';
  }
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  const a = algorithmOfJwk(alg === undefined ? jwk : { ...jwk, alg });
  checkKeySize(key, a);
  return a;
}

function rsaOptions(alg: SignatureAlgorithm, key: KeyObject): KeyObject | { key: KeyObject; padding: number; saltLength: number } {
  // §3.3.1: RSASSA-PSS with SHA-512, MGF1 with SHA-512 and a salt of 64 bytes.
  if (alg === 'rsa-pss-sha512') return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 };
  return key;
}

const HASH: Record<SignatureAlgorithm, string | null> = {
  ed25519: null,
  'ecdsa-p256-sha256': 'sha256',
  'ecdsa-p384-sha384': 'sha384',
  'rsa-pss-sha512': 'sha512',
  'rsa-v1_5-sha256': 'sha256',
  'hmac-sha256': 'sha256',
};

/** Verifies `signature` over `data` (the signature base, UTF-8/ASCII) with `key` under `alg`. */
export function verifySignature(alg: SignatureAlgorithm, key: KeyObject, data: Buffer, signature: Uint8Array): boolean {
  try {
    if (alg === 'hmac-sha256') {
      const mac = createHmac('sha256', key).update(data).digest();
      return signature.length === mac.length && timingSafeEqual(mac, signature);
    }
    if (alg.startsWith('ecdsa-')) {
      // §3.3.4/§3.3.5: r || s, each the size of the curve order (IEEE P1363), not DER.
      return verify(HASH[alg], data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
    return verify(HASH[alg], data, rsaOptions(alg, key), signature);
  } catch {
    return false; // a key / signature length mismatch is a failed signature, not a crash
  }
}

/** Signs `data` with `key` under `alg`. */
export function createSignature(alg: SignatureAlgorithm, key: KeyObject, data: Buffer): Buffer {
  if (alg === 'hmac-sha256') return createHmac('sha256', key).update(data).digest();
  if (alg.startsWith('ecdsa-')) return sign(HASH[alg], data, { key, dsaEncoding: 'ieee-p1363' });
  return sign(HASH[alg], data, rsaOptions(alg, key));
}
