/** Config schema of `rateLimit:` entries, `defaults.bruteForce` and `store:`. */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../config/units.ts';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
const Duration = (description: string) => Type.String({ pattern: DURATION_PATTERN, description });

export const KEY_PART_PATTERN = '^(ip|consumer|apiKey|route|claim:[A-Za-z0-9_.:-]+|header:[A-Za-z0-9!#$%&\'*+.^_`|~-]+)$';
const KeyPart = Type.String({
  pattern: KEY_PART_PATTERN,
  description: 'ip | consumer | apiKey | route | claim:<path> | header:<name>',
});

export const RateLimitEntrySchema = Strict({
  by: Type.Union([KeyPart, Type.Array(KeyPart, { minItems: 1, maxItems: 4 })], {
    description: 'What is counted: one key, or a combination such as [consumer, route].',
  }),
  limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests per `per`.' }),
  per: Duration('The window (GCRA: the refill period of `limit` requests).'),
  burst: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Extra requests allowed at once on top of `limit` (GCRA; default 0).' })),
  algorithm: Type.Optional(Type.Union([Type.Literal('gcra'), Type.Literal('sliding-window')], {
    description: 'gcra (default; token bucket of limit+burst, refilled at limit per `per`) or sliding-window (at most `limit` in any window of `per`; memory grows with the limit).',
  })),
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Policy name in the RateLimit-Policy header.' })),
});

export const RateLimitSchema = Type.Array(RateLimitEntrySchema, {
  minItems: 1,
  description: 'Every entry applies; a request over any of them gets 429.',
});

export const BruteForceSchema = Strict(
  {
    maxFailures: Type.Integer({ minimum: 1, description: 'Failed authentications per client IP within `per` that trigger a ban.' }),
    per: Duration('The window the failures are counted in.'),
    ban: Duration('How long the IP (or credential) is refused (429) before authentication runs.'),
    by: Type.Optional(
      Type.Array(Type.Union([Type.Literal('ip'), Type.Literal('credential')]), {
        minItems: 1,
        uniqueItems: true,
        description:
          'What failures are counted and banned by (default both): the client IP, and the presented credential (by its SHA-256: a token or key replayed from many addresses).',
      }),
    ),
  },
  'Ban client IPs (and presented credentials) that fail authentication repeatedly.',
);

export const RedisSchema = Strict({
  url: Type.Optional(Type.String({ pattern: '^rediss?(\\+sentinel)?://', description: 'redis://[user:password@]host:port[/db] (rediss:// for TLS), or redis+sentinel://host:26379[,host:26379...]/<master name>[/db] for Sentinel.' })),
  cluster: Type.Optional(Type.Array(Type.String({ pattern: '^[^:]+:[0-9]{1,5}$' }), { minItems: 1, description: 'Redis Cluster seed nodes, host:port.' })),
  timeout: Type.Optional(Duration('Hard deadline of every store call (default 50ms).')),
  onError: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('local')], {
    description: 'Redis down or slow: open (let through), closed (503) or local (default: an in-process limiter at limit / instances).',
  })),
  instances: Type.Optional(Type.Integer({ minimum: 1, description: 'Gateway instances sharing this Redis; the local fallback allows limit / instances (default 1).' })),
  keyPrefix: Type.Optional(Type.String({ maxLength: 64, description: 'Prefix of every key (default "pcl:").' })),
});

export const ConcurrencySchema = Strict(
  {
    by: Type.Union([KeyPart, Type.Array(KeyPart, { minItems: 1, maxItems: 4 })], {
      description: 'What is counted: ip | consumer | apiKey | route | claim:<path> | header:<name>, or a combination.',
    }),
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests of one key in flight at once on this route (429 above it).' }),
    ttl: Type.Optional(Duration('With Redis: a slot not released by then (its instance died) frees itself (default 5m).')),
  },
  'Limit on in-flight requests.',
);
export type RawConcurrency = Static<typeof ConcurrencySchema>;

export type RawRateLimitEntry = Static<typeof RateLimitEntrySchema>;
export type RawBruteForce = Static<typeof BruteForceSchema>;
export type RawRedis = Static<typeof RedisSchema>;
