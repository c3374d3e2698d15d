/**
 * Parameters, compiled once from the document: style, explode, the schema's types, the ajv
 * validator. Styles (OpenAPI 3 "Style Values"): path simple/label/matrix, query form (explode
 * true/false), spaceDelimited, pipeDelimited, deepObject, header simple, cookie form. They are read
 * per request by deserialize.ts.
 */
import type { ValidateFunction } from 'ajv';
import { OpenApiConfigError, child, escapeToken, isObject, type Loc } from './document.ts';
import type { SchemaCompiler, Shape } from './schema.ts';

export type ParamIn = 'path' | 'query' | 'header' | 'cookie';
export type Kind = 'primitive' | 'array' | 'object';

export interface CompiledParam {
  readonly name: string;
  readonly in: ParamIn;
  /** The header name lower-case; else the name. */
  readonly key: string;
  /** `#/query/limit`, `#/header/x-trace`: where its errors point. */
  readonly pointer: string;
  readonly required: boolean;
  readonly style: string;
  readonly explode: boolean;
  readonly kind: Kind;
  readonly shape: Shape;
  /** A `content: { application/json: ... }` parameter: its text is JSON. */
  readonly json: boolean;
  readonly validate: ValidateFunction;
  /** Path parameters: the index of its template expression. */
  readonly pathIndex: number;
}

const STYLES: Record<ParamIn, readonly string[]> = {
  path: ['simple', 'label', 'matrix'],
  query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'],
  header: ['simple'],
  cookie: ['form'],
};
const DEFAULT_STYLE: Record<ParamIn, string> = { path: 'simple', query: 'form', header: 'simple', cookie: 'form' };
/** OpenAPI: header parameters with these names "SHALL be ignored" (they have their own fields). */
export const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);

export function paramKey(node: Record<string, unknown>): string | undefined {
  if (typeof node.name !== 'string' || typeof node.in !== 'string') return undefined;
  return `${node.in}:${node.in === 'header' ? node.name.toLowerCase() : node.name}`;
}

export function compileParam(node: Record<string, unknown>, at: Loc, schemas: SchemaCompiler, pathNames: readonly string[]): CompiledParam {
  const name = node.name;
  if (typeof name !== 'string' || name === '') throw new OpenApiConfigError(child(at, 'name'), 'a parameter needs a name');
  const where = node.in;
  if (where !== 'path' && where !== 'query' && where !== 'header' && where !== 'cookie') {
    throw new OpenApiConfigError(child(at, 'in'), 'must be path, query, header or cookie');
  }
  const style = node.style ?? DEFAULT_STYLE[where];
  if (typeof style !== 'string' || !STYLES[where].includes(style)) {
    throw new OpenApiConfigError(child(at, 'style'), `style ${JSON.stringify(style)} is not supported for ${where} parameters (${STYLES[where].join(', ')})`);
  }
  if (node.explode !== undefined && typeof node.explode !== 'boolean') throw new OpenApiConfigError(child(at, 'explode'), 'must be a boolean');
  const explode = node.explode ?? style === 'form';
  let schema: unknown;
  let schemaAt: Loc;
  let json = false;
  if (node.schema !== undefined) {
    schema = node.schema;
    schemaAt = child(at, 'schema');
  } else if (isObject(node.content)) {
    const types = Object.keys(node.content);
    const type = types[0];
    if (types.length !== 1 || type === undefined) throw new OpenApiConfigError(child(at, 'content'), 'must have exactly one media type');
    const media = node.content[type];
    schemaAt = child(child(child(at, 'content'), type), 'schema');
    schema = isObject(media) ? media.schema : undefined;
    if (schema === undefined) schema = {};
    json = isJsonMediaType(type.split(';')[0]?.trim().toLowerCase() ?? '');
  } else {
    throw new OpenApiConfigError(at, `parameter "${name}" needs a schema or a content`);
  }
  const pathIndex = where === 'path' ? pathNames.indexOf(name) : -1;
  if (where === 'path' && pathIndex === -1) {
    throw new OpenApiConfigError(child(at, 'name'), `path parameter "${name}" is not in the path template`);
  }
  const validate = schemas.validator(schema, schemaAt);
  const shape = schemas.shape(schema, schemaAt);
  const kind: Kind = json ? 'primitive' : kindOf(shape);
  if (style === 'deepObject' && kind !== 'object') throw new OpenApiConfigError(child(at, 'style'), 'deepObject needs an object schema');
  const key = where === 'header' ? name.toLowerCase() : name;
  return {
    name,
    in: where,
    key,
    pointer: `#/${where}/${escapeToken(key)}`,
    required: where === 'path' || node.required === true,
    style,
    explode,
    kind,
    shape,
    json,
    validate,
    pathIndex,
  };
}

export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

export function kindOf(shape: Shape): Kind {
  if (shape.types.has('string')) return 'primitive';
  if (shape.types.has('array')) return 'array';
  if (shape.types.has('object')) return 'object';
  return 'primitive';
}
