/**
 * Parameters read per request from the path, query string, headers and cookies, in their style, and
 * form bodies. The text of a parameter becomes the schema's type: integer, number and boolean, for
 * the value, the items of an array or the properties of an object; anything else stays a string and
 * the schema decides.
 */
import { isObject } from './document.ts';
import { kindOf, type CompiledParam, type Kind } from './params.ts';
import { EMPTY_SHAPE, issueFrom, type Issue, type Shape } from './schema.ts';

/** A parameter whose text cannot be read in its style. */
class Unreadable {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

const ABSENT = Symbol('absent');

/** The request's parameter sources; the query string and cookies are parsed on first use. */
export interface Sources {
  pathValues: readonly string[];
  rawQuery: string;
  headers: Record<string, string | string[] | undefined>;
  query: Map<string, string[]> | undefined;
  cookies: Map<string, string[]> | undefined;
}

/** Reads, coerces and validates one parameter; returns an issue or undefined. */
export function checkParam(p: CompiledParam, src: Sources): Issue | undefined {
  let value: unknown;
  try {
    value = read(p, src);
  } catch (err) {
    if (err instanceof Unreadable) return { pointer: p.pointer, message: err.message };
    if (err instanceof URIError) return { pointer: p.pointer, message: 'has malformed percent-encoding' };
    throw err;
  }
  if (value === ABSENT) return p.required ? { pointer: p.pointer, message: 'is required' } : undefined;
  if (p.json) {
    try {
      value = JSON.parse(value as string) as unknown;
    } catch {
      return { pointer: p.pointer, message: 'must be JSON' };
    }
  } else {
    value = coerce(p.kind, p.shape, value);
  }
  return p.validate(value) ? undefined : issueFrom(p.pointer, p.validate.errors);
}

function read(p: CompiledParam, src: Sources): unknown {
  switch (p.in) {
    case 'path':
      return fromPath(p, src.pathValues[p.pathIndex] as string);
    case 'query':
      src.query ??= parseQuery(src.rawQuery);
      return fromQuery(p, src.query);
    case 'header':
      return fromHeader(p, src.headers[p.key]);
    case 'cookie':
      src.cookies ??= parseCookies(src.headers.cookie);
      return fromCookie(p, src.cookies);
  }
}

function decodePath(s: string): string {
  return s.includes('%') ? decodeURIComponent(s) : s;
}

/** Query strings as browsers send them: "+" is a space. */
function decodeQuery(s: string): string {
  const t = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  return t.includes('%') ? decodeURIComponent(t) : t;
}

function decodeCookie(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // cookie values are not necessarily percent-encoded
  }
}

function identity(s: string): string {
  return s;
}

/** `text` of a non-exploded value: one value, a `sep`-separated list, or key/value pairs. */
function split(kind: Kind, text: string, sep: string, explode: boolean, decode: (s: string) => string): unknown {
  if (kind === 'primitive') return decode(text);
  const parts = text === '' ? [] : text.split(sep);
  if (kind === 'array') return parts.map(decode);
  return explode ? keyEqualsValue(parts, decode) : keyCommaValue(parts, decode);
}

/** `R=100,G=200` (exploded objects). */
function keyEqualsValue(parts: readonly string[], decode: (s: string) => string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const part of parts) {
    const eq = part.indexOf('=');
    out[decode(eq === -1 ? part : part.slice(0, eq))] = decode(eq === -1 ? '' : part.slice(eq + 1));
  }
  return out;
}

/** `R,100,G,200` (objects not exploded). */
function keyCommaValue(parts: readonly string[], decode: (s: string) => string): Record<string, string> {
  if (parts.length % 2 !== 0) throw new Unreadable('must be a list of key,value pairs');
  const out = Object.create(null) as Record<string, string>;
  for (let i = 0; i < parts.length; i += 2) out[decode(parts[i] as string)] = decode(parts[i + 1] as string);
  return out;
}

function fromPath(p: CompiledParam, raw: string): unknown {
  if (p.style === 'label') {
    if (!raw.startsWith('.')) throw new Unreadable('must start with "." (label style)');
    return split(p.kind, raw.slice(1), p.explode ? '.' : ',', p.explode, decodePath);
  }
  if (p.style === 'matrix') {
    if (!raw.startsWith(';')) throw new Unreadable('must start with ";" (matrix style)');
    const parts = raw.slice(1).split(';');
    if (p.explode && p.kind === 'object') return keyEqualsValue(parts, decodePath);
    if (p.explode && p.kind === 'array') return parts.map((part) => decodePath(namedValue(part, p.name)));
    if (parts.length !== 1) throw new Unreadable(`must be one ;${p.name}=value`);
    return split(p.kind, namedValue(parts[0] as string, p.name), ',', false, decodePath);
  }
  return split(p.kind, raw, ',', p.explode, decodePath);
}

