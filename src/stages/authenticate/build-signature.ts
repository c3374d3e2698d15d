/**
 * Building a `type: signature` authenticator from config (RFC 9421): the key file (public JWKs
 * only; the keyid is the kid, the algorithm the key's), HMAC secrets from environment variables,
 * the component policy. Every problem is reported with its path.
 */
import type { JsonWebKey } from 'node:crypto';
import { createSecretKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { algorithmOfJwk, HMAC_MIN_BYTES, publicKeyOfJwk } from '../../auth/http-signatures/algorithms.ts';
import { canonicalComponent, type VerifyKey } from '../../auth/http-signatures/verify.ts';
import { parseJwks } from '../../auth/jwks.ts';
import { SignatureAuthenticator } from '../../auth/signature.ts';
import type { ConfigIssue } from '../../config/errors.ts';
import { parseDuration, parseSize } from '../../config/units.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import type { RawSignatureAuthenticator } from './signature-schema.ts';

export interface SignatureBuildContext {
  baseDir: string;
  /** JSON pointers of values that are wholly one environment variable (secrets must be). */
  envPaths: ReadonlySet<string>;
  issues: ConfigIssue[];
  store: Store | undefined;
}

export async function buildSignature(
  name: string,
  a: RawSignatureAuthenticator,
  at: string,
  pointer: string,
  ctx: SignatureBuildContext,
): Promise<SignatureAuthenticator | undefined> {
  const issues = ctx.issues;
  const keys = new Map<string, VerifyKey>();
  if (a.keys === undefined && a.secrets === undefined) {
    issues.push({ path: at, message: 'needs keys (a JWKS file of public keys) or secrets (HMAC keys from environment variables), or both' });
  }
  if (a.keys !== undefined) {
    let text: string | undefined;
    try {
      text = await readFile(path.resolve(ctx.baseDir, a.keys), 'utf8');
    } catch (err) {
      issues.push({ path: `${at}.keys`, message: `cannot read ${a.keys}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
    if (text !== undefined) readKeys(text, a, `${at}.keys`, keys, issues);
  }
  for (const [keyid, secret] of Object.entries(a.secrets ?? {})) {
    const where = `${at}.secrets.${keyid}`;
    if (!ctx.envPaths.has(`${pointer}/secrets/${keyid.replace(/~/g, '~0').replace(/\//g, '~1')}`)) {
      issues.push({ path: where, message: 'secret must come from an environment variable (write ${NAME}), never from the file itself' });
      continue;
    }
    const bytes = secret.startsWith('base64:') ? Buffer.from(secret.slice(7), 'base64') : Buffer.from(secret, 'utf8');
    if (bytes.length < HMAC_MIN_BYTES) {
      issues.push({ path: where, message: `is ${bytes.length} bytes; hmac-sha256 needs at least ${HMAC_MIN_BYTES}` });
      continue;
    }
    if (keys.has(keyid)) {
      issues.push({ path: where, message: `keyid "${keyid}" is also in ${a.keys ?? 'the key file'}` });
      continue;
    }
    keys.set(keyid, { alg: 'hmac-sha256', key: createSecretKey(bytes) });
  }
  const required: string[] = [];
  a.components.forEach((c, i) => {
    try {
      const canonical = canonicalComponent(c);
      if (required.includes(canonical)) issues.push({ path: `${at}.components[${i}]`, message: `${c} is listed twice` });
      else if (canonical === '"@signature-params"' || canonical === '"@status"') issues.push({ path: `${at}.components[${i}]`, message: `${c} cannot be covered by a request signature` });
      else required.push(canonical);
    } catch (err) {
      issues.push({ path: `${at}.components[${i}]`, message: `is not a component identifier: ${(err as Error).message}` });
    }
  });
  const maxAgeMs = parseDuration(a.maxAge ?? '5m');
  const toleranceMs = parseDuration(a.clockTolerance ?? '5s');
  if (maxAgeMs < 1000) issues.push({ path: `${at}.maxAge`, message: 'must be at least 1s (created has a resolution of one second)' });
  if (maxAgeMs > 86_400_000) issues.push({ path: `${at}.maxAge`, message: 'must be at most 1d (nonces are remembered for maxAge)' });
  if (toleranceMs > 300_000) issues.push({ path: `${at}.clockTolerance`, message: 'must be at most 5m' });
  return new SignatureAuthenticator({
    name,
    keys,
    policy: {
      required,
      label: a.label,
      maxAgeSec: Math.floor(maxAgeMs / 1000),
      toleranceSec: Math.ceil(toleranceMs / 1000),
      nonce: a.nonce ?? 'optional',
    },
    // Built without a gateway (unit tests, `portcullis validate`): nonces in this process only.
    store: ctx.store ?? new MemoryStore(),
    maxFieldBytes: parseSize(a.maxFieldBytes ?? '8kb'),
  });
}

function readKeys(text: string, a: RawSignatureAuthenticator, at: string, keys: Map<string, VerifyKey>, issues: ConfigIssue[]): void {
  let jwks;
  try {
    jwks = parseJwks(text);
  } catch (err) {
    issues.push({ path: at, message: `${a.keys as string}: ${err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message}` });
    return;
  }
  if (jwks.length === 0) issues.push({ path: at, message: `${a.keys as string} has no keys` });
  jwks.forEach((jwk, i) => {
    const where = `${a.keys as string} keys[${i}]`;
    if ('d' in jwk || 'k' in jwk) {
      issues.push({ path: at, message: `${where} holds private or secret key material; give public keys only (HMAC secrets go in secrets, from the environment)` });
      return;
    }
    if (typeof jwk.kid !== 'string' || jwk.kid === '') {
      issues.push({ path: at, message: `${where} has no kid (the keyid signers name)` });
      return;
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') {
      issues.push({ path: at, message: `${where} (kid ${jwk.kid}) has use "${jwk.use}", not sig` });
      return;
    }
    if (keys.has(jwk.kid)) {
      issues.push({ path: at, message: `${where}: kid ${jwk.kid} is listed twice` });
      return;
    }
    try {
      const alg = algorithmOfJwk(jwk as JsonWebKey & { alg?: unknown });
      const consumerValue = a.consumer !== undefined ? (jwk as Record<string, unknown>)[a.consumer] : undefined;
      if (a.consumer !== undefined && typeof consumerValue !== 'string') {
        issues.push({ path: at, message: `${where} (kid ${jwk.kid}) has no string member "${a.consumer}" (consumer)` });
        return;
      }
      keys.set(jwk.kid, { alg, key: publicKeyOfJwk(jwk as JsonWebKey, alg), consumer: consumerValue as string | undefined });
    } catch (err) {
      issues.push({ path: at, message: `${where} (kid ${jwk.kid}): ${(err as Error).message}` });
    }
  });
}
