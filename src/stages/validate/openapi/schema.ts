/**
 * OpenAPI schemas → JSON Schema 2020-12, compiled by one ajv instance per document.
 *
 * OpenAPI 3.1 schemas already are 2020-12; 3.0 schemas are translated: `nullable`, boolean
 * `exclusiveMinimum`/`exclusiveMaximum`, `$ref` siblings ignored, `example`, `discriminator`,
 * `xml`, `externalDocs` and `x-*` dropped. In both, a property marked `readOnly` is removed from
 * `required` (it is sent in responses, never in requests).
 *
 * Every schema `$ref` becomes a reference to an ajv schema with its own `$id`, translated once and
 * added to ajv once: shared schemas are compiled once and a recursive schema (a tree node that
 * contains tree nodes) is a recursive reference, never an endless inlining.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { DocumentSet, OpenApiConfigError, child, escapeToken, isObject, locKey, type Loc } from './document.ts';

// ajv-formats is CommonJS: its module object is the plugin function.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;

/** Keywords whose value is a map of names to schemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
/** Keywords whose value is a list of schemas. */
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
/** Keywords whose value is one schema (or a boolean). */
const SCHEMA_ONE = new Set([
  'items', 'additionalItems', 'additionalProperties', 'not', 'contains', 'propertyNames', 'if', 'then', 'else',
  'unevaluatedProperties', 'unevaluatedItems', 'contentSchema',
]);
/** OpenAPI annotations that are no JSON Schema keywords (and `$schema`: every schema here is 2020-12). */
const DROPPED = new Set(['$schema', 'discriminator', 'xml', 'externalDocs', 'example']);
/** More 3.0-only keywords handled by the translation itself. */
const DROPPED_30 = new Set(['nullable', 'examples']);

const MAX_DEPTH = 64;

export type OpenApiVersion = '3.0' | '3.1';

/** What a parameter schema accepts, enough to turn a parameter's text into typed values. */
export interface Shape {
  readonly types: ReadonlySet<string>;
  readonly items: Shape | undefined;
  readonly props: ReadonlyMap<string, Shape>;
  readonly additional: Shape | undefined;
}

export const EMPTY_SHAPE: Shape = { types: new Set(), items: undefined, props: new Map(), additional: undefined };

