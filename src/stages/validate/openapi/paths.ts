/**
 * Operation lookup: the document's path templates in a segment trie, built once.
 *
 * Precedence (OpenAPI: "concrete paths are matched before their templated counterparts"), segment
 * by segment from the left: a literal segment beats a segment with template expressions and literal
 * text (`{name}.json`, longest literal text first), which beats a whole-segment `{param}`. When the
 * more specific branch has no operation for the method, the lookup falls through to the next, as
 * the gateway's router does; a path that matches only for other methods gives 405 with those.
 * A trailing slash is significant: `/orders/` matches only a template that ends in `/`.
 */
import { OpenApiConfigError, child, isObject, type Loc } from './document.ts';

export type PathMatch<T> =
  | { kind: 'match'; op: T; values: string[] }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

interface TemplateSegment {
  /** The segment with each expression replaced by `{}`: equal keys share a trie node. */
  key: string;
  /** null for a whole-segment `{param}`; else a regex with one group per expression. */
  regex: RegExp | null;
  literalLength: number;
}

class Node<T> {
  statics = new Map<string, Node<T>>();
  templates: { seg: TemplateSegment; node: Node<T> }[] = [];
  ops: Map<string, { op: T; template: string }> | null = null;
}

/** A parsed path template: its segments and the expression names in order. */
export interface ParsedTemplate {
  segments: string[];
  names: string[];
}

const EXPR = /\{([^{}]*)\}/g;

export function parseTemplate(template: string, at: Loc): ParsedTemplate {
  if (!template.startsWith('/')) throw new OpenApiConfigError(at, 'a path must start with "/"');
  const segments = template === '/' ? [] : template.slice(1).split('/');
  const names: string[] = [];
  for (const seg of segments) {
    const stray = seg.replace(EXPR, '');
    if (stray.includes('{') || stray.includes('}')) throw new OpenApiConfigError(at, `unbalanced "{" or "}" in segment "${seg}"`);
    for (const m of seg.matchAll(EXPR)) {
      const name = m[1] as string;
      if (name === '') throw new OpenApiConfigError(at, 'empty template expression "{}"');
      if (names.includes(name)) throw new OpenApiConfigError(at, `template expression {${name}} is used twice`);
      names.push(name);
    }
    if (/\}\{/.test(seg)) throw new OpenApiConfigError(at, `adjacent template expressions in "${seg}" cannot be told apart`);
  }
  return { segments, names };
}

export class PathTable<T> {
  private readonly root = new Node<T>();

  add(parsed: ParsedTemplate, template: string, method: string, op: T, at: Loc): void {
    let node = this.root;
    for (const seg of parsed.segments) {
      if (!seg.includes('{')) {
        let next = node.statics.get(seg);
        if (!next) {
          next = new Node<T>();
          node.statics.set(seg, next);
        }
        node = next;
        continue;
      }
      const key = seg.replace(EXPR, '{}');
      let entry = node.templates.find((t) => t.seg.key === key);
      if (!entry) {
        entry = { seg: compileSegment(seg, key), node: new Node<T>() };
        node.templates.push(entry);
        // More literal text is more specific; a whole-segment {param} (no literal text) comes last.
        node.templates.sort((a, b) => b.seg.literalLength - a.seg.literalLength);
      }
      node = entry.node;
    }
    node.ops ??= new Map();
    const prior = node.ops.get(method);
    if (prior) throw new OpenApiConfigError(at, `same path and method as "${prior.template}": requests could not be told apart`);
    node.ops.set(method, { op, template });
  }

  /** `path` is relative to the base path and starts with "/". */
  find(path: string, method: string): PathMatch<T> {
    const segs = path === '/' ? [] : path.slice(1).split('/');
    const allow = new Set<string>();
    const values: string[] = [];
    const op = this.walk(this.root, segs, 0, method, values, allow);
    if (op !== undefined) return { kind: 'match', op, values };
    if (allow.size > 0) return { kind: 'method', allow: [...allow].sort() };
    return { kind: 'none' };
  }

