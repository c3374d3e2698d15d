/** Config schema of a route's `validate:` block. */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import { SIZE_PATTERN } from '../../config/units.ts';
import { MEDIA_RANGE_PATTERN } from './media-type.ts';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });
const Size = (description: string) => Type.String({ pattern: SIZE_PATTERN, description });

export const ValidateLimitsSchema = Strict(
  {
    maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 64, description: 'JSON: nesting depth of objects and arrays (400 above it).' })),
    maxKeys: Type.Optional(Type.Integer({ minimum: 1, default: 10000, description: 'JSON: object members in the whole document (400 above it).' })),
    maxParts: Type.Optional(Type.Integer({ minimum: 1, default: 1000, description: 'Forms: urlencoded fields or multipart parts (400 above it).' })),
    maxFieldBytes: Type.Optional(Size('Forms: size of one field value as sent (413 above it; default 1mb).')),
    maxFileBytes: Type.Optional(Size('Multipart: size of one file part (413 above it; default: the body limit).')),
  },
  'Limits on a parsed body.',
);

export const ValidateSchema = Strict(
  {
    openapi: Type.Optional(Type.String({ minLength: 1, description: 'OpenAPI 3.x document (relative to the config file): the request must match one of its operations.' })),
    basePath: Type.Optional(
      Type.String({ pattern: '^/', description: "With openapi: the path prefix of the API, in place of the document's servers (/ for none)." }),
    ),
    unknownOperation: Type.Optional(
      Type.Union([Type.Literal(404), Type.Literal(405)], {
        default: 405,
        description: 'With openapi: a request the document has no operation for gets 405 with Allow when its path exists for other methods (405), or always 404 (404).',
      }),
    ),
    maxBodyBytes: Type.Optional(Size("This route's body limit, in place of server.limits.maxBodyBytes (413 above it).")),
    contentTypes: Type.Optional(
      Type.Array(Type.String({ pattern: MEDIA_RANGE_PATTERN }), {
        minItems: 1,
        description: 'Allowed media types, e.g. application/json, application/*+json, multipart/form-data (415 otherwise). Parameters such as charset are ignored; a JSON type must be UTF-8.',
      }),
    ),
    body: Type.Optional(
      Type.Unsafe<Record<string, unknown> | boolean>({
        type: ['object', 'boolean'],
        description: 'A JSON Schema the parsed body must match (draft 2020-12, or draft-07 by $schema), inline or { $ref: file.json } relative to the config file.',
      }),
    ),
    requireBody: Type.Optional(Type.Boolean({ default: false, description: 'Refuse a request without a body (400); otherwise an absent body is not checked against `body`.' })),
    limits: Type.Optional(ValidateLimitsSchema),
    errors: Type.Optional(
      Type.Union([Type.Literal('detailed'), Type.Literal('hidden')], {
        default: 'detailed',
        description: 'detailed: the 400 lists each problem ({ pointer, message }); hidden: only the error code (the log has the details).',
      }),
    ),
    maxErrors: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'Most problems listed in one answer.' })),
  },
  "Request validation: body size, media type, JSON Schema or OpenAPI. Runs after authentication and rate limits; the body is read only when `body`, `openapi` or `limits` asks for it.",
);

export type RawValidate = Static<typeof ValidateSchema>;
