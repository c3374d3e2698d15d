/**
 * Content-Digest (RFC 9530 §2): a Dictionary of algorithm → byte sequence over the message content
 * as sent (after content coding). This gateway checks and produces `sha-256` and `sha-512` (§5,
 * "Active" in the Hash Algorithms for HTTP Digest Fields registry); the deprecated ones (md5, sha,
 * unixsum, ...) are ignored on input, like any algorithm it does not know (§2: a recipient ignores
 * algorithms it does not support).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isInnerList, parseDictionary, SfError } from './structured.ts';

const SUPPORTED: Record<string, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

export type DigestAlgorithm = 'sha-256' | 'sha-512';

/** The Content-Digest field value of `body` for `alg`. */
export function contentDigest(body: Uint8Array, alg: DigestAlgorithm = 'sha-256'): string {
  return `${alg}=:${createHash(SUPPORTED[alg] as string).update(body).digest('base64')}:`;
}

/**
 * Why `fieldValue` does not describe `body`, or undefined when it does: every supported algorithm in
 * it must match, and there must be at least one.
 */
export function checkContentDigest(fieldValue: string, body: Uint8Array): string | undefined {
  let dict;
  try {
    dict = parseDictionary(fieldValue);
  } catch (err) {
    return `malformed Content-Digest: ${(err as SfError).message}`;
  }
  let checked = 0;
  for (const [alg, member] of dict) {
    const hash = SUPPORTED[alg];
    if (hash === undefined) continue;
    if (isInnerList(member) || !(member.value instanceof Uint8Array)) return `Content-Digest ${alg} is not a byte sequence`;
    const actual = createHash(hash).update(body).digest();
    if (member.value.length !== actual.length || !timingSafeEqual(actual, member.value)) return `Content-Digest ${alg} does not match the body`;
    checked++;
  }
  return checked === 0 ? 'Content-Digest has no sha-256 or sha-512 member' : undefined;
}