export class SchemaCompiler {
  readonly ajv: Ajv2020;
  private readonly docs: DocumentSet;
  private readonly v30: boolean;
  /** `file#pointer` of each `$ref` target → the `$id` it is added to ajv under. */
  private readonly ids = new Map<string, string>();
  private readonly pending: { at: Loc; node: unknown; id: string }[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(docs: DocumentSet, version: OpenApiVersion) {
    this.docs = docs;
    this.v30 = version === '3.0';
    // allErrors stays off: with it, a 1 MB body of wrong items would build one error object per
    // item (ajv's security notes); each parameter and the body report their first error.
    this.ajv = new Ajv2020({ strict: false, logger: false, allErrors: false, validateFormats: true });
    addFormats(this.ajv);
    addOpenApiFormats(this.ajv);
  }

  /**
   * The compiled validator of the schema `node` found at `at`: translated (with every schema it
   * refers to, transitively) and compiled once per location — a path-level parameter or a shared
   * `$ref`'d parameter serves many operations.
   */
  validator(node: unknown, at: Loc): ValidateFunction {
    const key = locKey(at);
    const hit = this.compiled.get(key);
    if (hit) return hit;
    const translated = this.walk(node, at, undefined, 0);
    this.drain();
    const schema = typeof translated === 'boolean' ? (translated ? {} : { not: {} }) : (translated as object);
    this.checkMeta(schema, at);
    let fn: ValidateFunction;
    try {
      fn = this.ajv.compile(schema);
    } catch (err) {
      throw new OpenApiConfigError(at, `schema does not compile: ${(err as Error).message}`);
    }
    this.compiled.set(key, fn);
    return fn;
  }

  /** The types a schema accepts, following `$ref`, `allOf`, `anyOf`, `oneOf` and `enum`. */
  shape(node: unknown, at: Loc, depth = 0): Shape {
    if (depth > 8 || !isObject(node)) return EMPTY_SHAPE;
    const types = new Set<string>();
    let items: Shape | undefined;
    let additional: Shape | undefined;
    const props = new Map<string, Shape>();
    const merge = (s: Shape): void => {
      for (const t of s.types) types.add(t);
      items ??= s.items;
      additional ??= s.additional;
      for (const [k, v] of s.props) if (!props.has(k)) props.set(k, v);
    };
    if (typeof node.$ref === 'string') {
      const target = this.docs.resolve(node.$ref, at);
      merge(this.shape(this.docs.at(target), target, depth + 1));
      if (this.v30) return { types, items, props, additional };
    }
    const t = node.type;
    if (typeof t === 'string') types.add(t);
    else if (Array.isArray(t)) for (const x of t) if (typeof x === 'string') types.add(x);
    if (this.v30 && node.nullable === true) types.add('null');
    for (const key of ['allOf', 'anyOf', 'oneOf']) {
      const list = node[key];
      if (Array.isArray(list)) list.forEach((s, i) => merge(this.shape(s, child(child(at, key), i), depth + 1)));
    }
    const values = Array.isArray(node.enum) ? node.enum : 'const' in node ? [node.const] : [];
    if (types.size === 0) {
      for (const v of values) {
        if (typeof v === 'number') types.add(Number.isInteger(v) ? 'integer' : 'number');
        else if (typeof v === 'boolean') types.add('boolean');
        else if (typeof v === 'string') types.add('string');
        else if (v === null) types.add('null');
      }
    }
    if (isObject(node.items)) items ??= this.shape(node.items, child(at, 'items'), depth + 1);
    if (isObject(node.properties)) {
      for (const [k, v] of Object.entries(node.properties)) props.set(k, this.shape(v, child(child(at, 'properties'), k), depth + 1));
    }
    if (isObject(node.additionalProperties)) additional ??= this.shape(node.additionalProperties, child(at, 'additionalProperties'), depth + 1);
    if (types.size === 0 && items) types.add('array');
    if (types.size === 0 && props.size > 0) types.add('object');
    return { types, items, props, additional };
  }

  private drain(): void {
    for (let next = this.pending.shift(); next; next = this.pending.shift()) {
      const translated = this.walk(next.node, next.at, undefined, 0);
      const schema = typeof translated === 'boolean'
        ? { $id: next.id, ...(translated ? {} : { not: {} }) }
        : { ...(translated as Record<string, unknown>), $id: next.id };
      this.checkMeta(schema, next.at);
      try {
        this.ajv.addSchema(schema);
      } catch (err) {
        throw new OpenApiConfigError(next.at, `invalid schema: ${(err as Error).message}`);
      }
    }
  }

  /** Meta-schema check first, so that the error names the exact keyword in the document. */
  private checkMeta(schema: object, at: Loc): void {
    if (this.ajv.validateSchema(schema)) return;
    const errors = this.ajv.errors ?? [];
    // The deepest error is the offending keyword; the others are the anyOf branches around it.
    const worst = errors.reduce<ErrorObject | undefined>((a, e) => (!a || e.instancePath.length > a.instancePath.length ? e : a), undefined);
    const where = { file: at.file, pointer: at.pointer + (worst?.instancePath ?? '') };
    throw new OpenApiConfigError(where, `invalid schema: ${worst?.message ?? 'rejected by the JSON Schema meta-schema'}`);
  }

  /** The `$id` of the schema at `target`, queued for translation the first time it is referred to. */
  private idFor(target: Loc): string {
    const key = locKey(target);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = `urn:portcullis:openapi:${this.ids.size}`;
      this.ids.set(key, id);
      this.pending.push({ at: target, node: this.docs.at(target), id });
    }
    return id;
  }

