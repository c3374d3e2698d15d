/** Config schema of `cors:` (defaults and routes); compiled by build.ts. */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../../config/units.ts';
import { HEADER_NAME_PATTERN } from '../authenticate/schema.ts';

const CorsPolicy = Type.Object(
  {
    origins: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description:
        'Allowed origins: exact ("https://app.example.com", lower-case, no path), a wildcard host ("https://*.example.com"), or "*" (any origin; only without credentials).',
    }),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Z]+$' }), {
        minItems: 1,
        description: "Methods a preflight may ask for (default: the route's match.methods, else GET, HEAD, POST).",
      }),
    ),
    headers: Type.Optional(
      Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN }), {
        description: 'Request headers a preflight may ask for (Access-Control-Allow-Headers); default none.',
      }),
    ),
    exposeHeaders: Type.Optional(
      Type.Array(Type.String({ pattern: HEADER_NAME_PATTERN }), { description: 'Response headers the browser lets scripts read (Access-Control-Expose-Headers).' }),
    ),
    credentials: Type.Optional(
      Type.Boolean({ default: false, description: 'Access-Control-Allow-Credentials: true (cookies, Authorization); not with origin "*".' }),
    ),
    maxAge: Type.Optional(
      Type.String({ pattern: DURATION_PATTERN, description: 'How long a browser may cache a preflight answer (Access-Control-Max-Age, whole seconds).' }),
    ),
  },
  { additionalProperties: false, description: 'CORS: preflights answered at the gateway, allowed origins echoed on actual requests.' },
);

/** `defaults.cors`. */
export const CorsSchema = CorsPolicy;
/** A route's `cors`: its own policy (replacing the defaults'), or false for none. */
export const RouteCorsSchema = Type.Union([Type.Literal(false), CorsPolicy], {
  description: "The route's CORS policy, replacing defaults.cors as a whole; false: no CORS on this route.",
});

export type RawCors = Static<typeof CorsPolicy>;
