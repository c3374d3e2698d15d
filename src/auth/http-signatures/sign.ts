/**
 * Creating an HTTP message signature (RFC 9421 §3.1): the signature base of the covered components
 * and parameters, signed, as a `Signature-Input` and a `Signature` dictionary member.
 */
import type { KeyObject } from 'node:crypto';
import { createSignature, type SignatureAlgorithm } from './algorithms.ts';
import { signatureBase, type MessageView } from './base.ts';
import { serializeInnerList, type BareItem, type SfItem } from './structured.ts';

export interface SignOptions {
  /** Dictionary key of the signature (default sig1). */
  label?: string;
  keyid: string;
  alg: SignatureAlgorithm;
  key: KeyObject;
  /** Covered component identifiers, in order. */
  components: readonly SfItem[];
  /** Seconds since the epoch. */
  created: number;
  expires?: number | undefined;
  nonce?: string | undefined;
  tag?: string | undefined;
  /** Also send the `alg` parameter (the verifier then checks it against its key). */
  includeAlg?: boolean;
}

export interface SignedFields {
  /** `label=(...);created=...` */
  signatureInput: string;
  /** `label=:base64:` */
  signature: string;
  /** The signature base that was signed (for tests and logs at debug level). */
  base: string;
}

export function signMessage(msg: MessageView, o: SignOptions): SignedFields {
  const params = new Map<string, BareItem>([['created', o.created], ['keyid', o.keyid]]);
  if (o.includeAlg) params.set('alg', o.alg);
  if (o.expires !== undefined) params.set('expires', o.expires);
  if (o.nonce !== undefined) params.set('nonce', o.nonce);
  if (o.tag !== undefined) params.set('tag', o.tag);
  const list = { items: [...o.components], params };
  const base = signatureBase(list, msg);
  const sig = createSignature(o.alg, o.key, Buffer.from(base, 'utf8'));
  const label = o.label ?? 'sig1';
  return { signatureInput: `${label}=${serializeInnerList(list)}`, signature: `${label}=:${sig.toString('base64')}:`, base };
}
