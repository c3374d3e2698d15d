/**
 * Config schema of a `type: signature` authenticator (HTTP Message Signatures, RFC 9421, with
 * Content-Digest, RFC 9530); see docs/signatures.md. Plugged into src/config/schema.ts.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from '../../config/units.ts';

/**
 * A covered component: a derived component (`@method`), a lower-case field name (`content-digest`),
 * or a full RFC 8941 component identifier in quotes (`"@query-param";name="id"`).
 */
export const COMPONENT_PATTERN = '^(@[a-z-]+|[a-z0-9!#$%&\'*+.^_`|~-]+|".+)$';
/** A signature label / keyid-safe dictionary key (RFC 8941 §3.2 key). */
export const LABEL_PATTERN = '^[a-z*][a-z0-9_.*-]{0,63}$';

export const SignatureAuthenticatorSchema = Type.Object(
  {
    type: Type.Literal('signature'),
    keys: Type.Optional(Type.String({ minLength: 1, description: 'JWKS file of the signers\' public keys; the keyid is the JWK kid, the algorithm the JWK alg (or its kty/crv).' })),
    secrets: Type.Optional(
      Type.Record(Type.String({ pattern: '^[\\x21-\\x7e]{1,256}$' }), Type.String({ minLength: 1 }), {
        description: 'hmac-sha256 keys: keyid → shared secret, each from an environment variable (${NAME}); "base64:..." for binary secrets; at least 32 bytes.',
      }),
    ),
    components: Type.Array(Type.String({ pattern: COMPONENT_PATTERN }), {
      minItems: 1,
      description: 'Components every accepted signature must cover, e.g. ["@method", "@authority", "@path", "content-digest"].',
    }),
    maxAge: Type.Optional(Type.String({ pattern: DURATION_PATTERN, default: '5m', description: '`created` no older than this (required parameter); `expires` is honoured too.' })),
    clockTolerance: Type.Optional(Type.String({ pattern: DURATION_PATTERN, default: '5s', description: 'Leeway for created in the future, maxAge and expires.' })),
    nonce: Type.Optional(
      Type.Union([Type.Literal('optional'), Type.Literal('required')], {
        default: 'optional',
        description: 'required: every signature carries a nonce. Either way a nonce is accepted once (recorded in the store).',
      }),
    ),
    label: Type.Optional(Type.String({ pattern: LABEL_PATTERN, description: 'Verify only the signature with this label (default: the first whose components satisfy `components`).' })),
    consumer: Type.Optional(Type.String({ minLength: 1, description: 'JWK member whose string value is ${consumer.id} (default: the kid).' })),
    maxFieldBytes: Type.Optional(Type.String({ pattern: SIZE_PATTERN, default: '8kb', description: 'Longest accepted Signature-Input / Signature field value.' })),
  },
  { additionalProperties: false },
);

export type RawSignatureAuthenticator = Static<typeof SignatureAuthenticatorSchema>;
