/**
 * `portcullis import-openapi FILE [--upstream NAME] [--auth NAME]`: one route entry per operation of
 * an OpenAPI document, printed as YAML to paste under `routes:`. The document is compiled exactly as
 * the gateway will compile it first, so a document the gateway would refuse is refused here.
 */
import path from 'node:path';
import { Document, isMap, type YAMLMap } from 'yaml';
import { NAME_PATTERN } from '../config/schema.ts';
import { compileOpenApiSync } from '../stages/validate/openapi.ts';
import { DocumentSet, child, isObject } from '../stages/validate/openapi/document.ts';
import { basePaths } from '../stages/validate/openapi/paths.ts';

export const IMPORT_USAGE = 'portcullis import-openapi FILE [--upstream NAME] [--auth NAME]';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const NAME_RE = new RegExp(NAME_PATTERN);
/** Characters a literal segment of a route path may hold (src/routing/router.ts). */
const ROUTE_SEGMENT_CHAR = /[A-Za-z0-9\-._~!$&'()+,;=:@%]/;

interface RouteEntry {
  name: string;
  path: string;
  method: string;
  auth: string | string[];
  notes: string[];
}

export interface ImportOptions {
  upstream?: string | undefined;
  auth?: string | undefined;
}

/** Runs the command; returns the exit code. */
export function importOpenApiCommand(args: readonly string[], opts: ImportOptions): number {
  if (args.length !== 1) {
    process.stderr.write(`portcullis: usage: ${IMPORT_USAGE}\n`);
    return 2;
  }
  for (const [flag, value] of [['--upstream', opts.upstream], ['--auth', opts.auth]] as const) {
    if (value !== undefined && value !== 'public' && !NAME_RE.test(value)) {
      process.stderr.write(`portcullis: ${flag} must be a name of letters, digits, ".", "_" or "-"\n`);
      return 2;
    }
  }
  try {
    process.stdout.write(importOpenApi(args[0] as string, opts));
    return 0;
  } catch (err) {
    process.stderr.write(`portcullis: ${(err as Error).message}\n`);
    return 1;
  }
}

/** The YAML text of the route entries for the document `file` (as the user wrote it: it goes into `validate.openapi`). */
export function importOpenApi(file: string, opts: ImportOptions = {}): string {
  const abs = path.resolve(file);
  compileOpenApiSync(abs); // refuses what the gateway would refuse, with the file and pointer
  const docs = new DocumentSet();
  const doc = docs.get(abs) as Record<string, unknown>;
  const root = { file: abs, pointer: '' };
  const info = isObject(doc.info) ? doc.info : {};
  const title = typeof info.title === 'string' ? info.title : path.basename(file);
  const upstream = opts.upstream ?? (slug(title) || 'backend');
  const bases = basePaths(doc.servers, child(root, 'servers'));
  const base = firstServerBase(doc.servers) ?? bases[0] ?? '';

  const entries: RouteEntry[] = [];
  const names = new Set<string>();
  const byShape = new Map<string, RouteEntry>();
  const paths = isObject(doc.paths) ? doc.paths : {};
  for (const [template, rawItem] of Object.entries(paths)) {
    if (template.startsWith('x-')) continue;
    const { node: item } = docs.deref(rawItem, child(child(root, 'paths'), template), 'a path item');
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const METHOD = method.toUpperCase();
      const label = `${METHOD} ${template}`;
      const { routePath, note } = routePathOf(base, template);
      const shapeKey = `${METHOD} ${routePath.replace(/:[A-Za-z0-9_]+/g, ':')}`;
      const same = byShape.get(shapeKey);
      if (same) {
        // The router cannot tell the two apart; the validator can, so one route serves both.
        same.notes.push(`also serves ${label} (same route path for the router)`);
        continue;
      }
      const name = unique(routeName(op.operationId, METHOD, template), names);
      const auth = opts.auth !== undefined ? { names: opts.auth } : authOf(op.security ?? doc.security, label);
      const entry: RouteEntry = { name, path: routePath, method: METHOD, auth: auth.names, notes: [] };
      if (note) entry.notes.push(note);
      if (auth.note) entry.notes.push(auth.note);
      entries.push(entry);
      byShape.set(shapeKey, entry);
    }
  }

  const routes = entries.map((e) => ({
    name: e.name,
    match: { path: e.path, methods: [e.method] },
    auth: e.auth,
    upstream,
    validate: { openapi: file },
  }));
  const out = new Document(routes);
  const version = typeof doc.openapi === 'string' ? doc.openapi : '3';
  out.commentBefore = [
    ` Routes for "${title}" (OpenAPI ${version}), one per operation: portcullis import-openapi ${file}`,
    ' Paste them under `routes:`. The config must define:',
    `   upstreams: ${upstream}${opts.upstream === undefined ? ' (named after the title; choose one with --upstream NAME)' : ''}`,
    `   authenticators: ${[...new Set(entries.flatMap((e) => [e.auth].flat()))].filter((n) => n !== 'public').join(', ') || '(none: every route is public)'}`,
    ' validate.openapi is resolved against the config file\'s directory: adjust it if the config is elsewhere.',
    ...(bases.length > 1 ? [` The document's servers have several base paths (${bases.join(', ')}); the routes use ${base || '/'}.`] : []),
  ].join('\n');
  const seq = out.contents;
  if (seq && 'items' in seq) {
    (seq.items as unknown[]).forEach((node, i) => {
      if (!isMap(node)) return;
      const map = node as YAMLMap;
      for (const key of ['match', 'validate']) {
        const v = map.get(key, true);
        if (isMap(v)) v.flow = true;
      }
      const notes = entries[i]?.notes ?? [];
      if (notes.length > 0) map.commentBefore = notes.map((n) => ` ${n}`).join('\n');
    });
  }
  return out.toString({ lineWidth: 0 });
}

