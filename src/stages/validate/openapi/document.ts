/**
 * OpenAPI documents on disk: loading (YAML or JSON), JSON Pointer lookup and `$ref` resolution,
 * internal (`#/components/...`) and to relative files (`schemas.yaml#/Order`).
 *
 * Only objects that are not schemas (path items, parameters, request bodies) are dereferenced here;
 * schema `$ref`s stay references and are resolved by ajv (see schema.ts), which is what lets a
 * recursive schema compile. Files are read synchronously: this runs once at config build.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';

/** A place in a document: the absolute file and a JSON Pointer ('' is the whole document). */
export interface Loc {
  readonly file: string;
  readonly pointer: string;
}

/** A document that cannot be used; the message names the file and the JSON Pointer in it. */
export class OpenApiConfigError extends Error {
  readonly file: string;
  readonly pointer: string;
  constructor(at: Loc, reason: string) {
    super(`${at.file}${at.pointer === '' ? '' : `#${at.pointer}`}: ${reason}`);
    this.name = 'OpenApiConfigError';
    this.file = at.file;
    this.pointer = at.pointer;
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function child(at: Loc, token: string | number): Loc {
  return { file: at.file, pointer: `${at.pointer}/${escapeToken(String(token))}` };
}

export function locKey(at: Loc): string {
  return `${at.file}#${at.pointer}`;
}

/** Aliases expand into copies: the cap bounds a "billion laughs" document. */
const MAX_ALIAS_COUNT = 1000;
/** A chain of `$ref` to `$ref` longer than this is a cycle or a mistake. */
const MAX_REF_CHAIN = 32;

export class DocumentSet {
  private readonly docs = new Map<string, unknown>();
  /** sha-256 of each file read: a compiled document is reused only while none of them changed. */
  readonly digests = new Map<string, string>();

  /** The parsed content of `file` (absolute), read and parsed once. */
  get(file: string, referrer?: Loc): unknown {
    if (this.docs.has(file)) return this.docs.get(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (referrer) throw new OpenApiConfigError(referrer, `cannot read ${file} ($ref target): ${code}`);
      throw new OpenApiConfigError({ file, pointer: '' }, `cannot read the OpenAPI document: ${code}`);
    }
    const data = parseText(file, text);
    this.docs.set(file, data);
    this.digests.set(file, digest(text));
    return data;
  }

  /** The value at `at`, or a config error naming `referrer` (the `$ref`) or `at` itself. */
  at(at: Loc, referrer?: Loc): unknown {
    let node = this.get(at.file, referrer);
    if (at.pointer === '') return node;
    for (const raw of at.pointer.slice(1).split('/')) {
      const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(node) && /^(0|[1-9][0-9]*)$/.test(token)) node = node[Number(token)];
      else if (isObject(node) && Object.hasOwn(node, token)) node = node[token];
      else node = undefined;
      if (node === undefined) {
        const where = `${path.basename(at.file)}#${at.pointer}`;
        throw new OpenApiConfigError(referrer ?? at, referrer ? `unresolved $ref: nothing at ${where}` : 'nothing at this pointer');
      }
    }
    return node;
  }

  /** Where `ref` (the value of a `$ref` found at `from`) points; the target must exist. */
  resolve(ref: string, from: Loc): Loc {
    const hash = ref.indexOf('#');
    const filePart = hash === -1 ? ref : ref.slice(0, hash);
    let fragment = hash === -1 ? '' : ref.slice(hash + 1);
    if (/^[a-z][a-z0-9+.-]*:/i.test(filePart)) {
      throw new OpenApiConfigError(from, `$ref "${ref}": only local files are supported (no URLs)`);
    }
    try {
      fragment = decodeURIComponent(fragment);
    } catch {
      throw new OpenApiConfigError(from, `$ref "${ref}": malformed percent-encoding`);
    }
    if (fragment !== '' && !fragment.startsWith('/')) {
      throw new OpenApiConfigError(from, `$ref "${ref}": only JSON Pointer fragments (#/...) are supported`);
    }
    let file = from.file;
    if (filePart !== '') {
      let rel: string;
      try {
        rel = decodeURIComponent(filePart);
      } catch {
        throw new OpenApiConfigError(from, `$ref "${ref}": malformed percent-encoding`);
      }
      file = path.resolve(path.dirname(from.file), rel);
    }
    const target = { file, pointer: fragment };
    this.at(target, from);
    return target;
  }

  /**
   * Follows `$ref` from a non-schema object (parameter, request body, path item) to the object
   * itself; the location returned is where it really is, so its own `$ref`s resolve from there.
   */
  deref(node: unknown, at: Loc, what: string): { node: Record<string, unknown>; at: Loc } {
    let here = at;
    for (let i = 0; i < MAX_REF_CHAIN; i++) {
      if (!isObject(node)) throw new OpenApiConfigError(here, `${what} must be an object`);
      const ref = node.$ref;
      if (ref === undefined) return { node, at: here };
      if (typeof ref !== 'string') throw new OpenApiConfigError(child(here, '$ref'), 'must be a string');
      const target = this.resolve(ref, here);
      node = this.at(target);
      here = target;
    }
    throw new OpenApiConfigError(at, `$ref chain longer than ${MAX_REF_CHAIN} (a cycle?)`);
  }
}

export function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

/** Whether every file still has the content it had (an unreadable file has changed). */
export function unchanged(digests: ReadonlyMap<string, string>): boolean {
  for (const [file, d] of digests) {
    try {
      if (digest(readFileSync(file, 'utf8')) !== d) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function parseText(file: string, text: string): unknown {
  const at = { file, pointer: '' };
  if (file.toLowerCase().endsWith('.json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new OpenApiConfigError(at, `not valid JSON: ${(err as Error).message}`);
    }
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    const reason = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new OpenApiConfigError(at, `not valid YAML${where}: ${reason}`);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (err) {
    throw new OpenApiConfigError(at, `not valid YAML: ${(err as Error).message}`);
  }
}
