/**
 * The configuration schema: one TypeBox definition gives the TypeScript types, the ajv validator and
 * the exported JSON Schema (schema/portcullis.schema.json) that editors use for completion.
 *
 * Keys that later releases own are declared with `x-unsupported`: a config that uses them fails with
 * a clear "not supported yet" error at their exact path instead of being silently ignored.
 */
import { AdminSchema } from '../admin/schema.ts';
import { Type, type Static, type TSchema, type TProperties } from '@sinclair/typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.ts';
import {
  ApiKeyAuthenticatorSchema,
  AuthorizeSchema,
  ClientCertificatesSchema,
  IntrospectionAuthenticatorSchema,
  JwtAuthenticatorSchema,
  MtlsAuthenticatorSchema,
} from '../stages/authenticate/schema.ts';
import { SignatureAuthenticatorSchema } from '../stages/authenticate/signature-schema.ts';
import { SecurityHeadersSchema, TransformSchema } from '../stages/transform/schema.ts';
import { CorsSchema, RouteCorsSchema } from '../stages/cors/schema.ts';
import { BruteForceSchema, ConcurrencySchema, RateLimitSchema, RedisSchema } from '../stages/rate-limit/schema.ts';
import { ValidateSchema } from '../stages/validate/schema.ts';
import { IpFilterSchema, RouteIpFilterSchema } from '../stages/ip-filter/schema.ts';
import { ThreatsSchema } from '../stages/threats/schema.ts';
import { UpstreamSchema } from '../upstream/schema.ts';
import { WebSocketRouteSchema } from '../websocket/policy.ts';
import { SplitSchema } from '../upstream/split.ts';
import { MirrorSchema } from '../upstream/mirror.ts';

/** Names of routes and upstreams. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

/** Custom keyword that always fails validation: the value's key is known but not implemented yet. */
export const UNSUPPORTED_KEYWORD = 'x-unsupported';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

/** A duration string; `fallback` is the default the code applies when the key is absent. */
const Duration = (description: string, fallback?: string) =>
  Type.String({ pattern: DURATION_PATTERN, description, ...(fallback ? { default: fallback } : {}) });
/** A size string (1kb = 1024 bytes); `fallback` is the default the code applies when the key is absent. */
const Size = (description: string, fallback?: string) =>
  Type.String({ pattern: SIZE_PATTERN, description, ...(fallback ? { default: fallback } : {}) });

/**
 * A key this version recognises but does not implement yet. `not: {}` makes editors using the
 * exported JSON Schema flag it too; the validator reports only the `x-unsupported` message. No key
 * of the reference shape uses it in this version; it is kept (and exported) for keys a later release
 * adds to the shape (docs/configuration.md, "Keys not supported yet").
 */
export const Unsupported = (what: string): TSchema =>
  Type.Unknown({
    not: {},
    description: `Not supported yet in this version of Portcullis (${what}).`,
    [UNSUPPORTED_KEYWORD]: `not supported yet in this version of Portcullis (${what}); remove this key`,
  });

const Port = (fallback: number) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: fallback, description: 'TCP port; 0 picks a free one.' });
const Host = Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to bind, e.g. 0.0.0.0, 127.0.0.1 or ::.' });

const Certificate = Strict({
  cert: Type.String({ minLength: 1, description: 'PEM certificate chain file (leaf first).' }),
  key: Type.String({ minLength: 1, description: 'PEM private key file.' }),
});

const Https = Strict(
  {
    host: Type.Optional(Host),
    port: Type.Optional(Port(8443)),
    certificates: Type.Array(Certificate, {
      minItems: 1,
      description: 'Chosen by SNI: the certificate whose names match the requested host wins; the first is the default.',
    }),
    minVersion: Type.Optional(
      Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Oldest TLS version accepted.' }),
    ),
    http2: Type.Optional(Type.Boolean({ default: true, description: 'Offer HTTP/2 over ALPN next to HTTP/1.1.' })),
    hsts: Type.Optional(
      Type.Union([
        Type.Literal(false),
        Strict({
          maxAge: Type.Optional(Duration('max-age of Strict-Transport-Security (whole seconds).', '365d')),
          includeSubDomains: Type.Optional(Type.Boolean({ default: false, description: 'Add includeSubDomains.' })),
          preload: Type.Optional(Type.Boolean({ default: false, description: 'Add preload.' })),
        }),
      ], { description: 'Strict-Transport-Security on every HTTPS response (on by default: max-age=31536000); false turns it off.' }),
    ),
    clientCertificates: Type.Optional(ClientCertificatesSchema),
  },
  'The HTTPS listener (TLS 1.2+ with AEAD ciphers only).',
);

