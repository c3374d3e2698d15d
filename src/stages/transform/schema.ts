/**
 * Config schema of a route's `transform:` (request and response rewriting) and of
 * `securityHeaders:` (defaults and routes). Plugged into src/config/schema.ts; compiled by
 * transform.ts and security-headers.ts.
 */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { HEADER_NAME_PATTERN } from '../authenticate/schema.ts';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

/** A Host header value: a name or IPv4 address, or [IPv6], with an optional port. */
export const HOST_VALUE_PATTERN = '^(?:\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?$';
/** Longest accepted `transform.request.path.regex` (the regex runs on V8's backtracking engine). */
export const MAX_PATH_REGEX_LENGTH = 256;

const TEMPLATES = '${consumer.id}, ${claims.sub}, ${request.id}, ${client.ip}, ${params.<name>}, ...';

const HeaderMap = (description: string) =>
  Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String(), {
    additionalProperties: false,
    description: `${description}; values are templates: ${TEMPLATES}`,
  });
const HeaderList = (description: string) => Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN }), { description });

const PathRewrite = Type.Union(
  [
    Type.String({ minLength: 1, description: 'A path template starting with "/", e.g. "/orders/${params.id}".' }),
    Strict({
      regex: Type.String({
        minLength: 1,
        description: `A regular expression anchored with "^" (at most ${MAX_PATH_REGEX_LENGTH} characters; no nested quantifiers or back-references), matched against the normalised path.`,
      }),
      replace: Type.String({ minLength: 1, description: 'The replacement, starting with "/"; $1..$9 are the groups of regex.' }),
    }),
  ],
  { description: 'Rewrites the path sent upstream: a template, or { regex, replace }.' },
);

export const TransformSchema = Strict({
  request: Type.Optional(
    Strict({
      setHeaders: Type.Optional(HeaderMap('Headers the backend receives, replacing the client\'s of the same name')),
      appendHeaders: Type.Optional(HeaderMap('Headers added next to the client\'s own of the same name')),
      removeHeaders: Type.Optional(HeaderList('Client request headers not passed on.')),
      renameHeaders: Type.Optional(
        Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String({ pattern: HEADER_NAME_PATTERN }), {
          additionalProperties: false,
          description: 'from → to: the client\'s header `from` reaches the backend as `to` (a client\'s own `to` is dropped).',
        }),
      ),
      path: Type.Optional(PathRewrite),
      setQuery: Type.Optional(
        Type.Record(Type.String({ minLength: 1 }), Type.String(), {
          description: `Query parameters set (replacing the client's of the same name); values are templates: ${TEMPLATES}`,
        }),
      ),
      removeQuery: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Query parameters of the client not passed on.' })),
      host: Type.Optional(
        Type.String({ pattern: HOST_VALUE_PATTERN, description: 'The Host header sent upstream (default: the target\'s host and port).' }),
      ),
    }),
  ),
  response: Type.Optional(
    Strict({
      setHeaders: Type.Optional(HeaderMap('Headers the client receives, replacing the backend\'s')),
      appendHeaders: Type.Optional(HeaderMap('Headers added next to the backend\'s own of the same name')),
      removeHeaders: Type.Optional(HeaderList('Backend response headers not passed on.')),
    }),
  ),
});

export const REFERRER_POLICIES = [
  'no-referrer', 'no-referrer-when-downgrade', 'origin', 'origin-when-cross-origin', 'same-origin',
  'strict-origin', 'strict-origin-when-cross-origin', 'unsafe-url',
] as const;

export const SecurityHeadersSchema = Type.Union(
  [
    Type.Literal(false),
    Strict({
      contentTypeOptions: Type.Optional(
        Type.Boolean({ default: true, description: 'X-Content-Type-Options: nosniff.' }),
      ),
      referrerPolicy: Type.Optional(
        Type.Union([Type.Literal(false), ...REFERRER_POLICIES.map((p) => Type.Literal(p))], {
          default: 'no-referrer',
          description: 'Referrer-Policy value; false sends none.',
        }),
      ),
      frameOptions: Type.Optional(
        Type.Union([Type.Literal(false), Type.Literal('DENY'), Type.Literal('SAMEORIGIN')], {
          default: false,
          description: 'X-Frame-Options (off by default).',
        }),
      ),
      contentSecurityPolicy: Type.Optional(
        Type.Union([Type.Literal(false), Type.String({ minLength: 1 })], {
          default: false,
          description: 'Content-Security-Policy value, e.g. "default-src \'none\'; frame-ancestors \'none\'" (off by default).',
        }),
      ),
    }),
  ],
  {
    description:
      'Headers added to every response (proxied or answered by the gateway) that does not already carry them; false turns them all off. HSTS is server.https.hsts.',
  },
);

export type RawTransform = Static<typeof TransformSchema>;
export type RawSecurityHeaders = Static<typeof SecurityHeadersSchema>;
