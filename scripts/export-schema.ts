/**
 * Writes schema/portcullis.schema.json, the JSON Schema of the config file, from the TypeBox
 * definition in src/config/schema.ts (`npm run schema`). Editors use it for completion and
 * validation as you type; a test checks that the committed file is what this script generates.
 */
import { writeFileSync } from 'node:fs';
import { ConfigSchema } from '../src/config/schema.ts';

export const SCHEMA_FILE = new URL('../schema/portcullis.schema.json', import.meta.url);

/** A whole-value `${NAME}` or `${NAME:-default}` reference, typed by the gateway at load time. */
export const ENV_REFERENCE_PATTERN = '^\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}$';

/**
 * A plain copy of `schema`: TypeBox's symbol keys (Kind, Optional) dropped, key order kept. The file
 * an editor checks still holds `port: ${PORT}` as text, so wherever the gateway wants a number or a
 * boolean, the exported schema also accepts a whole-value `${...}` reference.
 */
function forEditors(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forEditors);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(schema)) out[key] = forEditors((schema as Record<string, unknown>)[key]);
  if (out.type === 'integer' || out.type === 'number' || out.type === 'boolean') {
    const { description, default: fallback, ...typed } = out;
    return {
      ...(description !== undefined ? { description } : {}),
      ...(fallback !== undefined ? { default: fallback } : {}),
      anyOf: [typed, { type: 'string', pattern: ENV_REFERENCE_PATTERN, description: 'An environment variable reference.' }],
    };
  }
  return out;
}

/** The file's exact text: draft-07 (what ajv validates with), two-space indent, final newline. */
export function schemaText(): string {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...(forEditors(ConfigSchema) as Record<string, unknown>) };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(SCHEMA_FILE, schemaText());
  process.stdout.write(`wrote ${SCHEMA_FILE.pathname}\n`);
}
