/**
 * Outbound HTTP message signatures (RFC 9421): an upstream with `sign:` gets every request it is
 * sent signed by the gateway, per try (the `@authority` of a try is its target's). The covered
 * components are the request as it leaves the gateway: method, the target's scheme and authority
 * (or the Host the route's transform sets), the forwarded path and query, and the final header
 * fields. `content-digest`, when covered, is computed by the gateway over the buffered body (a route
 * that uses a signing upstream covering it buffers its body, src/config/gateway.ts) and replaces
 * any Content-Digest the client sent. Incoming Signature / Signature-Input fields are dropped: the
 * backend sees the gateway's signature only.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { algorithmOfKeyObject, isSignatureAlgorithm, privateKeyOf, SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../auth/http-signatures/algorithms.ts';
import type { MessageView } from '../auth/http-signatures/base.ts';
import { contentDigest } from '../auth/http-signatures/digest.ts';
import { signMessage } from '../auth/http-signatures/sign.ts';
import { canonicalComponent } from '../auth/http-signatures/verify.ts';
import { parseItem, type SfItem } from '../auth/http-signatures/structured.ts';
import { COMPONENT_PATTERN, LABEL_PATTERN } from '../stages/authenticate/signature-schema.ts';
import type { ConfigIssue } from '../config/errors.ts';

export const UpstreamSignSchema = Type.Object(
  {
    key: Type.String({ minLength: 1, description: 'Private signing key: a JWK (.json) or a PEM file (PKCS#8, or PKCS#1 / SEC1).' }),
    keyid: Type.String({ pattern: '^[\\x21-\\x7e]{1,256}$', description: 'keyid the backend looks the public key up by.' }),
    components: Type.Array(Type.String({ pattern: COMPONENT_PATTERN }), {
      minItems: 1,
      description: 'Covered components, e.g. ["@method", "@authority", "@path", "@query", "content-digest"].',
    }),
    alg: Type.Optional(Type.Union(SIGNATURE_ALGORITHMS.filter((a) => a !== 'hmac-sha256').map((a) => Type.Literal(a)), {
      description: 'Signature algorithm; needed for RSA keys (rsa-pss-sha512 or rsa-v1_5-sha256), else taken from the key. Also sent as the alg parameter.',
    })),
    label: Type.Optional(Type.String({ pattern: LABEL_PATTERN, default: 'sig1', description: 'Signature label.' })),
    tag: Type.Optional(Type.String({ minLength: 1, pattern: '^[\\x20-\\x7e]+$', description: 'tag parameter (an application profile name).' })),
    nonce: Type.Optional(Type.Boolean({ default: false, description: 'Add a random nonce to every signature.' })),
  },
  { additionalProperties: false, description: 'Sign every request sent to this upstream (HTTP Message Signatures, RFC 9421).' },
);

export type RawUpstreamSign = Static<typeof UpstreamSignSchema>;

export class SignError extends Error {
  override readonly name = 'SignError';
}

/** Headers this signer replaces: its own output and the client's (already verified or never trusted). */
const REPLACED = new Set(['signature', 'signature-input', 'content-digest']);

export class RequestSigner {
  readonly keyid: string;
  readonly alg: SignatureAlgorithm;
  /** content-digest is covered: the route must buffer its body. */
  readonly needsBody: boolean;
  private readonly key: KeyObject;
  private readonly components: readonly SfItem[];
  private readonly label: string;
  private readonly tag: string | undefined;
  private readonly nonce: boolean;
  private readonly now: () => number;

  constructor(o: { key: KeyObject; keyid: string; alg: SignatureAlgorithm; components: readonly SfItem[]; label?: string | undefined; tag?: string | undefined; nonce?: boolean | undefined; now?: () => number }) {
    this.key = o.key;
    this.keyid = o.keyid;
    this.alg = o.alg;
    this.components = o.components;
    this.label = o.label ?? 'sig1';
    this.tag = o.tag;
    this.nonce = o.nonce ?? false;
    this.now = o.now ?? Date.now;
    this.needsBody = o.components.some((c) => c.value === 'content-digest');
  }