  private walk(node: Node<T>, segs: string[], i: number, method: string, values: string[], allow: Set<string>): T | undefined {
    if (i === segs.length) {
      if (!node.ops) return undefined;
      // GET implies HEAD (RFC 9110 §9.3.2), as in the gateway's router.
      const hit = node.ops.get(method) ?? (method === 'HEAD' ? node.ops.get('GET') : undefined);
      if (hit) return hit.op;
      for (const m of node.ops.keys()) allow.add(m);
      if (node.ops.has('GET')) allow.add('HEAD');
      return undefined;
    }
    const seg = segs[i] as string;
    const next = node.statics.get(seg);
    if (next) {
      const op = this.walk(next, segs, i + 1, method, values, allow);
      if (op !== undefined) return op;
    }
    if (seg === '') return undefined;
    for (const t of node.templates) {
      const before = values.length;
      if (t.seg.regex === null) {
        values.push(seg);
      } else {
        const m = t.seg.regex.exec(seg);
        if (!m) continue;
        for (let g = 1; g < m.length; g++) values.push(m[g] as string);
      }
      const op = this.walk(t.node, segs, i + 1, method, values, allow);
      if (op !== undefined) return op;
      values.length = before;
    }
    return undefined;
  }
}

function compileSegment(seg: string, key: string): TemplateSegment {
  if (key === '{}') return { key, regex: null, literalLength: 0 };
  const parts = seg.split(EXPR);
  // split with a capture group: literal, name, literal, name, ..., literal. An expression runs up to
  // the first character of the literal after it (`{name}.{ext}`: name is "a" of "a.b.json"): no
  // backtracking, so matching stays linear in the segment's length whatever the request.
  let source = '^';
  let literalLength = 0;
  parts.forEach((p, i) => {
    if (i % 2 === 1) {
      const next = parts[i + 1] ?? '';
      source += next === '' ? '(.+)' : `([^${escapeClass(next[0] as string)}]+)`;
    } else {
      source += p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      literalLength += p.length;
    }
  });
  return { key, regex: new RegExp(`${source}$`), literalLength };
}

/** At most this many base paths from server URL variables with enums. */
const MAX_BASE_PATHS = 64;

/**
 * The path prefixes of the document's `servers` (`https://api.example.com/v1` → `/v1`), longest
 * first; `[""]` without servers. Variables are replaced by their enum values, else their default.
 */
export function basePaths(servers: unknown, at: Loc): string[] {
  if (servers === undefined || (Array.isArray(servers) && servers.length === 0)) return [''];
  if (!Array.isArray(servers)) throw new OpenApiConfigError(at, 'must be a list of server objects');
  const out = new Set<string>();
  servers.forEach((server, i) => {
    const here = child(at, i);
    if (!isObject(server) || typeof server.url !== 'string') throw new OpenApiConfigError(here, 'a server needs a url');
    for (const url of expandVariables(server.url, server.variables, here)) {
      out.add(normalizeBasePath(new URL(url, 'http://server.invalid/').pathname));
      if (out.size > MAX_BASE_PATHS) throw new OpenApiConfigError(at, `more than ${MAX_BASE_PATHS} base paths; set validate.basePath`);
    }
  });
  return [...out].sort((a, b) => b.length - a.length);
}

/** "/" and "" are the root (""); a trailing "/" is dropped. */
export function normalizeBasePath(p: string): string {
  const trimmed = p.replace(/\/+$/, '');
  return trimmed === '' ? '' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

function expandVariables(url: string, variables: unknown, at: Loc): string[] {
  let urls = [url];
  for (const m of url.matchAll(EXPR)) {
    const name = m[1] as string;
    const v = isObject(variables) ? variables[name] : undefined;
    if (!isObject(v)) throw new OpenApiConfigError(at, `server url variable {${name}} is not defined in variables`);
    const values = Array.isArray(v.enum) && v.enum.length > 0 ? v.enum.map(String) : [String(v.default ?? '')];
    urls = urls.flatMap((u) => values.map((val) => u.replace(`{${name}}`, val)));
    if (urls.length > MAX_BASE_PATHS) throw new OpenApiConfigError(at, `more than ${MAX_BASE_PATHS} base paths; set validate.basePath`);
  }
  return urls;
}

/** The path below `base`, or null when the path is not under it. */
export function stripBase(path: string, base: string): string | null {
  if (base === '') return path;
  if (!path.startsWith(base)) return null;
  if (path.length === base.length) return '/';
  return path.charCodeAt(base.length) === 47 ? path.slice(base.length) : null;
}

function escapeClass(ch: string): string {
  return /[\\\]^-]/.test(ch) ? `\\${ch}` : ch;
}