const Http = Strict(
  {
    host: Type.Optional(Host),
    port: Type.Optional(Port(8080)),
    redirectToHttps: Type.Optional(
      Type.Boolean({ default: true, description: 'true: answer 308 to https; false: serve plain HTTP (behind a TLS proxy).' }),
    ),
  },
  'The plain HTTP listener.',
);

const Limits = Strict({
  maxHeaderBytes: Type.Optional(Size('Total size of the request head (431 above it).', '16kb')),
  maxHeaders: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Header fields per request (431 above it).' })),
  maxUrlBytes: Type.Optional(Size('Length of the request target (414 above it).', '8kb')),
  maxBodyBytes: Type.Optional(Size('Default request body limit for every route (413 above it).', '1mb')),
  headersTimeout: Type.Optional(Duration('Time to receive the complete request head (408).', '10s')),
  requestTimeout: Type.Optional(Duration('Time to receive the complete request (408).', '30s')),
  keepAliveTimeout: Type.Optional(Duration('Idle time before a keep-alive connection is closed.', '5s')),
  maxConnections: Type.Optional(Type.Integer({ minimum: 1, default: 10000, description: 'Open client connections per listener.' })),
  maxConnectionsPerIp: Type.Optional(
    Type.Integer({ minimum: 1, default: 256, description: 'Open client connections per client address (per listener).' }),
  ),
  http2MaxConcurrentStreams: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Concurrent streams per HTTP/2 connection.' }),
  ),
});

const Server = Strict({
  https: Type.Optional(Https),
  http: Type.Optional(Http),
  admin: Type.Optional(AdminSchema),
  trustedProxies: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Peers (IPs or CIDRs) whose X-Forwarded-For, Forwarded and X-Request-Id are believed.',
    }),
  ),
  workers: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('auto')], {
      default: 1,
      description: 'Processes serving the listeners (node:cluster): N, or auto for one per core. Above 1 a primary process supervises them and runs the admin API.',
    }),
  ),
  limits: Type.Optional(Limits),
  via: Type.Optional(Type.Boolean({ default: false, description: 'Add "Via: 1.1 portcullis" to proxied requests and responses.' })),
  shutdownTimeout: Type.Optional(Duration('How long a graceful stop waits for in-flight requests.', '30s')),
});

const Store = Strict({
  type: Type.Optional(
    Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      default: 'memory',
      description: 'Where shared state lives: memory (one process, the default) or redis (shared by every gateway instance).',
    }),
  ),
  redis: Type.Optional(RedisSchema),
  maxKeys: Type.Optional(
    Type.Integer({
      minimum: 1000,
      maximum: 100_000_000,
      default: 100_000,
      description:
        'Most keys an in-process store holds (the memory store, and the local fallback of a Redis store); at the cap the least recently used key goes. About 1.2 KB of heap per key.',
    }),
  ),
});

const Logging = Strict({
  level: Type.Optional(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
      default: 'info',
      description: 'Level of the operational log (stderr).',
    }),
  ),
  accessLog: Type.Optional(
    Type.String({ minLength: 1, default: 'stdout', description: 'stdout | off | a file path; one JSON line per request.' }),
  ),
});

const Metrics = Strict({
  prometheus: Type.Optional(Type.Boolean({ default: false, description: 'Prometheus metrics: GET /metrics on the admin listener (needs server.admin).' })),
});
const Tracing = Strict({
  otlpEndpoint: Type.Optional(
    Type.String({
      default: '',
      description: 'OTLP/HTTP traces URL (http://collector:4318/v1/traces). Empty: W3C traceparent is propagated (continued from trusted proxies, else started), nothing is exported.',
    }),
  ),
  sampleRatio: Type.Optional(
    Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of new traces sampled for export; a trusted caller\'s sampled flag is followed.' }),
  ),
  serviceName: Type.Optional(Type.String({ minLength: 1, default: 'portcullis', description: 'service.name of the exported spans.' })),
});