  /**
   * The headers (flat name/value list) with this signer's Content-Digest (when covered) and
   * Signature-Input / Signature added, for a request to `origin` (scheme://host:port).
   * Throws SignError when a covered component is not in the request or the body is not buffered.
   */
  sign(method: string, origin: string, pathAndQuery: string, headers: readonly string[], body: unknown): string[] {
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      if (!REPLACED.has((headers[i] as string).toLowerCase())) out.push(headers[i] as string, headers[i + 1] as string);
    }
    if (this.needsBody) {
      if (body !== null && body !== undefined && !Buffer.isBuffer(body)) throw new SignError('content-digest is covered but the body is streamed, not buffered');
      out.push('content-digest', contentDigest(body === null || body === undefined ? Buffer.alloc(0) : (body as Buffer)));
    }
    const url = new URL(origin);
    const q = pathAndQuery.indexOf('?');
    let host: string | undefined;
    for (let i = 0; i < out.length; i += 2) if ((out[i] as string).toLowerCase() === 'host') host = out[i + 1];
    const msg: MessageView = {
      method,
      scheme: url.protocol.slice(0, -1),
      authority: host ?? url.host,
      path: q === -1 ? pathAndQuery : pathAndQuery.slice(0, q),
      query: q === -1 ? undefined : pathAndQuery.slice(q + 1),
      status: undefined,
      field: (name) => {
        let lines: string[] | undefined;
        for (let i = 0; i < out.length; i += 2) if ((out[i] as string).toLowerCase() === name) (lines ??= []).push(out[i + 1] as string);
        return lines;
      },
    };
    let signed;
    try {
      signed = signMessage(msg, {
        label: this.label,
        keyid: this.keyid,
        alg: this.alg,
        key: this.key,
        components: this.components,
        created: Math.floor(this.now() / 1000),
        nonce: this.nonce ? randomBytes(16).toString('base64url') : undefined,
        tag: this.tag,
        includeAlg: true,
      });
    } catch (err) {
      throw new SignError(`cannot sign for ${origin}: ${(err as Error).message}`);
    }
    out.push('signature-input', signed.signatureInput, 'signature', signed.signature);
    return out;
  }
}

/** Builds the signer of `upstreams.<name>.sign`; problems go to `issues` at `at.*`. */
export async function buildSigner(raw: RawUpstreamSign, baseDir: string, at: string, issues: ConfigIssue[]): Promise<RequestSigner | undefined> {
  const before = issues.length;
  let text: string;
  try {
    text = await readFile(path.resolve(baseDir, raw.key), 'utf8');
  } catch (err) {
    issues.push({ path: `${at}.key`, message: `cannot read ${raw.key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
  let key: KeyObject | undefined;
  let alg: SignatureAlgorithm | undefined;
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as Record<string, unknown>;
      if (jwk.kty === 'oct') throw new Error('is a secret key; outbound signing takes a private key (JWK or PEM)');
      if (typeof jwk.d !== 'string') throw new Error('is not a private JWK (no "d")');
      key = privateKeyOf(jwk);
      const jwkAlg = jwk.alg;
      const named = raw.alg ?? (isSignatureAlgorithm(jwkAlg) ? jwkAlg : jwkAlg === 'PS512' ? 'rsa-pss-sha512' : jwkAlg === 'RS256' ? 'rsa-v1_5-sha256' : undefined);
      alg = algorithmOfKeyObject(key, named);
    } else {
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error('is not a PEM private key or a JWK');
      key = privateKeyOf(text);
      alg = algorithmOfKeyObject(key, raw.alg);
    }
  } catch (err) {
    issues.push({ path: `${at}.key`, message: `${raw.key}: ${err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message}` });
  }
  const components: SfItem[] = [];
  const seen = new Set<string>();
  raw.components.forEach((c, i) => {
    try {
      const canonical = canonicalComponent(c);
      if (seen.has(canonical)) throw new Error(`${c} is listed twice`);
      seen.add(canonical);
      const item = parseItem(canonical);
      if (item.value === '@status' || item.value === '@signature-params') throw new Error(`${c} cannot be covered by a request signature`);
      components.push(item);
    } catch (err) {
      issues.push({ path: `${at}.components[${i}]`, message: (err as Error).message });
    }
  });
  if (issues.length > before || key === undefined || alg === undefined) return undefined;
  return new RequestSigner({ key, keyid: raw.keyid, alg, components, label: raw.label, tag: raw.tag, nonce: raw.nonce });
}
