/**
 * Config schema of `authenticators:` (named; routes refer to them by name) and of a route's
 * `authorize:`. Plugged into src/config/schema.ts.
 */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from '../../config/units.ts';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
const Duration = (description: string) => Type.String({ pattern: DURATION_PATTERN, description });
const Size = (description: string) => Type.String({ pattern: SIZE_PATTERN, description });
const OneOrMany = (description: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description });

/** http:// or https:// URLs (identity provider endpoints); the build checks the rest of the URL. */
export const URL_PATTERN = '^https?://';
/** `sha256:<hex>` or `hmac-sha256:<hex>`, as `portcullis keys new` prints them. */
export const KEY_HASH_PATTERN = '^(sha256|hmac-sha256):[0-9a-f]{64}$';
/** An HTTP field name (RFC 9110 §5.1: a token). */
export const HEADER_NAME_PATTERN = '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$';
/** A claim path of `authorize.claims`: not empty. */
export const CLAIM_PATH_PATTERN = '^.+$';

export const JWT_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512',
] as const;

const TokenFrom = Strict(
  {
    header: Type.Optional(Type.String({ minLength: 1, description: 'Header carrying the token; "authorization" reads the Bearer scheme (default).' })),
    cookie: Type.Optional(Type.String({ minLength: 1, description: 'Cookie carrying the token.' })),
  },
  'Where the token is read from: one header (default Authorization: Bearer) or one cookie.',
);

const IdentityPaths = Strict(
  {
    subject: Type.Optional(Type.String({ minLength: 1, description: 'Claim path of the subject (default sub).' })),
    consumer: Type.Optional(Type.String({ minLength: 1, description: 'Claim path of ${consumer.id} (default client_id, else the subject).' })),
    scopes: Type.Optional(Type.String({ minLength: 1, description: 'Claim path of the scopes: a space-separated string or an array (default scope, with scp as fallback).' })),
    roles: Type.Optional(Type.String({ minLength: 1, description: 'Claim path of the roles, e.g. realm_access.roles.' })),
    groups: Type.Optional(Type.String({ minLength: 1, description: 'Claim path of the groups.' })),
  },
  'Where the identity fields live in the token claims or introspection response (dotted paths).',
);

const CacheSettings = Type.Union([
  Type.Literal(false),
  Strict({
    ttl: Type.Optional(Duration('Longest time a verified credential is reused (never beyond its exp).')),
    maxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  }),
]);

export const JwtAuthenticatorSchema = Strict({
  type: Type.Literal('jwt'),
  issuer: Type.Optional(OneOrMany('Accepted `iss` value(s).')),
  audience: Type.Optional(OneOrMany('Accepted `aud` value(s); the token must name one of them.')),
  jwksUri: Type.Optional(Type.String({ pattern: URL_PATTERN, description: 'JWKS URL.' })),
  discovery: Type.Optional(Type.String({ pattern: URL_PATTERN, description: 'OpenID Connect discovery document URL (<issuer>/.well-known/openid-configuration).' })),
  keys: Type.Optional(Type.String({ minLength: 1, description: 'Local JWKS (.json) or PEM public key / certificate file.' })),
  secret: Type.Optional(Type.String({ minLength: 1, description: 'HMAC secret for HS256/384/512; must come from an environment variable (${NAME}).' })),
  algorithms: Type.Array(Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a))), {
    minItems: 1,
    description: 'Accepted algorithms (required: never taken from the token).',
  }),
  clockTolerance: Type.Optional(Duration('Leeway for exp, nbf and iat (default 0s).')),
  typ: Type.Optional(Type.String({ minLength: 1, description: 'Required `typ` header, e.g. at+jwt (RFC 9068).' })),
  requiredClaims: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Claims that must be present (exp always is).' })),
  token: Type.Optional(TokenFrom),
  identity: Type.Optional(IdentityPaths),
  cache: Type.Optional(CacheSettings),
  jwks: Type.Optional(
    Strict({
      maxAge: Type.Optional(Duration('Refetch the key set after this long (default 10m).')),
      cooldown: Type.Optional(Duration('At most one refetch per this interval, e.g. for unknown kids (default 30s).')),
      timeout: Type.Optional(Duration('Deadline of one fetch (default 5s).')),
      maxBytes: Type.Optional(Size('Largest accepted key set / discovery document (default 512kb).')),
    }),
  ),
  maxTokenBytes: Type.Optional(Size('Longest accepted token (default 8kb).')),
});

