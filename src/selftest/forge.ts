/**
 * Forged credentials for the authentication probes. None of them can be valid: they are signed with
 * fresh random keys, with no key, or with public material as an HMAC secret.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { RawJwtAuthenticator } from '../stages/authenticate/schema.ts';

export interface ForgedToken {
  attack: string;
  token: string;
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** The configured key set, when it is a local file: its first kid, and its first public key as PEM. */
async function localKeyMaterial(a: RawJwtAuthenticator, baseDir: string): Promise<{ kid: string | undefined; pem: string | undefined }> {
  if (a.keys === undefined) return { kid: undefined, pem: undefined };
  try {
    const text = await readFile(path.resolve(baseDir, a.keys), 'utf8');
    if (text.includes('-----BEGIN')) return { kid: undefined, pem: text };
    const keys = (JSON.parse(text) as { keys?: JWK[] }).keys ?? [];
    const first = keys.find((k) => k.kty !== 'oct');
    if (first === undefined) return { kid: keys[0]?.kid, pem: undefined };
    const alg = first.alg ?? (first.kty === 'RSA' ? 'RS256' : first.kty === 'OKP' ? 'EdDSA' : first.crv === 'P-384' ? 'ES384' : 'ES256');
    const key = await importJWK(first, alg, { extractable: true });
    const pem = key instanceof Uint8Array ? undefined : await exportSPKI(key);
    return { kid: first.kid, pem };
  } catch {
    return { kid: undefined, pem: undefined };
  }
}

/** One forged token per attack of the battery, with claims that would otherwise pass (iss, aud, exp). */
export async function forgeJwts(a: RawJwtAuthenticator, baseDir: string): Promise<ForgedToken[]> {
  const { kid: configuredKid, pem } = await localKeyMaterial(a, baseDir);
  const kid = configuredKid ?? randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: 'selftest',
    ...(a.issuer !== undefined ? { iss: Array.isArray(a.issuer) ? a.issuer[0] : a.issuer } : {}),
    ...(a.audience !== undefined ? { aud: Array.isArray(a.audience) ? a.audience[0] : a.audience } : {}),
    scope: 'selftest',
  };
  const asym = a.algorithms.find((x) => !x.startsWith('HS'));
  // ES256 when only HMAC is configured: the probe then also checks that an asymmetric token is refused.
  const alg = asym === undefined || asym.startsWith('RS') || asym.startsWith('PS') ? (asym ?? 'ES256') : asym;
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}) });
  const typ = a.typ ?? 'JWT';
  const sign = (header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> =>
    new SignJWT(payload).setProtectedHeader({ alg, typ, kid, ...header }).sign(privateKey);
  const valid = { ...claims, iat: now, exp: now + 300 };
  const out: ForgedToken[] = [];
  out.push({ attack: `jwt: ${alg} signed with a random key (kid ${configuredKid !== undefined ? 'of the configured key' : 'random'})`, token: await sign({}, valid) });
  out.push({ attack: 'jwt: alg none', token: `${b64({ alg: 'none', typ, kid })}.${b64(valid)}.` });
  out.push({ attack: 'jwt: expired', token: await sign({}, { ...claims, iat: now - 7200, exp: now - 3600 }) });
  const hmacKey = pem ?? `-----BEGIN PUBLIC KEY-----\n${randomBytes(64).toString('base64')}\n-----END PUBLIC KEY-----\n`;
  const head = `${b64({ alg: 'HS256', typ, kid })}.${b64(valid)}`;
  out.push({
    attack: `jwt: HS256 keyed with ${pem !== undefined ? 'the configured public key' : 'public-key-shaped bytes'} (key confusion)`,
    token: `${head}.${createHmac('sha256', hmacKey).update(head).digest('base64url')}`,
  });
  // Key-location headers pointing elsewhere: a verifier must never fetch or trust them.
  out.push({ attack: 'jwt: jku header to another host', token: await sign({ jku: 'http://127.0.0.1:9/jwks.json' }, valid) });
  out.push({ attack: 'jwt: x5u header to another host', token: await sign({ x5u: 'http://127.0.0.1:9/cert.pem' }, valid) });
  out.push({ attack: 'jwt: embedded jwk header', token: await sign({ jwk: await exportJWK(publicKey) }, valid) });
  return out;
}
