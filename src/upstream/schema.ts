/** Config schema of one upstream (`upstreams.<name>`); see docs/upstreams.md. */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../config/units.ts';
import { UpstreamSignSchema } from './sign.ts';

const Duration = (description: string, fallback?: string) =>
  Type.String({ pattern: DURATION_PATTERN, description, ...(fallback ? { default: fallback } : {}) });

const Target = Type.Union([
  Type.String({ minLength: 1, description: 'http://host:port or https://host:port' }),
  Type.Object(
    {
      url: Type.String({ minLength: 1, description: 'http://host:port or https://host:port' }),
      weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Relative share of requests.' })),
    },
    { additionalProperties: false },
  ),
]);

const StatusSpec = Type.Union([
  Type.Integer({ minimum: 100, maximum: 599 }),
  Type.String({ pattern: '^([1-5]xx|[1-5][0-9]{2}-[1-5][0-9]{2})$', description: '"2xx" or a range "200-399"' }),
]);

export const HealthCheckSchema = Type.Object(
  {
    path: Type.String({ pattern: '^/', description: 'Path requested with GET on every target, e.g. /healthz.' }),
    interval: Type.Optional(Duration('Time between two checks of a target.', '10s')),
    timeout: Type.Optional(Duration('A check slower than this fails.', '2s')),
    unhealthyAfter: Type.Optional(Type.Integer({ minimum: 1, default: 3, description: 'Consecutive failed checks that take a target out of rotation.' })),
    healthyAfter: Type.Optional(Type.Integer({ minimum: 1, default: 2, description: 'Consecutive passed checks that bring it back.' })),
    expectedStatuses: Type.Optional(
      Type.Array(StatusSpec, { minItems: 1, description: 'Statuses that count as healthy (default 200-399), e.g. [200, "2xx", "200-204"].' }),
    ),
  },
  { additionalProperties: false, description: 'Active health checks.' },
);

export const PassiveHealthSchema = Type.Object(
  {
    failures: Type.Optional(
      Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failed exchanges (connect error, timeout, invalid response, 5xx) that eject a target.' }),
    ),
    ejectFor: Type.Optional(Duration('How long an ejected target stays out of rotation.', '30s')),
  },
  { additionalProperties: false, description: 'Passive health: real traffic ejects a failing target for a while.' },
);

export const CircuitBreakerSchema = Type.Object(
  {
    failures: Type.Optional(Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failures that open the circuit.' })),
    cooldown: Type.Optional(Duration('How long the circuit stays open before one probe request is let through.', '30s')),
    failureRatio: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'Also open when this share of the calls over `window` failed.' }),
    ),
    window: Type.Optional(Duration('Sliding window of failureRatio.', '30s')),
    minRequests: Type.Optional(Type.Integer({ minimum: 1, default: 20, description: 'Calls in the window before failureRatio applies.' })),
  },
  { additionalProperties: false, description: 'Stops calling a failing upstream: 503 at once while open.' },
);

export const RetryBudgetSchema = Type.Object(
  {
    ratio: Type.Optional(Type.Number({ minimum: 0, maximum: 10, default: 0.2, description: 'Retries per request over the window (0.2: at most 20% extra load).' })),
    minRetries: Type.Optional(Type.Integer({ minimum: 0, default: 10, description: 'Retries always allowed per window.' })),
    window: Type.Optional(Duration('Sliding window of the budget.', '10s')),
  },
  { additionalProperties: false, description: 'Caps retries so that they cannot multiply the load on a failing backend.' },
);

export const UpstreamTlsSchema = Type.Object(
  {
    ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle that signs the targets (default: the system CAs).' })),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate for mTLS to the backend.' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of `cert`.' })),
    servername: Type.Optional(
      Type.String({ minLength: 1, description: "SNI and the name checked in the target's certificate (default: the target's host)." }),
    ),
    insecureSkipVerify: Type.Optional(
      Type.Boolean({ default: false, description: 'Do not verify the certificate. For tests only; logged as a warning at start.' }),
    ),
  },
  { additionalProperties: false, description: 'TLS to https:// targets.' },
);

export const UpstreamSchema = Type.Object(
  {
    targets: Type.Array(Target, { minItems: 1, description: 'Backend origins.' }),
    balance: Type.Optional(
      Type.Union(
        [Type.Literal('round-robin'), Type.Literal('least-connections'), Type.Literal('random'), Type.Literal('consistent-hash')],
        {
          default: 'round-robin',
          description:
            'round-robin (weighted) | least-connections | random (power of two choices) | consistent-hash (sticky, see hashOn).',
        },
      ),
    ),
    hashOn: Type.Optional(
      Type.String({
        pattern: '^(ip|consumer|header:[A-Za-z0-9!#$%&\'*+.^_`|~-]+|cookie:[A-Za-z0-9!#$%&\'*+.^_`|~-]+)$',
        default: 'ip',
        description: 'Key of consistent-hash: ip | consumer | header:<name> | cookie:<name>.',
      }),
    ),
    timeout: Type.Optional(Duration('Per try: time to the response head, and the longest gap between body chunks (504).', '30s')),
    connectTimeout: Type.Optional(Duration('Time to open a connection to a target (504 when it runs out).', '5s')),
    totalTimeout: Type.Optional(
      Duration('Deadline of all tries together, until the response head (504); default timeout × (retries + 1).'),
    ),
    maxConnections: Type.Optional(Type.Integer({ minimum: 1, default: 128, description: 'Keep-alive pool size per target.' })),
    healthCheck: Type.Optional(HealthCheckSchema),
    passiveHealth: Type.Optional(PassiveHealthSchema),
    panic: Type.Optional(
      Type.Boolean({ default: false, description: 'When every target is unhealthy, use them all anyway instead of answering 503.' }),
    ),
    retries: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10, default: 0, description: 'Extra tries when it is safe (see docs/upstreams.md).' }),
    ),
    retryBudget: Type.Optional(RetryBudgetSchema),
    circuitBreaker: Type.Optional(CircuitBreakerSchema),
    tls: Type.Optional(UpstreamTlsSchema),
    sign: Type.Optional(UpstreamSignSchema),
    protocol: Type.Optional(
      Type.Union([Type.Literal('h1'), Type.Literal('h2'), Type.Literal('h2c')], {
        default: 'h1',
        description:
          'HTTP version to the targets: h1 (HTTP/1.1); h2 (HTTP/2 over TLS, https:// targets, offered by ALPN next to HTTP/1.1); h2c (HTTP/2 in cleartext with prior knowledge, http:// targets). gRPC backends need h2 or h2c.',
      }),
    ),
    client: Type.Optional(
      Type.Union([Type.Literal('builtin'), Type.Literal('undici')], {
        default: 'builtin',
        description:
          'HTTP/1.1 client for proxied requests to http:// targets: builtin (the gateway\'s own client, src/upstream/h1/pool.ts: less CPU per request) or undici. https:// targets, h2 and h2c, WebSocket tunnels, health checks and mirrored requests always use undici.',
      }),
    ),
  },
  { additionalProperties: false },
);

export type RawUpstreamConfig = Static<typeof UpstreamSchema>;
