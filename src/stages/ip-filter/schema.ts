/** Config schema of `ipFilter:` (in `defaults` and on routes). Plugged into src/config/schema.ts. */
import { Type, type Static, type TProperties } from '@sinclair/typebox';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

/** ISO 3166-1 alpha-2, upper case; the build also refuses aliases (UK → GB) and unassigned codes. */
export const COUNTRY_CODE_PATTERN = '^[A-Z]{2}$';

const Entries = (description: string) =>
  Type.Array(Type.String({ minLength: 1, description: 'An IPv4 or IPv6 address or CIDR: 203.0.113.7, 203.0.113.0/24, 2001:db8::/32.' }), {
    minItems: 1,
    description,
  });

const Files = (description: string) =>
  Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description });

const Countries = (description: string) =>
  Type.Array(Type.String({ pattern: COUNTRY_CODE_PATTERN, description: 'ISO 3166-1 alpha-2 country code, upper case (KP, GB).' }), {
    minItems: 1,
    description,
  });

export const CountriesSchema = Strict(
  {
    allow: Type.Optional(Countries('Only clients located in these countries pass (unknown ones: see `unknown`).')),
    deny: Type.Optional(Countries('Clients located in these countries get 403; deny wins over allow.')),
    unknown: Type.Optional(
      Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
        default: 'allow',
        description: 'Clients whose country the database does not know (private, reserved, unlisted addresses).',
      }),
    ),
  },
  'Filter by the country of the client address, looked up in the country database.',
);

export const GeoipSchema = Strict(
  {
    database: Type.String({
      minLength: 1,
      description: 'A MaxMind DB (.mmdb) country or city database, e.g. GeoLite2-Country.mmdb; relative to the config file.',
    }),
  },
  'The country database; without it the bundled CC0 database (@ip-location-db/geo-whois-asn-country-mmdb) is used.',
);

export const IpFilterSchema = Strict(
  {
    allow: Type.Optional(Entries('Only these addresses pass: an allow list means every other address gets 403.')),
    deny: Type.Optional(Entries('These addresses get 403; deny wins over allow.')),
    allowFile: Type.Optional(Files('Allow-list file(s): one address or CIDR per line, # and ; comments; read again on every config load.')),
    denyFile: Type.Optional(Files('Deny-list file(s) such as FireHOL level1 or Spamhaus DROP: one address or CIDR per line, # and ; comments; read again on every config load.')),
    countries: Type.Optional(CountriesSchema),
    geoip: Type.Optional(GeoipSchema),
    mode: Type.Optional(
      Type.Union([Type.Literal('enforce'), Type.Literal('shadow')], {
        description: "shadow: record what would be denied and let the request through. Default: the route's mode (enforce for requests no route matches).",
      }),
    ),
  },
  "Client address and country filter, checked right after the route match, before anything else of the route. A route's own ipFilter replaces the defaults' one.",
);

/** On a route: its own filter, or `false` for none at all (not even the defaults'). */
export const RouteIpFilterSchema = Type.Union([Type.Literal(false), IpFilterSchema], {
  description: "The route's client address and country filter (replaces defaults.ipFilter); false: no IP filter on this route.",
});

export type RawIpFilter = Static<typeof IpFilterSchema>;
export type RawCountries = Static<typeof CountriesSchema>;