const Defaults = Strict({
  ipFilter: Type.Optional(IpFilterSchema),
  rateLimit: Type.Optional(RateLimitSchema),
  bruteForce: Type.Optional(BruteForceSchema),
  threats: Type.Optional(ThreatsSchema),
  cors: Type.Optional(CorsSchema),
  securityHeaders: Type.Optional(SecurityHeadersSchema),
});

/** `upstreams.<name>`: src/upstream/schema.ts. */
const Upstream = UpstreamSchema;

const Version = Strict({
  header: Type.Optional(Type.String({ minLength: 1, description: 'Request header that names the version.' })),
  query: Type.Optional(Type.String({ minLength: 1, description: 'Query parameter that names the version.' })),
  param: Type.Optional(Type.String({ minLength: 1, description: 'A path parameter of match.path, e.g. version for /:version/orders/*' })),
  default: Type.Optional(Type.String({ description: 'Version used when the request names none.' })),
  map: Type.Record(Type.String(), Type.String(), { description: 'version → upstream name' }),
});

const RouteUpstream = Type.Union([
  Type.String({ minLength: 1, description: 'Name of an upstream.' }),
  Strict({ version: Version }),
  SplitSchema,
]);

const Match = Strict({
  host: Type.Optional(Type.String({ minLength: 1, description: 'Exact host or *.example.com' })),
  path: Type.String({ minLength: 1, description: 'Exact (/orders), prefix (/orders/*) or with params (/orders/:id).' }),
  methods: Type.Optional(
    Type.Array(Type.String({ pattern: '^[A-Z]+$' }), { minItems: 1, description: 'Allowed methods (default: all); GET implies HEAD.' }),
  ),
});

const Route = Strict({
  name: Type.String({ pattern: NAME_PATTERN, description: 'Unique name of the route (logs, errors).' }),
  match: Match,
  auth: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description: 'Authenticator name(s), any one of which must succeed, or `public` to opt out explicitly.',
  }),
  upstream: RouteUpstream,
  mirror: Type.Optional(MirrorSchema),
  stripPrefix: Type.Optional(
    Type.Boolean({ default: false, description: 'Remove the matched prefix of a /prefix/* path before proxying.' }),
  ),
  retryNonIdempotent: Type.Optional(
    Type.Boolean({
      default: false,
      description: "Let the upstream's retries also cover POST / PATCH requests that carry an Idempotency-Key header.",
    }),
  ),
  mode: Type.Optional(
    Type.Union([Type.Literal('enforce'), Type.Literal('shadow')], {
      default: 'enforce',
      description: "shadow: the route's security stages only log what they would reject.",
    }),
  ),
  authorize: Type.Optional(AuthorizeSchema),
  rateLimit: Type.Optional(RateLimitSchema),
  concurrency: Type.Optional(ConcurrencySchema),
  validate: Type.Optional(ValidateSchema),
  threats: Type.Optional(ThreatsSchema),
  ipFilter: Type.Optional(RouteIpFilterSchema),
  cors: Type.Optional(RouteCorsSchema),
  securityHeaders: Type.Optional(SecurityHeadersSchema),
  transform: Type.Optional(TransformSchema),
  websocket: Type.Optional(WebSocketRouteSchema),
});

/** One authenticator, by `type`. */
const Authenticator = Type.Union([
  JwtAuthenticatorSchema,
  IntrospectionAuthenticatorSchema,
  ApiKeyAuthenticatorSchema,
  MtlsAuthenticatorSchema,
  SignatureAuthenticatorSchema,
]);

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'Path or URL of this JSON Schema, for editors; ignored by the gateway.' })),
    server: Server,
    store: Type.Optional(Store),
    logging: Type.Optional(Logging),
    metrics: Type.Optional(Metrics),
    tracing: Type.Optional(Tracing),
    authenticators: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), Authenticator, {
        additionalProperties: false,
        description: 'Named authenticators; routes refer to them in `auth`.',
      }),
    ),
    defaults: Type.Optional(Defaults),
    upstreams: Type.Record(Type.String({ pattern: NAME_PATTERN }), Upstream, {
      additionalProperties: false,
      description: 'Named backends; routes refer to them by name.',
    }),
    routes: Type.Array(Route),
  },
  {
    additionalProperties: false,
    $id: 'https://portcullis.dev/schema/portcullis.schema.json',
    title: 'Portcullis gateway configuration',
  },
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RawRoute = Static<typeof Route>;
export type RawUpstream = Static<typeof Upstream>;
