/**
 * Verifying one HTTP message signature (RFC 9421 §3.2) against a policy: which label, which
 * components must be covered, how old `created` may be, whether a nonce is needed, and which keys
 * exist. Checks run in a fixed order, cheapest first; the signature itself is checked only for a
 * signature that passes every policy check. Replay of a nonce is the caller's (it needs the store).
 */
import type { KeyObject } from 'node:crypto';
import { verifySignature, type SignatureAlgorithm } from './algorithms.ts';
import { ComponentError, signatureBase, type MessageView } from './base.ts';
import { isInnerList, isToken, parseDictionary, parseItem, serializeItem, SfError, type BareItem, type SfInnerList } from './structured.ts';

export interface VerifyKey {
  readonly alg: SignatureAlgorithm;
  readonly key: KeyObject;
  /** `${consumer.id}` of a request signed with this key (default: the keyid). */
  readonly consumer?: string | undefined;
}

export interface SignaturePolicy {
  /** Serialized component identifiers that must all be covered, e.g. `"@method"`, `"content-digest"`. */
  readonly required: readonly string[];
  /** Verify only this label; undefined: the first label whose components satisfy `required`. */
  readonly label: string | undefined;
  readonly maxAgeSec: number;
  readonly toleranceSec: number;
  readonly nonce: 'optional' | 'required';
}

export interface VerifiedSignature {
  readonly label: string;
  readonly keyid: string;
  readonly alg: SignatureAlgorithm;
  readonly key: VerifyKey;
  readonly created: number;
  readonly expires: number | undefined;
  readonly nonce: string | undefined;
  readonly tag: string | undefined;
  /** Names of the covered components, in order (e.g. `@method`, `content-digest`). */
  readonly components: readonly string[];
}

export type VerifyResult = { readonly ok: true; readonly signature: VerifiedSignature } | { readonly ok: false; readonly reason: string };

/** At most this many signatures in one request are looked at (each one costs a parse). */
export const MAX_SIGNATURES = 8;

/** A policy component as written in config: a bare name (`@path`, `content-digest`) or an SF item (`"@query-param";name="id"`). */
export function canonicalComponent(text: string): string {
  if (text.startsWith('"')) return serializeItem(parseItem(text));
  return serializeItem({ value: text, params: new Map() });
}

function fail(reason: string): VerifyResult {
  return { ok: false, reason };
}

function int(v: BareItem | undefined): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

function str(v: BareItem | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Verifies the signature the policy selects from the Signature-Input and Signature field values.
 * `nowSec` is the current time in seconds.
 */
export function verifyMessageSignature(
  signatureInput: string,
  signatureField: string,
  msg: MessageView,
  policy: SignaturePolicy,
  keys: (keyid: string) => VerifyKey | undefined,
  nowSec: number,
): VerifyResult {
  let inputs;
  let signatures;
  try {
    inputs = parseDictionary(signatureInput);
    signatures = parseDictionary(signatureField);
  } catch (err) {
    return fail(`malformed Signature-Input or Signature: ${(err as SfError).message}`);
  }
  if (inputs.size > MAX_SIGNATURES) return fail(`${inputs.size} signatures (at most ${MAX_SIGNATURES})`);
  let label: string | undefined;
  let params: SfInnerList | undefined;
  if (policy.label !== undefined) {
    const m = inputs.get(policy.label);
    if (m === undefined) return fail(`no signature labelled "${policy.label}"`);
    if (!isInnerList(m)) return fail(`Signature-Input "${policy.label}" is not an inner list`);
    const missing = missingComponents(m, policy.required);
    if (missing.length > 0) return fail(`signature "${policy.label}" does not cover ${missing.join(', ')}`);
    label = policy.label;
    params = m;
  } else {
    let firstMissing: string | undefined;
    for (const [l, m] of inputs) {
      if (!isInnerList(m)) continue;
      const missing = missingComponents(m, policy.required);
      if (missing.length === 0) {
        label = l;
        params = m;
        break;
      }
      firstMissing ??= `signature "${l}" does not cover ${missing.join(', ')}`;
    }
    if (label === undefined || params === undefined) return fail(firstMissing ?? 'no signature in Signature-Input');
  }
  const sig = signatures.get(label);
  if (sig === undefined) return fail(`Signature has no member "${label}"`);
  if (isInnerList(sig) || !(sig.value instanceof Uint8Array)) return fail(`Signature "${label}" is not a byte sequence`);

  // Signature parameters (§2.3): typed, created and keyid required by this gateway.
  const p = params.params;
  const created = int(p.get('created'));
  const expires = p.has('expires') ? int(p.get('expires')) : undefined;
  const keyid = str(p.get('keyid'));
  const algParam = p.get('alg');
  const nonce = p.has('nonce') ? str(p.get('nonce')) : undefined;
  const tag = p.has('tag') ? str(p.get('tag')) : undefined;
  if (created === undefined) return fail('created is missing or not an integer');
  if (p.has('expires') && expires === undefined) return fail('expires is not an integer');
  if (keyid === undefined) return fail('keyid is missing or not a string');
  if (algParam !== undefined && typeof algParam !== 'string') return fail('alg is not a string');
  if (p.has('nonce') && nonce === undefined) return fail('nonce is not a string');
  if (p.has('tag') && tag === undefined) return fail('tag is not a string');
  for (const item of params.items) {
    if (typeof item.value !== 'string') return fail('a component identifier is not a string');
  }

  const key = keys(keyid);
  if (key === undefined) return fail(`unknown keyid ${JSON.stringify(keyid.slice(0, 64))}`);
  // §3.2 step 6 / §7.3.6: the key decides the algorithm; a different alg parameter is refused.
  if (algParam !== undefined && algParam !== key.alg) return fail(`alg ${JSON.stringify(algParam.slice(0, 32))} does not match key ${keyid} (${key.alg})`);

  const tol = policy.toleranceSec;
  if (created > nowSec + tol) return fail(`created ${created} is in the future`);
  if (created < nowSec - policy.maxAgeSec - tol) return fail(`created ${created} is older than maxAge`);
  if (expires !== undefined && expires < nowSec - tol) return fail(`signature expired at ${expires}`);
  if (expires !== undefined && expires < created) return fail('expires is before created');
  if (policy.nonce === 'required' && nonce === undefined) return fail('nonce is required');

  let base: string;
  try {
    base = signatureBase(params, msg);
  } catch (err) {
    if (err instanceof ComponentError || err instanceof SfError) return fail(err.message);
    throw err;
  }
  if (!verifySignature(key.alg, key.key, Buffer.from(base, 'utf8'), sig.value)) return fail(`signature "${label}" does not verify`);
  return {
    ok: true,
    signature: {
      label,
      keyid,
      alg: key.alg,
      key,
      created,
      expires,
      nonce,
      tag,
      components: params.items.map((i) => i.value as string),
    },
  };
}

function missingComponents(list: SfInnerList, required: readonly string[]): string[] {
  if (required.length === 0) return [];
  const covered = new Set<string>();
  for (const item of list.items) {
    if (typeof item.value === 'string' && !isToken(item.value)) {
      try {
        covered.add(serializeItem(item));
      } catch {
        // unserialisable identifier: fails later in the base
      }
    }
  }
  return required.filter((r) => !covered.has(r));
}
