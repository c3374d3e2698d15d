/** Config schema of `threats:` (in `defaults` and on routes). Plugged into src/config/schema.ts. */
import { Type, type Static, type TProperties } from '@sinclair/typebox';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

/** Field patterns: `path`, `query.q`, `header.x-search`, `cookie.prefs`, `body.items[*].html`, `body.**`. */
const FIELD_DESCRIPTION =
  'A field: path, query.<name>, header.<name>, cookie.<name>, body.<key>.<key>[<index>] (case-insensitive). ' +
  '* matches one key or index, ** any depth; a field also covers everything below it (body.meta covers body.meta.title).';

export const ThreatExclusionSchema = Strict(
  {
    route: Type.Optional(Type.String({ minLength: 1, description: 'Only on this route (defaults.threats only: a route block applies to its route).' })),
    field: Type.Optional(Type.String({ minLength: 1, description: FIELD_DESCRIPTION })),
    detectors: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        description: 'Detector ids (sqli, xss, lfi, rfi, rce, php, java, code, ssrf, ldap, session, scanner, protocol), rule ids (lfi.traversal) or custom rule ids. Default: all of them.',
      }),
    ),
  },
  'A false positive fixed precisely: these detectors do not run on this field (of this route).',
);

export const ThreatRuleSchema = Strict(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Rule id, shown in the log and the decision record.' }),
    field: Type.Optional(Type.String({ minLength: 1, description: `${FIELD_DESCRIPTION} Default: every field.` })),
    regex: Type.Optional(Type.String({ minLength: 1, description: 'Matches when this regular expression (case-insensitive) finds a match in the normalised value.' })),
    contains: Type.Optional(Type.String({ minLength: 1, description: 'Matches when the normalised value contains this text (case-insensitive).' })),
    equals: Type.Optional(Type.String({ description: 'Matches when the normalised value is this text (case-insensitive).' })),
    action: Type.Optional(
      Type.Union([Type.Literal('block'), Type.Literal('score')], {
        default: 'block',
        description: 'block: a match blocks the request at once; score: a match adds `score` to the anomaly score.',
      }),
    ),
    score: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Anomaly score of a match (with action: score).' })),
  },
  'A custom rule (virtual patch): matches one field, or every field, by regex, contains or equals. Values are normalised first (decoded, NFKC, lower case).',
);

export const ThreatsSchema = Strict(
  {
    mode: Type.Optional(
      Type.Union([Type.Literal('block'), Type.Literal('detect'), Type.Literal('off')], {
        default: 'block',
        description: 'block: 403 at the threshold; detect: log what would be blocked and let the request through (shadow); off: no inspection.',
      }),
    ),
    paranoia: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 4, default: 1, description: 'Sensitivity 1–4: higher levels run more detectors and score weaker evidence; more false positives.' }),
    ),
    threshold: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, default: 5, description: 'Anomaly score that blocks. A critical finding scores 5, a warning 3, a notice 2.' }),
    ),
    headers: Type.Optional(
      Type.Array(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), {
        minItems: 1,
        description: 'Standard headers to inspect as well (User-Agent, Referer, Cookie and every non-standard header are inspected anyway).',
      }),
    ),
    body: Type.Optional(
      Type.Boolean({ default: true, description: 'Inspect the body (JSON, forms, multipart, XML, text). It is then read whole, up to the route body limit, before the request is forwarded.' }),
    ),
    exclude: Type.Optional(Type.Array(ThreatExclusionSchema, { description: 'Exclusions: fields or routes some detectors skip.' })),
    rules: Type.Optional(Type.Array(ThreatRuleSchema, { description: 'Custom rules (virtual patching).' })),
  },
  "Threat detection: injection, traversal, command and code injection, SSRF, scanners, protocol attacks; anomaly scoring. A route's own block replaces the defaults' one.",
);

export type RawThreats = Static<typeof ThreatsSchema>;
export type RawThreatExclusion = Static<typeof ThreatExclusionSchema>;
export type RawThreatRule = Static<typeof ThreatRuleSchema>;
