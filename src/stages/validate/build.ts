/**
 * Build: each route's `validate:` block becomes its compiled parts — the route body limit, the
 * media-type matcher, the ajv function of `body`, the OpenAPI validator — before the routes are
 * assembled (compiling reads files, so it runs ahead of the synchronous route loop). Errors are
 * collected with their paths like every other config error.
 */
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import type { ConfigIssue } from '../../config/errors.ts';
import { parseSize } from '../../config/units.ts';
import type { Stage } from '../../pipeline/stage.ts';
import { BodySchemaCompiler } from './body-schema.ts';
import { DEFAULT_JSON_LIMITS } from './json.ts';
import { MediaTypeMatcher } from './media-type.ts';
import { compileOpenApi, type OpenApiValidator } from './openapi.ts';
import type { RawValidate } from './schema.ts';
import { ContentTypeStage, ValidateStage } from './validate.ts';

export interface PreparedValidation {
  /** The route's body limit when `validate.maxBodyBytes` sets one. */
  readonly maxBodyBytes: number | undefined;
  readonly matcher: MediaTypeMatcher | undefined;
  readonly schema: ValidateFunction | undefined;
  readonly openapi: OpenApiValidator | undefined;
  /** The body is read: `body`, `limits`, `requireBody`, or an OpenAPI operation with a request body. */
  readonly readsBody: boolean;
  readonly raw: RawValidate;
}

export const DEFAULT_MAX_PARTS = 1000;
export const DEFAULT_MAX_FIELD_BYTES = 1024 * 1024;
export const DEFAULT_MAX_ERRORS = 20;

/** Compiles every route's `validate:` block (index-aligned with `blocks`); undefined where a route has none or it failed. */
export async function prepareValidation(
  blocks: readonly (RawValidate | undefined)[],
  baseDir: string,
  issues: ConfigIssue[],
): Promise<(PreparedValidation | undefined)[]> {
  const compiler = new BodySchemaCompiler(baseDir);
  return Promise.all(
    blocks.map(async (v, i): Promise<PreparedValidation | undefined> => {
      if (v === undefined) return undefined;
      const at = `routes[${i}].validate`;
      const before = issues.length;
      const maxBodyBytes = v.maxBodyBytes !== undefined ? parseSize(v.maxBodyBytes) : undefined;
      if (maxBodyBytes !== undefined && maxBodyBytes < 1) issues.push({ path: `${at}.maxBodyBytes`, message: 'must be at least 1b' });
      let schema: ValidateFunction | undefined;
      if (v.body !== undefined) {
        try {
          schema = await compiler.compile(v.body);
        } catch (err) {
          issues.push({ path: `${at}.body`, message: `is not a usable JSON Schema: ${(err as Error).message}` });
        }
      }
      let openapi: OpenApiValidator | undefined;
      if (v.openapi !== undefined) {
        try {
          openapi = await compileOpenApi(path.resolve(baseDir, v.openapi), {
            ...(v.basePath !== undefined ? { basePath: v.basePath } : {}),
            ...(v.unknownOperation !== undefined ? { unknownOperation: v.unknownOperation } : {}),
          });
        } catch (err) {
          issues.push({ path: `${at}.openapi`, message: (err as Error).message });
        }
      }
      if (v.openapi === undefined) {
        for (const key of ['basePath', 'unknownOperation'] as const) {
          if (v[key] !== undefined) issues.push({ path: `${at}.${key}`, message: 'applies only with validate.openapi' });
        }
      }
      if (issues.length > before) return undefined;
      return {
        maxBodyBytes,
        matcher: v.contentTypes !== undefined ? new MediaTypeMatcher(v.contentTypes) : undefined,
        schema,
        openapi,
        readsBody: v.body !== undefined || v.limits !== undefined || v.requireBody === true || openapi?.needsBody === true,
        raw: v,
      };
    }),
  );
}

/** The route's validate stages, in order: the head check, then the body check. */
export function validationStages(p: PreparedValidation, mode: 'enforce' | 'shadow', maxBodyBytes: number): Stage[] {
  const v = p.raw;
  const hideErrors = v.errors === 'hidden';
  const stages: Stage[] = [];
  if (p.matcher !== undefined) stages.push(new ContentTypeStage(p.matcher, mode, hideErrors));
  if (p.readsBody || p.openapi !== undefined) {
    const l = v.limits ?? {};
    stages.push(new ValidateStage({
      mode,
      readsBody: p.readsBody,
      schema: p.schema,
      openapi: p.openapi,
      requireBody: v.requireBody ?? false,
      json: { maxDepth: l.maxDepth ?? DEFAULT_JSON_LIMITS.maxDepth, maxKeys: l.maxKeys ?? DEFAULT_JSON_LIMITS.maxKeys },
      forms: {
        maxParts: l.maxParts ?? DEFAULT_MAX_PARTS,
        maxFieldBytes: l.maxFieldBytes !== undefined ? parseSize(l.maxFieldBytes) : DEFAULT_MAX_FIELD_BYTES,
        maxFileBytes: l.maxFileBytes !== undefined ? parseSize(l.maxFileBytes) : maxBodyBytes,
      },
      hideErrors,
      maxErrors: v.maxErrors ?? DEFAULT_MAX_ERRORS,
    }));
  }
  return stages;
}