/** The path of the first server, its variables at their defaults. */
function firstServerBase(servers: unknown): string | undefined {
  if (!Array.isArray(servers) || !isObject(servers[0]) || typeof servers[0].url !== 'string') return undefined;
  const { url, variables } = servers[0];
  const expanded = url.replace(/\{([^{}]*)\}/g, (_m, name: string) => {
    const v = isObject(variables) ? variables[name] : undefined;
    return isObject(v) && v.default !== undefined ? String(v.default) : '';
  });
  const p = new URL(expanded, 'http://server.invalid/').pathname.replace(/\/+$/, '');
  return p === '' ? '' : p;
}

/** `/orders/{id}` → `/orders/:id`; a segment with literal text around expressions becomes one `:param`. */
function routePathOf(base: string, template: string): { routePath: string; note: string | undefined } {
  const full = `${base}${template === '/' && base !== '' ? '' : template}` || '/';
  const segments = full === '/' ? [] : full.slice(1).split('/');
  const used = new Set<string>();
  let note: string | undefined;
  let trailing = false;
  const out: string[] = [];
  segments.forEach((seg, i) => {
    if (seg === '' && i === segments.length - 1) {
      trailing = true;
      return;
    }
    const exprs = [...seg.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1] as string);
    if (exprs.length === 0) {
      out.push(encodeSegment(seg));
      return;
    }
    let name = exprs.map((e) => e.replace(/[^A-Za-z0-9_]/g, '_')).join('_').replace(/^([0-9])/, '_$1') || 'param';
    for (let n = 2; used.has(name); n++) name = `${name}${n}`;
    used.add(name);
    out.push(`:${name}`);
  });
  let routePath = `/${out.join('/')}`;
  if (trailing) {
    routePath = routePath === '/' ? '/*' : `${routePath}/*`;
    note = `${template} ends in "/": a prefix route; the OpenAPI validator answers 404 for other paths under it`;
  }
  return { routePath, note };
}

function encodeSegment(seg: string): string {
  let out = '';
  for (const ch of seg) {
    if (ROUTE_SEGMENT_CHAR.test(ch) && !(out === '' && ch === ':')) out += ch;
    else out += [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

function routeName(operationId: unknown, method: string, template: string): string {
  if (typeof operationId === 'string') {
    const name = operationId.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
    if (NAME_RE.test(name)) return name;
  }
  return `${method.toLowerCase()}-${slug(template) || 'root'}`;
}

function unique(name: string, names: Set<string>): string {
  let candidate = name;
  for (let n = 2; names.has(candidate); n++) candidate = `${name}-${n}`;
  names.add(candidate);
  return candidate;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/**
 * The route's `auth` from the operation's security requirements: their scheme names, which the
 * config must define as authenticators. No requirement (`security: []`, or `{}` in the list) is
 * `public`; several schemes required together cannot be expressed (a route's auth is any-of).
 */
function authOf(security: unknown, label: string): { names: string | string[]; note?: string | undefined } {
  if (!Array.isArray(security)) {
    throw new Error(`${label} declares no security (and the document none at its root): pass --auth NAME (or --auth public)`);
  }
  if (security.length === 0 || security.some((r) => isObject(r) && Object.keys(r).length === 0)) return { names: 'public' };
  const names = new Set<string>();
  let together = false;
  for (const req of security) {
    if (!isObject(req)) continue;
    const keys = Object.keys(req);
    if (keys.length > 1) together = true;
    for (const k of keys) names.add(k);
  }
  const list = [...names].map((n) => (NAME_RE.test(n) ? n : slug(n) || 'auth'));
  const result = list.length === 1 ? (list[0] as string) : list;
  if (!together) return { names: result };
  return { names: result, note: `${label} requires several security schemes together; the gateway accepts any one of them: review` };
}
