/**
 * OpenAPI request validation: a route's `validate: { openapi: FILE }`.
 *
 * At config build the document (OpenAPI 3.0 or 3.1, YAML or JSON, `$ref`s to its own parts and to
 * relative files) is compiled into a path-template trie of operations, each with its parameters'
 * readers and ajv validators and its request body's validators by media type. Per request: one
 * lookup, the compiled readers and validators; nothing is parsed from the document, no regex is
 * built and no schema compiled.
 *
 * Result: null when the request is valid, else the status (400 invalid, 404 no such operation,
 * 405 the path exists but not for this method, 415 the body's media type is not in the operation)
 * and the issues, each with a JSON Pointer: into the body (`/items/0/sku`), or `#/path/id`,
 * `#/query/limit`, `#/header/x-trace`, `#/cookie/session` for parameters.
 */
import { DocumentSet, OpenApiConfigError, child, isObject, unchanged, type Loc } from './openapi/document.ts';
import { basePaths, normalizeBasePath, parseTemplate, PathTable, stripBase, type PathMatch } from './openapi/paths.ts';
import { checkParam, coerceForm, type Sources } from './openapi/deserialize.ts';
import { IGNORED_HEADERS, compileParam, isJsonMediaType, paramKey, type CompiledParam } from './openapi/params.ts';
import { SchemaCompiler, issueFrom, type OpenApiVersion, type Shape } from './openapi/schema.ts';
import type { ValidateFunction } from 'ajv';

export { OpenApiConfigError } from './openapi/document.ts';

export interface ValidationIssue {
  pointer: string;
  message: string;
}

export interface OpenApiResult {
  status: 400 | 404 | 405 | 415;
  errors: ValidationIssue[];
  /** 405: the methods the document defines for the path. */
  allow?: string[];
}

export interface OpenApiInput {
  method: string;
  /** The normalised request path as the client sent it (the document's base path included). */
  path: string;
  /** Raw query string without "?". */
  query: string;
  /** Lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  /** Parsed by the stage: a JSON value, or the fields object of a urlencoded form; undefined when there is no body. */
  body: unknown | undefined;
  /** Media type, lower-case, without parameters. */
  contentType: string | undefined;
}

export interface OpenApiValidator {
  /** Whether any operation has a request body (the stage must then read and parse bodies). */
  readonly needsBody: boolean;
  validate(input: OpenApiInput): OpenApiResult | null;
}

export interface OpenApiOptions {
  /**
   * A request the document has no operation for: 405 (default) answers 405 with `Allow` when the
   * path exists for other methods, 404 otherwise; 404 always answers 404 (hides the methods).
   */
  unknownOperation?: 404 | 405;
  /**
   * The path prefix of the API, overriding the document's `servers` (`https://api.example.com/v1`
   * → `/v1`); "/" when requests carry the document's paths as they are.
   */
  basePath?: string;
}

interface CompiledMedia {
  readonly type: string;
  readonly validate: ValidateFunction | undefined;
  readonly shape: Shape | undefined;
}

interface CompiledBody {
  readonly required: boolean;
  readonly media: ReadonlyMap<string, CompiledMedia>;
  /** For the 415 message. */
  readonly types: string;
}