  private walk(node: unknown, at: Loc, readOnlyAround: ReadonlySet<string> | undefined, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new OpenApiConfigError(at, `schema nested deeper than ${MAX_DEPTH} levels`);
    if (typeof node === 'boolean' && !this.v30) return node;
    if (!isObject(node)) throw new OpenApiConfigError(at, 'a schema must be an object');
    const out: Record<string, unknown> = {};
    if (node.$ref !== undefined) {
      if (typeof node.$ref !== 'string') throw new OpenApiConfigError(child(at, '$ref'), 'must be a string');
      out.$ref = this.idFor(this.docs.resolve(node.$ref, at));
      // OpenAPI 3.0: "sibling elements of a $ref are ignored".
      if (this.v30) return out;
    }
    // readOnly properties of this schema and of its allOf members are not required in a request.
    const readOnly = this.readOnlyNames(node, at, readOnlyAround);
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' || key.startsWith('x-') || DROPPED.has(key) || (this.v30 && DROPPED_30.has(key))) continue;
      const here = child(at, key);
      if (SCHEMA_MAPS.has(key)) {
        if (!isObject(value)) throw new OpenApiConfigError(here, 'must be an object of schemas');
        const map: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) map[k] = this.walk(v, child(here, k), undefined, depth + 1);
        out[key] = map;
      } else if (SCHEMA_LISTS.has(key)) {
        if (!Array.isArray(value)) throw new OpenApiConfigError(here, 'must be a list of schemas');
        const around = key === 'allOf' ? readOnly : undefined;
        out[key] = value.map((v, i) => this.walk(v, child(here, i), around, depth + 1));
      } else if (SCHEMA_ONE.has(key)) {
        out[key] = typeof value === 'boolean' && key !== 'items' ? value : this.walk(value, here, undefined, depth + 1);
      } else if (key === 'pattern') {
        if (typeof value === 'string') checkPattern(value, here);
        out[key] = value;
      } else {
        out[key] = value;
      }
    }
    if (Array.isArray(out.required) && readOnly.size > 0) {
      out.required = out.required.filter((name) => typeof name !== 'string' || !readOnly.has(name));
    }
    return this.v30 ? translate30(node, out) : out;
  }

  /** Names of readOnly properties defined by `node` itself, its allOf members, and around it. */
  private readOnlyNames(node: Record<string, unknown>, at: Loc, around: ReadonlySet<string> | undefined): ReadonlySet<string> {
    const names = new Set<string>(around);
    this.collectReadOnly(node, at, names, new Set(), 0);
    return names;
  }

  private collectReadOnly(node: unknown, at: Loc, names: Set<string>, seen: Set<string>, depth: number): void {
    if (!isObject(node) || depth > 8) return;
    const key = locKey(at);
    if (seen.has(key)) return;
    seen.add(key);
    if (typeof node.$ref === 'string') {
      const target = this.docs.resolve(node.$ref, at);
      this.collectReadOnly(this.docs.at(target), target, names, seen, depth + 1);
      if (this.v30) return;
    }
    if (isObject(node.properties)) {
      for (const [name, prop] of Object.entries(node.properties)) {
        if (this.isReadOnly(prop, child(child(at, 'properties'), name), 0)) names.add(name);
      }
    }
    if (Array.isArray(node.allOf)) {
      node.allOf.forEach((m, i) => this.collectReadOnly(m, child(child(at, 'allOf'), i), names, seen, depth + 1));
    }
  }

  private isReadOnly(node: unknown, at: Loc, depth: number): boolean {
    if (!isObject(node) || depth > 8) return false;
    if (typeof node.$ref === 'string') {
      if (!this.v30 && node.readOnly === true) return true;
      const target = this.docs.resolve(node.$ref, at);
      return this.isReadOnly(this.docs.at(target), target, depth + 1);
    }
    if (node.readOnly === true) return true;
    return Array.isArray(node.allOf) && node.allOf.some((m, i) => this.isReadOnly(m, child(child(at, 'allOf'), i), depth + 1));
  }
}

/** The 3.0 keywords whose meaning differs from JSON Schema 2020-12. */
function translate30(node: Record<string, unknown>, out: Record<string, unknown>): Record<string, unknown> {
  for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (node[flag] === true && typeof node[bound] === 'number') {
      out[flag] = node[bound];
      delete out[bound];
    } else if (typeof node[flag] === 'boolean') {
      delete out[flag];
    }
  }
  if (node.nullable !== true) return out;
  // "nullable: true" adds null to `type`; without a type (allOf: [$ref], oneOf ...) the schema is
  // wrapped, which is what authors of `nullable` + `allOf` mean.
  if (typeof out.type === 'string') {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  if (Array.isArray(out.type)) {
    if (!out.type.includes('null')) out.type = [...out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}

function checkPattern(pattern: string, at: Loc): void {
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    throw new OpenApiConfigError(at, `invalid regular expression: ${(err as Error).message}`);
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The formats OpenAPI defines on top of JSON Schema's. */
function addOpenApiFormats(ajv: Ajv2020): void {
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('float', { type: 'number', validate: () => true });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  ajv.addFormat('byte', { type: 'string', validate: (s: string) => BASE64.test(s) });
  ajv.addFormat('binary', { type: 'string', validate: () => true });
  ajv.addFormat('password', { type: 'string', validate: () => true });
}

export interface Issue {
  pointer: string;
  message: string;
}

/** The first ajv error of a failed validation as an issue; `base` is prepended to its pointer. */
export function issueFrom(base: string, errors: readonly ErrorObject[] | null | undefined): Issue {
  const e = errors?.[0];
  if (!e) return { pointer: base, message: 'is invalid' };
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { pointer: `${base}${e.instancePath}/${escapeToken(String(p.missingProperty))}`, message: 'is required' };
    case 'additionalProperties':
      return { pointer: `${base}${e.instancePath}/${escapeToken(String(p.additionalProperty))}`, message: 'is not allowed' };
    case 'unevaluatedProperties':
      return { pointer: `${base}${e.instancePath}/${escapeToken(String(p.unevaluatedProperty))}`, message: 'is not allowed' };
    case 'enum':
      return { pointer: base + e.instancePath, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'const':
      return { pointer: base + e.instancePath, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'type':
      return { pointer: base + e.instancePath, message: `must be ${String(p.type).split(',').join(' or ')}` };
    default:
      return { pointer: base + e.instancePath, message: e.message ?? 'is invalid' };
  }
}