/** `name=value` or `name` (empty) of matrix style. */
function namedValue(part: string, name: string): string {
  if (part === name) return '';
  const eq = part.indexOf('=');
  if (eq === -1 || decodePath(part.slice(0, eq)) !== name) throw new Unreadable(`must be ;${name}=value (matrix style)`);
  return part.slice(eq + 1);
}

export function parseQuery(qs: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (qs === '') return out;
  for (const pair of qs.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeQuery(rawName);
    } catch {
      name = rawName; // matches no declared parameter
    }
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

function fromQuery(p: CompiledParam, query: Map<string, string[]>): unknown {
  if (p.style === 'deepObject') {
    const prefix = `${p.name}[`;
    let obj: Record<string, string> | undefined;
    for (const [name, values] of query) {
      if (!name.startsWith(prefix) || !name.endsWith(']')) continue;
      obj ??= Object.create(null) as Record<string, string>;
      obj[name.slice(prefix.length, -1)] = decodeQuery(single(values));
    }
    return obj ?? ABSENT;
  }
  if (p.kind === 'object' && p.explode) return namedProperties(p, query, decodeQuery);
  const values = query.get(p.name);
  if (values === undefined) return ABSENT;
  if (p.kind === 'array' && p.explode) return values.map(decodeQuery);
  // Repeated single values are refused: the gateway and the backend could read different ones
  // (HTTP parameter pollution).
  const raw = single(values);
  if (p.style === 'spaceDelimited') return split(p.kind, decodeQuery(raw), ' ', false, identity);
  if (p.style === 'pipeDelimited') return split(p.kind, decodeQuery(raw), '|', false, identity);
  return split(p.kind, raw, ',', false, decodeQuery);
}

function single(values: readonly string[]): string {
  if (values.length !== 1) throw new Unreadable('must not be repeated');
  return values[0] as string;
}

/** Exploded form objects: each declared property is a parameter of its own. */
function namedProperties(p: CompiledParam, source: Map<string, string[]>, decode: (s: string) => string): unknown {
  let obj: Record<string, string> | undefined;
  for (const prop of p.shape.props.keys()) {
    const values = source.get(prop);
    if (values === undefined) continue;
    obj ??= Object.create(null) as Record<string, string>;
    obj[prop] = decode(single(values));
  }
  return obj ?? ABSENT;
}

function fromHeader(p: CompiledParam, value: string | string[] | undefined): unknown {
  if (value === undefined) return ABSENT;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (p.kind === 'primitive') return text.trim();
  return split(p.kind, text, ',', p.explode, trim);
}

function trim(s: string): string {
  return s.trim();
}

export function parseCookies(header: string | string[] | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (header === undefined) return out;
  for (const pair of (Array.isArray(header) ? header.join('; ') : header).split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

function fromCookie(p: CompiledParam, cookies: Map<string, string[]>): unknown {
  if (p.kind === 'object' && p.explode) return namedProperties(p, cookies, decodeCookie);
  const values = cookies.get(p.name);
  if (values === undefined) return ABSENT;
  if (p.kind === 'array' && p.explode) return values.map(decodeCookie);
  // Browsers may send two cookies of one name (different paths), most specific first.
  return split(p.kind, values[0] as string, ',', false, decodeCookie);
}

const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** A parameter's text as the schema's type, when it reads as one. */
export function scalar(text: string, types: ReadonlySet<string>): unknown {
  if ((types.has('integer') || types.has('number')) && NUMBER.test(text)) {
    const n = Number(text);
    if (Number.isFinite(n)) return n;
  }
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

export function coerce(kind: Kind, shape: Shape, value: unknown): unknown {
  if (kind === 'primitive') return typeof value === 'string' ? scalar(value, shape.types) : value;
  if (kind === 'array') {
    const types = (shape.items ?? EMPTY_SHAPE).types;
    return (value as string[]).map((s) => scalar(s, types));
  }
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    const types = (shape.props.get(k) ?? shape.additional ?? EMPTY_SHAPE).types;
    obj[k] = scalar(obj[k] as string, types);
  }
  return obj;
}

/** Form bodies (`application/x-www-form-urlencoded`): fields as the schema's types; lists where it wants arrays. */
export function coerceForm(body: unknown, shape: Shape): unknown {
  if (!isObject(body)) return body;
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(body)) {
    const s = shape.props.get(k) ?? shape.additional ?? EMPTY_SHAPE;
    const kind = kindOf(s);
    if (kind === 'array') out[k] = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? scalar(x, (s.items ?? EMPTY_SHAPE).types) : x));
    else if (typeof v === 'string') out[k] = scalar(v, s.types);
    else out[k] = v;
  }
  return out;
}
