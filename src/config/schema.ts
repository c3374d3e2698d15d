/**
 * The configuration schema: one TypeBox definition gives the TypeScript types, the ajv validator and
 * the exported JSON Schema (schema/portcullis.schema.json) that editors use for completion.
 *
 * Keys that later releases own are declared with `x-unsupported`: a config that uses them fails with
 * a clear "not supported yet" error at their exact path instead of being silently ignored.
 */
import { Type, type Static, type TSchema, type TProperties } from '@sinclair/typebox';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.ts';

/** Custom keyword that always fails validation: the value's key is known but not implemented yet. */
export const UNSUPPORTED_KEYWORD = 'x-unsupported';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

const Duration = (description: string, example?: string) =>
  Type.String({ pattern: DURATION_PATTERN, description, ...(example ? { examples: [example] } : {}) });
const Size = (description: string, example?: string) =>
  Type.String({ pattern: SIZE_PATTERN, description, ...(example ? { examples: [example] } : {}) });

/** A key this version recognises but does not implement yet. */
const Unsupported = (what: string): TSchema =>
  Type.Unknown({ [UNSUPPORTED_KEYWORD]: `${what} is not supported yet in this version of Portcullis; remove this key` });

const Port = Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one.' });
const Host = Type.String({ minLength: 1, description: 'Address to bind, e.g. 0.0.0.0, 127.0.0.1 or ::.' });

const Certificate = Strict({
  cert: Type.String({ minLength: 1, description: 'PEM certificate chain file (leaf first).' }),
  key: Type.String({ minLength: 1, description: 'PEM private key file.' }),
});

const Https = Strict(
  {
    host: Type.Optional(Host),
    port: Type.Optional(Port),
    certificates: Type.Array(Certificate, {
      minItems: 1,
      description: 'Chosen by SNI: the certificate whose names match the requested host wins; the first is the default.',
    }),
    minVersion: Type.Optional(Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')])),
    http2: Type.Optional(Type.Boolean({ description: 'Offer HTTP/2 over ALPN next to HTTP/1.1 (default true).' })),
    hsts: Type.Optional(
      Type.Union([
        Type.Literal(false),
        Strict({
          maxAge: Type.Optional(Duration('max-age of Strict-Transport-Security (default 365d).')),
          includeSubDomains: Type.Optional(Type.Boolean()),
          preload: Type.Optional(Type.Boolean()),
        }),
      ], { description: 'Strict-Transport-Security on every HTTPS response; false turns it off.' }),
    ),
    clientCertificates: Type.Optional(Unsupported('server.https.clientCertificates (mTLS)')),
  },
  'The HTTPS listener (TLS 1.2+ with AEAD ciphers only).',
);

const Http = Strict(
  {
    host: Type.Optional(Host),
    port: Type.Optional(Port),
    redirectToHttps: Type.Optional(
      Type.Boolean({ description: 'true (default): answer 308 to https; false: serve plain HTTP (behind a TLS proxy).' }),
    ),
  },
  'The plain HTTP listener.',
);

const Limits = Strict({
  maxHeaderBytes: Type.Optional(Size('Total size of the request head (431 above it).', '16kb')),
  maxHeaders: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'Header fields per request (431 above it).' })),
  maxUrlBytes: Type.Optional(Size('Length of the request target (414 above it).', '8kb')),
  maxBodyBytes: Type.Optional(Size('Default request body limit for every route (413 above it).', '1mb')),
  headersTimeout: Type.Optional(Duration('Time to receive the complete request head (408).', '10s')),
  requestTimeout: Type.Optional(Duration('Time to receive the complete request (408).', '30s')),
  keepAliveTimeout: Type.Optional(Duration('Idle time before a keep-alive connection is closed.', '5s')),
  maxConnections: Type.Optional(Type.Integer({ minimum: 1, description: 'Open client connections per listener.' })),
  maxConnectionsPerIp: Type.Optional(Type.Integer({ minimum: 1, description: 'Open client connections per client address.' })),
  http2MaxConcurrentStreams: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
});

const Server = Strict({
  https: Type.Optional(Https),
  http: Type.Optional(Http),
  admin: Type.Optional(Unsupported('server.admin (the admin API)')),
  trustedProxies: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description: 'Peers (IPs or CIDRs) whose X-Forwarded-For, Forwarded and X-Request-Id are believed.',
    }),
  ),
  workers: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('auto')])),
  limits: Type.Optional(Limits),
  via: Type.Optional(Type.Boolean({ description: 'Add "Via: 1.1 portcullis" to proxied requests and responses.' })),
  shutdownTimeout: Type.Optional(Duration('How long a graceful stop waits for in-flight requests (default 30s).')),
});