interface Operation {
  readonly params: readonly CompiledParam[];
  readonly body: CompiledBody | undefined;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const IN_ORDER = { path: 0, query: 1, header: 2, cookie: 3 } as const;
const FORM = 'application/x-www-form-urlencoded';

/** The file must be an absolute path; errors are OpenApiConfigError naming the file and pointer. */
export async function compileOpenApi(file: string, opts: OpenApiOptions = {}): Promise<OpenApiValidator> {
  return compileOpenApiSync(file, opts);
}

/**
 * Compiled documents by file and options. A config usually names one document in many routes (one
 * per operation, as `portcullis import-openapi` writes them): it is compiled once, and again only
 * when one of its files changed (a reload then sees the new document).
 */
const compiledCache = new Map<string, { digests: ReadonlyMap<string, string>; validator: OpenApiValidator }>();
const MAX_CACHED = 64;

/** The same, synchronously (the document and the files it refers to are read with readFileSync). */
export function compileOpenApiSync(file: string, opts: OpenApiOptions = {}): OpenApiValidator {
  const key = JSON.stringify([file, opts.unknownOperation ?? 405, opts.basePath ?? null]);
  const hit = compiledCache.get(key);
  if (hit && unchanged(hit.digests)) return hit.validator;
  const docs = new DocumentSet();
  const validator = compileDocument(file, opts, docs);
  compiledCache.delete(key);
  if (compiledCache.size >= MAX_CACHED) compiledCache.delete(compiledCache.keys().next().value as string);
  compiledCache.set(key, { digests: docs.digests, validator });
  return validator;
}

function compileDocument(file: string, opts: OpenApiOptions, docs: DocumentSet): OpenApiValidator {
  const root: Loc = { file, pointer: '' };
  const doc = docs.get(file);
  if (!isObject(doc)) throw new OpenApiConfigError(root, 'an OpenAPI document must be a mapping');
  const version = documentVersion(doc, root);
  const schemas = new SchemaCompiler(docs, version);
  const table = new PathTable<Operation>();
  let needsBody = false;
  const pathsAt = child(root, 'paths');
  const paths = doc.paths ?? {};
  if (!isObject(paths)) throw new OpenApiConfigError(pathsAt, 'must be a mapping of paths');
  for (const [template, rawItem] of Object.entries(paths)) {
    if (template.startsWith('x-')) continue;
    const templateAt = child(pathsAt, template);
    const parsed = parseTemplate(template, templateAt);
    const { node: item, at: itemAt } = docs.deref(rawItem, templateAt, 'a path item');
    const shared = paramList(item.parameters, child(itemAt, 'parameters'), docs);
    for (const method of METHODS) {
      const opNode = item[method];
      if (opNode === undefined) continue;
      const opAt = child(itemAt, method);
      if (!isObject(opNode)) throw new OpenApiConfigError(opAt, 'an operation must be a mapping');
      const op = compileOperation(opNode, opAt, shared, parsed.names, docs, schemas);
      needsBody ||= op.body !== undefined;
      table.add(parsed, template, method.toUpperCase(), op, opAt);
    }
  }
  const bases = opts.basePath !== undefined ? [normalizeBasePath(opts.basePath)] : basePaths(doc.servers, child(root, 'servers'));
  return new CompiledOpenApi(table, bases, opts.unknownOperation ?? 405, needsBody);
}

function documentVersion(doc: Record<string, unknown>, root: Loc): OpenApiVersion {
  if (doc.swagger !== undefined) throw new OpenApiConfigError(child(root, 'swagger'), 'Swagger 2.0 is not supported: convert the document to OpenAPI 3');
  const v = doc.openapi;
  if (typeof v === 'string' && /^3\.0\.\d+/.test(v)) return '3.0';
  if (typeof v === 'string' && /^3\.1\.\d+/.test(v)) {
    const dialect = doc.jsonSchemaDialect;
    if (dialect !== undefined && dialect !== 'https://json-schema.org/draft/2020-12/schema' && dialect !== 'https://spec.openapis.org/oas/3.1/dialect/base') {
      throw new OpenApiConfigError(child(root, 'jsonSchemaDialect'), 'only the JSON Schema 2020-12 dialect is supported');
    }
    return '3.1';
  }
  throw new OpenApiConfigError(child(root, 'openapi'), `must be an OpenAPI version 3.0.x or 3.1.x (got ${JSON.stringify(v)})`);
}

/** Parameters of a path item or an operation, `$ref`s followed, with where each really is. */
function paramList(list: unknown, at: Loc, docs: DocumentSet): { node: Record<string, unknown>; at: Loc }[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new OpenApiConfigError(at, 'must be a list of parameters');
  return list.map((p, i) => docs.deref(p, child(at, i), 'a parameter'));
}

function compileOperation(
  node: Record<string, unknown>,
  at: Loc,
  shared: readonly { node: Record<string, unknown>; at: Loc }[],
  pathNames: readonly string[],
  docs: DocumentSet,
  schemas: SchemaCompiler,
): Operation {
  // Operation parameters override the path item's of the same name and location.
  const byKey = new Map<string, { node: Record<string, unknown>; at: Loc }>();
  for (const p of [...shared, ...paramList(node.parameters, child(at, 'parameters'), docs)]) {
    const key = paramKey(p.node);
    if (key === undefined) throw new OpenApiConfigError(p.at, 'a parameter needs a name and an "in"');
    byKey.set(key, p);
  }
  const params: CompiledParam[] = [];
  for (const p of byKey.values()) {
    if (p.node.in === 'header' && IGNORED_HEADERS.has(String(p.node.name).toLowerCase())) continue;
    params.push(compileParam(p.node, p.at, schemas, pathNames));
  }
  for (const name of pathNames) {
    if (!params.some((p) => p.in === 'path' && p.name === name)) {
      throw new OpenApiConfigError(at, `the path template's {${name}} has no path parameter`);
    }
  }
  params.sort((a, b) => IN_ORDER[a.in] - IN_ORDER[b.in]);
  const body = node.requestBody === undefined ? undefined : compileBody(node.requestBody, child(at, 'requestBody'), docs, schemas);
  return { params, body };
}

function compileBody(raw: unknown, at: Loc, docs: DocumentSet, schemas: SchemaCompiler): CompiledBody {
  const { node, at: here } = docs.deref(raw, at, 'a request body');
  const contentAt = child(here, 'content');
  if (!isObject(node.content)) throw new OpenApiConfigError(contentAt, 'must be a mapping of media types');
  const media = new Map<string, CompiledMedia>();
  for (const [type, m] of Object.entries(node.content)) {
    const mAt = child(contentAt, type);
    if (!isObject(m)) throw new OpenApiConfigError(mAt, 'a media type must be a mapping');
    const key = (type.split(';')[0] ?? '').trim().toLowerCase();
    const schemaAt = child(mAt, 'schema');
    const validate = m.schema === undefined ? undefined : schemas.validator(m.schema, schemaAt);
    const shape = m.schema === undefined ? undefined : schemas.shape(m.schema, schemaAt);
    media.set(key, { type: key, validate, shape });
  }
  const types = [...media.keys()];
  return { required: node.required === true, media, types: types.length === 1 ? (types[0] as string) : `one of ${types.join(', ')}` };
}

class CompiledOpenApi implements OpenApiValidator {
  readonly needsBody: boolean;
  private readonly table: PathTable<Operation>;
  private readonly bases: readonly string[];
  private readonly unknownOperation: 404 | 405;