export const IntrospectionAuthenticatorSchema = Strict({
  type: Type.Literal('introspection'),
  endpoint: Type.String({ pattern: URL_PATTERN, description: 'RFC 7662 introspection endpoint.' }),
  clientId: Type.String({ minLength: 1 }),
  clientSecret: Type.String({ minLength: 1, description: 'Use ${ENV}: secrets do not belong in files.' }),
  clientAuth: Type.Optional(Type.Union([Type.Literal('basic'), Type.Literal('post')], { description: 'client_secret_basic (default) or client_secret_post.' })),
  cacheTtl: Type.Optional(Duration('An active token is cached for min(cacheTtl, exp - now) (default 60s); 0s disables.')),
  cacheMaxEntries: Type.Optional(Type.Integer({ minimum: 1 })),
  timeout: Type.Optional(Duration('Deadline of one introspection call (default 2s).')),
  maxResponseBytes: Type.Optional(Size('Largest accepted response (default 64kb).')),
  onError: Type.Optional(Type.Union([Type.Literal('unavailable'), Type.Literal('unauthorized')], {
    description: 'Endpoint down, slow or answering garbage: 503 (unavailable, default) or 401 (unauthorized).',
  })),
  token: Type.Optional(TokenFrom),
  identity: Type.Optional(IdentityPaths),
});

export const ApiKeyAuthenticatorSchema = Strict({
  type: Type.Literal('apiKey'),
  in: Type.Optional(Type.Union([Type.Literal('header'), Type.Literal('query')], { description: 'Where the key is sent (default header).' })),
  name: Type.Optional(Type.String({ minLength: 1, description: 'Header or query parameter name (default x-api-key).' })),
  pepper: Type.Optional(Type.String({ minLength: 16, description: 'HMAC key for hmac-sha256 hashes; must come from an environment variable.' })),
  consumers: Type.Array(
    Strict({
      id: Type.String({ minLength: 1 }),
      keyHash: Type.String({ pattern: KEY_HASH_PATTERN, description: 'From `portcullis keys new`.' }),
      scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
      groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
      metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Free-form data, available as ${claims.<key>}.' })),
    }),
  ),
});

export const MtlsAuthenticatorSchema = Strict({
  type: Type.Literal('mtls'),
  subjects: Type.Optional(Type.Array(Type.String({ minLength: 3 }), { description: 'Allowed subjects, e.g. "CN=billing-service" or "CN=x, O=Acme" (all attributes must match).' })),
  sans: Type.Optional(Type.Array(Type.String({ minLength: 3 }), { description: 'Allowed SANs: "DNS:billing.internal", "URI:spiffe://acme/billing", "email:a@b".' })),
});

export const AuthorizeSchema = Strict(
  {
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'All of these scopes are required.' })),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Any one of these roles is required.' })),
    groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Any one of these groups is required.' })),
    claims: Type.Optional(
      Type.Record(
        Type.String({ pattern: CLAIM_PATH_PATTERN }),
        Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { minItems: 1 })]),
        { additionalProperties: false, description: 'claim path → required value (or any of a list).' },
      ),
    ),
  },
  'Requirements on the authenticated identity (403 when not met).',
);

export const ClientCertificatesSchema = Strict(
  {
    ca: Type.String({ minLength: 1, description: 'PEM bundle of the CAs that issue client certificates.' }),
    mode: Type.Optional(Type.Union([Type.Literal('optional'), Type.Literal('required')], {
      description: 'optional (default): ask for a certificate, routes decide; required: refuse the handshake without a valid one.',
    })),
  },
  'mTLS: ask clients for a certificate verified against `ca` (used by `type: mtls` authenticators).',
);

export type RawJwtAuthenticator = Static<typeof JwtAuthenticatorSchema>;
export type RawIntrospectionAuthenticator = Static<typeof IntrospectionAuthenticatorSchema>;
export type RawApiKeyAuthenticator = Static<typeof ApiKeyAuthenticatorSchema>;
export type RawMtlsAuthenticator = Static<typeof MtlsAuthenticatorSchema>;
export type RawAuthorize = Static<typeof AuthorizeSchema>;