const Store = Strict({
  type: Type.Optional(Type.Union([Type.Literal('memory'), Type.Literal('redis')])),
  redis: Type.Optional(Unsupported('store.redis')),
});

const Logging = Strict({
  level: Type.Optional(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
  ),
  accessLog: Type.Optional(
    Type.String({ minLength: 1, description: 'stdout | off | a file path; one JSON line per request.' }),
  ),
});

const Metrics = Strict({ prometheus: Type.Optional(Type.Boolean()) });
const Tracing = Strict({ otlpEndpoint: Type.Optional(Type.String()) });

const Defaults = Strict({
  ipFilter: Type.Optional(Unsupported('ipFilter')),
  rateLimit: Type.Optional(Unsupported('rateLimit')),
  bruteForce: Type.Optional(Unsupported('bruteForce')),
  threats: Type.Optional(Unsupported('threats')),
  cors: Type.Optional(Unsupported('cors')),
});

const Target = Type.Union([
  Type.String({ minLength: 1, description: 'http://host:port or https://host:port' }),
  Strict({
    url: Type.String({ minLength: 1 }),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  }),
]);

const Upstream = Strict({
  targets: Type.Array(Target, { minItems: 1 }),
  balance: Type.Optional(
    Type.Union([
      Type.Literal('round-robin'),
      Type.Literal('least-connections'),
      Type.Literal('random'),
      Type.Literal('consistent-hash'),
    ]),
  ),
  timeout: Type.Optional(Duration('Time to the response head, and the longest gap between body chunks (504).', '10s')),
  connectTimeout: Type.Optional(Duration('Time to open a connection to a target (502).', '5s')),
  maxConnections: Type.Optional(Type.Integer({ minimum: 1, description: 'Keep-alive pool size per target.' })),
  healthCheck: Type.Optional(Unsupported('upstreams.*.healthCheck')),
  retries: Type.Optional(Unsupported('upstreams.*.retries')),
  circuitBreaker: Type.Optional(Unsupported('upstreams.*.circuitBreaker')),
  tls: Type.Optional(Unsupported('upstreams.*.tls')),
});

const Version = Strict({
  header: Type.Optional(Type.String({ minLength: 1 })),
  query: Type.Optional(Type.String({ minLength: 1 })),
  param: Type.Optional(Type.String({ minLength: 1, description: 'A path parameter of match.path, e.g. version for /:version/orders/*' })),
  default: Type.Optional(Type.String({ description: 'Version used when the request names none.' })),
  map: Type.Record(Type.String(), Type.String(), { description: 'version → upstream name' }),
});

const RouteUpstream = Type.Union([
  Type.String({ minLength: 1, description: 'Name of an upstream.' }),
  Strict({ version: Version }),
  Strict({ split: Unsupported('upstream.split') }),
]);

const Match = Strict({
  host: Type.Optional(Type.String({ minLength: 1, description: 'Exact host or *.example.com' })),
  path: Type.String({ minLength: 1, description: 'Exact (/orders), prefix (/orders/*) or with params (/orders/:id).' }),
  methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$' }), { minItems: 1 })),
});

const Route = Strict({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
  match: Match,
  auth: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
    description: 'Authenticator name(s), any one of which must succeed, or `public` to opt out explicitly.',
  }),
  upstream: RouteUpstream,
  stripPrefix: Type.Optional(Type.Boolean({ description: 'Remove the matched prefix of a /prefix/* path before proxying.' })),
  mode: Type.Optional(Type.Union([Type.Literal('enforce'), Type.Literal('shadow')])),
  authorize: Type.Optional(Unsupported('authorize')),
  rateLimit: Type.Optional(Unsupported('rateLimit')),
  concurrency: Type.Optional(Unsupported('concurrency')),
  validate: Type.Optional(Unsupported('validate')),
  threats: Type.Optional(Unsupported('threats')),
  ipFilter: Type.Optional(Unsupported('ipFilter')),
  cors: Type.Optional(Unsupported('cors')),
  transform: Type.Optional(Unsupported('transform')),
});

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    server: Server,
    store: Type.Optional(Store),
    logging: Type.Optional(Logging),
    metrics: Type.Optional(Metrics),
    tracing: Type.Optional(Tracing),
    authenticators: Type.Optional(Unsupported('authenticators')),
    defaults: Type.Optional(Defaults),
    upstreams: Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }), Upstream),
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