  constructor(table: PathTable<Operation>, bases: readonly string[], unknownOperation: 404 | 405, needsBody: boolean) {
    this.table = table;
    this.bases = bases;
    this.unknownOperation = unknownOperation;
    this.needsBody = needsBody;
  }

  validate(input: OpenApiInput): OpenApiResult | null {
    const found = this.lookup(input.path, input.method);
    if (found.kind !== 'match') {
      if (found.kind === 'method' && this.unknownOperation === 405) {
        return { status: 405, errors: [{ pointer: '#/method', message: `the API has no ${input.method} operation for this path` }], allow: found.allow };
      }
      return { status: 404, errors: [{ pointer: '#/path', message: 'the API has no operation for this path' }] };
    }
    const op = found.op;
    const body = op.body;
    let media: CompiledMedia | undefined;
    if (body && input.body !== undefined) {
      media = mediaFor(body, input.contentType);
      if (!media) {
        const message = input.contentType === undefined ? `is missing; the body must be ${body.types}` : `must be ${body.types}`;
        return { status: 415, errors: [{ pointer: '#/header/content-type', message }] };
      }
    }
    let errors: ValidationIssue[] | undefined;
    if (op.params.length > 0) {
      const src: Sources = { pathValues: found.values, rawQuery: input.query, headers: input.headers, query: undefined, cookies: undefined };
      for (const p of op.params) {
        const issue = checkParam(p, src);
        if (issue) (errors ??= []).push(issue);
      }
    }
    if (body) {
      if (input.body === undefined) {
        if (body.required) (errors ??= []).push({ pointer: '', message: 'the request body is required' });
      } else if (media?.validate && input.contentType !== undefined) {
        const ct = input.contentType;
        const value = ct === FORM ? coerceForm(input.body, media.shape as Shape) : isJsonMediaType(ct) ? input.body : undefined;
        if (value !== undefined && !media.validate(value)) (errors ??= []).push(issueFrom('', media.validate.errors));
      }
    }
    return errors ? { status: 400, errors } : null;
  }

  private lookup(path: string, method: string): PathMatch<Operation> {
    let best: PathMatch<Operation> = { kind: 'none' };
    for (const base of this.bases) {
      const rest = stripBase(path, base);
      if (rest === null) continue;
      const m = this.table.find(rest, method);
      if (m.kind === 'match') return m;
      if (m.kind === 'method' && best.kind === 'none') best = m;
    }
    return best;
  }
}

/** The operation's media type for the request's: exact, then `type/*`, then `*\/*`. */
function mediaFor(body: CompiledBody, contentType: string | undefined): CompiledMedia | undefined {
  if (contentType === undefined) return undefined;
  const exact = body.media.get(contentType);
  if (exact) return exact;
  const slash = contentType.indexOf('/');
  return (slash > 0 ? body.media.get(`${contentType.slice(0, slash)}/*`) : undefined) ?? body.media.get('*/*');
}
