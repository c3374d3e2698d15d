/**
 * `validate.body`: a JSON Schema, inline or `{ $ref: file }` (relative to the config file), compiled
 * once by ajv at config build — draft 2020-12 (`ajv/dist/2020`) or draft-07 (`ajv`), chosen by the
 * schema's `$schema`, 2020-12 when it has none — with every format of ajv-formats.
 *
 * References to further files (`"$ref": "common.json#/$defs/sku"`) are loaded at build time, relative
 * to the file that names them (to the config file for an inline schema); nothing is ever fetched over
 * the network. At request time only the compiled function runs; it never changes the data
 * (no defaults, no coercion, no removal).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import type { FieldError } from '../../errors/gateway-error.ts';
import { pointerToken } from './json.ts';

// ajv-formats is CommonJS: its module object is the plugin function.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv | Ajv2020) => unknown;

export type Draft = '2020-12' | 'draft-07';

/** The canonical `$schema` of each draft (ajv knows its meta-schema by this id). */
const META: Record<Draft, string> = {
  '2020-12': 'https://json-schema.org/draft/2020-12/schema',
  'draft-07': 'http://json-schema.org/draft-07/schema#',
};

/** The draft a schema declares (http or https, with or without the final `#`); undefined for any other. */
export function draftOf(schema: unknown): Draft | undefined {
  if (typeof schema !== 'object' || schema === null) return '2020-12';
  const declared = (schema as { $schema?: unknown }).$schema;
  if (declared === undefined) return '2020-12';
  if (typeof declared !== 'string') return undefined;
  const id = declared.replace(/#$/, '').replace(/^https?:\/\//, '');
  if (id === 'json-schema.org/draft/2020-12/schema') return '2020-12';
  if (id === 'json-schema.org/draft-07/schema') return 'draft-07';
  return undefined;
}

/** Reads a JSON or YAML schema file. */
async function readSchemaFile(file: string): Promise<AnySchemaObject> {
  const text = await readFile(file, 'utf8');
  const data: unknown = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('is not a JSON Schema object');
  return data as AnySchemaObject;
}

/** A `{ $ref: "<file>" }` schema: the whole schema is a reference to a file. */
function fileRef(schema: unknown): string | undefined {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return undefined;
  const keys = Object.keys(schema);
  const ref = (schema as { $ref?: unknown }).$ref;
  if (keys.length !== 1 || typeof ref !== 'string' || ref.startsWith('#') || /^[a-z][a-z0-9+.-]*:/i.test(ref)) return undefined;
  return ref;
}

/**
 * Compiles body schemas for one config build: one ajv instance per draft, shared by the routes, and
 * a schema file referenced by several routes is compiled once.
 */
export class BodySchemaCompiler {
  private readonly baseDir: string;
  private readonly instances = new Map<Draft, Ajv | Ajv2020>();
  private readonly byFile = new Map<string, Promise<ValidateFunction>>();

  constructor(baseDir: string) {
    this.baseDir = baseDir;
  }

  /** Compiles `schema` (inline, or `{ $ref: file }`); throws an Error whose message says what is wrong. */
  async compile(schema: unknown): Promise<ValidateFunction> {
    if (typeof schema === 'boolean') return this.ajv('2020-12').compile(schema);
    const ref = fileRef(schema);
    if (ref === undefined) return this.compileRoot(schema as AnySchemaObject, undefined);
    const [file = '', fragment] = ref.split('#', 2);
    if (fragment !== undefined && fragment !== '') throw new Error(`$ref "${ref}": refer to a whole file; put the fragment's schema in its own file or inline`);
    const abs = path.resolve(this.baseDir, file);
    let pending = this.byFile.get(abs);
    if (pending === undefined) {
      pending = (async () => {
        let loaded: AnySchemaObject;
        try {
          loaded = await readSchemaFile(abs);
        } catch (err) {
          throw new Error(`cannot use ${ref}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        return this.compileRoot(loaded, abs);
      })();
      this.byFile.set(abs, pending);
    }
    return pending;
  }

  private async compileRoot(schema: AnySchemaObject, file: string | undefined): Promise<ValidateFunction> {
    const draft = draftOf(schema);
    if (draft === undefined) {
      throw new Error(`$schema ${JSON.stringify(schema.$schema)} is not supported; use https://json-schema.org/draft/2020-12/schema or http://json-schema.org/draft-07/schema#`);
    }
    const root: AnySchemaObject = { ...schema };
    if (root.$schema !== undefined) root.$schema = META[draft];
    // A file's relative references resolve against the file itself.
    if (file !== undefined && root.$id === undefined) root.$id = pathToFileURL(file).href;
    return this.ajv(draft).compileAsync(root);
  }

  private ajv(draft: Draft): Ajv | Ajv2020 {
    let ajv = this.instances.get(draft);
    if (ajv) return ajv;
    const options = {
      allErrors: true,
      // User schemas carry annotations ajv does not know (`example`, `x-*`): not an error here, and
      // not logged. An unknown format still is an error: it would silently accept anything.
      strictSchema: 'log' as const,
      strictTypes: false,
      strictTuples: false,
      strictRequired: false,
      logger: false as const,
      validateFormats: true,
      loadSchema: (uri: string) => this.load(uri),
    };
    ajv = draft === '2020-12' ? new Ajv2020(options) : new Ajv(options);
    addFormats(ajv);
    this.instances.set(draft, ajv);
    return ajv;
  }

  /** ajv asks for a schema it has no `$id` for: a file URL, or a path relative to the config file. */
  private async load(uri: string): Promise<AnySchemaObject> {
    const target = uri.replace(/#.*$/, '');
    let file: string;
    if (target.startsWith('file:')) file = fileURLToPath(target);
    else if (!/^[a-z][a-z0-9+.-]*:/i.test(target)) file = path.resolve(this.baseDir, target);
    else throw new Error(`$ref "${uri}": only files are loaded (nothing is fetched over the network)`);
    let loaded: AnySchemaObject;
    try {
      loaded = await readSchemaFile(file);
    } catch (err) {
      throw new Error(`cannot use $ref "${uri}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return loaded.$id === undefined ? { ...loaded, $id: target.startsWith('file:') ? target : pathToFileURL(file).href } : loaded;
  }
}

/** ajv's errors as `{ pointer, message }`, pointing at the missing or extra member itself. */
export function toFieldErrors(errors: readonly ErrorObject[] | null | undefined, max: number): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors ?? []) {
    if (out.length >= max) break;
    let pointer = e.instancePath;
    let message = e.message ?? 'is invalid';
    const p = e.params as Record<string, unknown>;
    if (e.keyword === 'required' && typeof p.missingProperty === 'string') {
      pointer += `/${pointerToken(p.missingProperty)}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties' && typeof p.additionalProperty === 'string') {
      pointer += `/${pointerToken(p.additionalProperty)}`;
      message = 'is not allowed';
    } else if (e.keyword === 'unevaluatedProperties' && typeof p.unevaluatedProperty === 'string') {
      pointer += `/${pointerToken(p.unevaluatedProperty)}`;
      message = 'is not allowed';
    } else if (e.keyword === 'dependentRequired' || e.keyword === 'dependencies') {
      if (typeof p.missingProperty === 'string') pointer += `/${pointerToken(p.missingProperty)}`;
    }
    out.push({ pointer, message });
  }
  return out;
}
