/**
 * HTTP Message Signatures authenticator (RFC 9421): the request carries `Signature-Input` and
 * `Signature`; one signature (the configured label, or the first whose covered components satisfy
 * the policy) must cover the required components, be made by a configured key with that key's
 * algorithm, be fresh (`created` within maxAge, `expires` not passed, with clock tolerance) and
 * verify. A nonce is accepted once across every instance sharing the store. When `content-digest`
 * is covered, the body is checked against it by the content-digest stage before anything is
 * forwarded (src/stages/content-digest). The identity is the key: consumer id = keyid (or the key's
 * `consumer`).
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ABSENT, invalid, type AuthInput, type AuthResult, type Authenticator, type CredentialLocation } from './authenticator.ts';
import type { Identity } from './identity.ts';
import type { MessageView } from './http-signatures/base.ts';
import { verifyMessageSignature, type SignaturePolicy, type VerifiedSignature, type VerifyKey } from './http-signatures/verify.ts';
import type { Store } from '../store/store.ts';

export interface SignatureAuthOptions {
  name: string;
  /** keyid → key. */
  keys: ReadonlyMap<string, VerifyKey>;
  policy: SignaturePolicy;
  /** Where nonces are recorded (the gateway's store: memory or Redis). */
  store: Store;
  /** Longest accepted Signature-Input / Signature field value, bytes. */
  maxFieldBytes: number;
  now?: () => number;
}

const EMPTY: ReadonlySet<string> = new Set();

export class SignatureAuthenticator implements Authenticator {
  readonly name: string;
  readonly type = 'signature' as const;
  readonly scheme = 'Signature' as const;
  /** Brute-force counting reads the presented Signature; a repeated Signature field line is refused. */
  readonly location: CredentialLocation = { header: 'signature' };
  /** A verified signature covering content-digest needs the body checked (the route then buffers it). */
  readonly coversContentDigest: boolean;
  private readonly o: SignatureAuthOptions;
  private readonly now: () => number;
  private readonly nonceTtlMs: number;
  private verified = 0;
  private rejected = 0;
  private replayed = 0;
  private storeErrors = 0;

  constructor(options: SignatureAuthOptions) {
    this.o = options;
    this.name = options.name;
    this.now = options.now ?? Date.now;
    this.coversContentDigest = options.policy.required.includes('"content-digest"');
    // A nonce must be remembered as long as its signature could be accepted: created may be up to
    // `tolerance` in the future and is accepted until maxAge + tolerance after it.
    this.nonceTtlMs = (options.policy.maxAgeSec + 2 * options.policy.toleranceSec) * 1000 + 1000;
  }

  get stats(): Readonly<Record<string, number>> {
    return { verified: this.verified, rejected: this.rejected, nonce_replayed: this.replayed, store_errors: this.storeErrors };
  }

  authenticate(input: AuthInput): AuthResult | Promise<AuthResult> {
    const h = input.headers;
    const sigInput = h['signature-input'];
    const sig = h['signature'];
    if (sigInput === undefined && sig === undefined) return ABSENT;
    if (typeof sigInput !== 'string' || typeof sig !== 'string') return this.refuse('Signature-Input and Signature must both be present');
    if (sigInput.length > this.o.maxFieldBytes || sig.length > this.o.maxFieldBytes) return this.refuse('Signature-Input or Signature too long');
    const nowMs = this.now();
    const r = verifyMessageSignature(sigInput, sig, messageOf(input), this.o.policy, (kid) => this.o.keys.get(kid), Math.floor(nowMs / 1000));
    if (!r.ok) return this.refuse(r.reason);
    const s = r.signature;
    // explain (admin API, CLI) must not change shared state: the nonce is not recorded.
    if (s.nonce === undefined || input.explain === true) return this.accept(s);
    return this.checkNonce(s);
  }

  private async checkNonce(s: VerifiedSignature): Promise<AuthResult> {
    // Keyed by authenticator, keyid and a hash of the nonce: bounded key length, no client text in keys.
    const digest = createHash('sha256').update(`${s.keyid}\0${s.nonce as string}`).digest('base64url');
    let count: number;
    try {
      count = await this.o.store.increment(`sig-nonce:${this.name}:${digest}`, this.nonceTtlMs);
    } catch (err) {
      this.storeErrors++;
      // Fail closed: a nonce that cannot be recorded could be replayed.
      return { outcome: 'unavailable', reason: `nonce store: ${(err as Error).message}` };
    }
    if (count > 1) {
      this.replayed++;
      return this.refuse(`nonce of keyid ${s.keyid} replayed`);
    }
    return this.accept(s);
  }

  private refuse(reason: string): AuthResult {
    this.rejected++;
    return invalid(reason);
  }

  private accept(s: VerifiedSignature): AuthResult {
    this.verified++;
    const identity: Identity = {
      authenticator: this.name,
      type: 'signature',
      subject: s.keyid,
      consumerId: s.key.consumer ?? s.keyid,
      scopes: EMPTY,
      roles: EMPTY,
      groups: EMPTY,
      claims: {
        keyid: s.keyid,
        alg: s.alg,
        label: s.label,
        created: s.created,
        ...(s.expires !== undefined ? { expires: s.expires } : {}),
        ...(s.nonce !== undefined ? { nonce: s.nonce } : {}),
        ...(s.tag !== undefined ? { tag: s.tag } : {}),
        components: [...s.components],
      },
      expiresAt: s.expires !== undefined ? s.expires * 1000 : undefined,
    };
    return { outcome: 'ok', identity };
  }
}

/** True when `identity` is a verified signature that covered Content-Digest (the body must match it). */
export function signatureCoversContentDigest(identity: Identity | undefined): boolean {
  if (identity?.type !== 'signature') return false;
  const components = identity.claims.components;
  return Array.isArray(components) && components.includes('content-digest');
}

/** The inbound request as the signature base sees it: method, target and field lines as sent. */
function messageOf(input: AuthInput): MessageView {
  const url = input.url ?? '/';
  const q = url.indexOf('?');
  const headers = input.headers;
  const raw = input.rawHeaders;
  const authority = (headers[':authority'] as string | undefined) ?? headers.host;
  return {
    method: input.method,
    scheme: input.secure ? 'https' : 'http',
    authority,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? undefined : url.slice(q + 1),
    status: undefined,
    field: raw !== undefined ? (name) => fieldLines(raw, name) : (name) => headerLines(headers, name),
  };
}

function fieldLines(raw: readonly string[], name: string): string[] | undefined {
  let out: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i] as string;
    if (k.length === name.length && k.toLowerCase() === name) (out ??= []).push(raw[i + 1] as string);
  }
  return out;
}

function headerLines(headers: IncomingHttpHeaders, name: string): string[] | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}
