/**
 * Request and response transformation of a route, compiled at config build.
 *
 * Request side: headers set (every header the route sets is first removed from what the client sent,
 * so a backend can trust `x-consumer-id` to come from the gateway), appended (next to the client's),
 * removed and renamed; the path rewritten (path.ts), the query rewritten (query.ts), the Host
 * overridden. Response side: headers removed, set and appended before the response reaches the client
 * (response.ts). A template whose variable is absent, or whose value has control characters, sets nothing.
 */
import { formatPath, type ConfigIssue } from '../../config/errors.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import { compilePathRewrite, type PathRewrite } from './path.ts';
import type { QueryTransform } from './query.ts';
import type { RawTransform } from './schema.ts';
import { compileTemplate, type Template } from './template.ts';

export type HeaderTemplates = readonly (readonly [string, Template])[];

export interface CompiledTransform {
  /** Lower-case names removed from the client's request headers (removed, set and rename targets). */
  readonly requestDrop: ReadonlySet<string>;
  readonly requestSet: HeaderTemplates;
  readonly requestAppend: HeaderTemplates;
  /** lower-case from → lower-case to; undefined when the route renames nothing. */
  readonly requestRename: ReadonlyMap<string, string> | undefined;
  readonly path: PathRewrite | undefined;
  readonly query: QueryTransform | undefined;
  /** The Host header sent upstream instead of the target's host and port. */
  readonly host: string | undefined;
  readonly responseDrop: ReadonlySet<string>;
  readonly responseSet: HeaderTemplates;
  readonly responseAppend: HeaderTemplates;
}

/** Framing and routing headers are the gateway's alone. */
const FRAMING = ['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection', 'expect'];
/**
 * Per side, the headers a transform may neither set nor remove: framing, and the ones the gateway
 * writes itself (a second X-Forwarded-For next to the gateway's would let a template spoof the
 * client address; X-Request-Id is always the gateway's).
 */
const FORBIDDEN = {
  request: new Set([...FRAMING, 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip', 'x-request-id']),
  response: new Set([...FRAMING, 'x-request-id']),
};

interface SideRaw {
  setHeaders?: Record<string, string>;
  appendHeaders?: Record<string, string>;
  removeHeaders?: string[];
  renameHeaders?: Record<string, string>;
}

interface Side {
  drop: Set<string>;
  set: [string, Template][];
  append: [string, Template][];
  rename: Map<string, string> | undefined;
}

/** `params`: the `:params` of the route's match.path, for `${params.<name>}`. */
export function compileTransform(
  raw: RawTransform | undefined,
  at: string,
  issues: ConfigIssue[],
  params: readonly string[] = [],
): CompiledTransform | undefined {
  if (!raw) return undefined;
  const req = compileSide(raw.request, 'request', `${at}.transform.request`, params, issues);
  const res = compileSide(raw.response, 'response', `${at}.transform.response`, params, issues);
  const r = raw.request;
  let path: PathRewrite | undefined;
  if (r?.path !== undefined) {
    const p = compilePathRewrite(r.path, params);
    if (Array.isArray(p)) issues.push({ path: `${at}.transform.request.path${p[0]}`, message: p[1] });
    else path = p;
  }
  let query: QueryTransform | undefined;
  if (r?.setQuery !== undefined || r?.removeQuery !== undefined) {
    const drop = new Set<string>(r.removeQuery ?? []);
    const set: [string, Template][] = [];
    for (const [name, source] of Object.entries(r.setQuery ?? {})) {
      const t = compileTemplate(source, { params });
      if (typeof t === 'string') {
        issues.push({ path: `${at}.transform.request.${formatPath(['setQuery', name])}`, message: t });
        continue;
      }
      drop.add(name);
      set.push([encodeURIComponent(name), t]);
    }
    query = { drop, set };
  }
  return {
    requestDrop: req.drop,
    requestSet: req.set,
    requestAppend: req.append,
    requestRename: req.rename,
    path,
    query,
    host: r?.host,
    responseDrop: res.drop,
    responseSet: res.set,
    responseAppend: res.append,
  };
}

function compileSide(s: SideRaw | undefined, which: 'request' | 'response', where: string, params: readonly string[], issues: ConfigIssue[]): Side {
  const forbidden = FORBIDDEN[which];
  const drop = new Set<string>();
  /** lower-case name → the operation that names it, for contradictions (append + remove, ...). */
  const used = new Map<string, string>();
  const claim = (lower: string, op: string, p: string, compatible: readonly string[] = []): boolean => {
    const prior = used.get(lower);
    if (prior !== undefined && !compatible.includes(prior)) {
      issues.push({ path: p, message: `"${lower}" is also in ${prior}; a header takes one operation` });
      return false;
    }
    used.set(lower, op);
    return true;
  };
  for (const [i, name] of (s?.removeHeaders ?? []).entries()) {
    const lower = name.toLowerCase();
    if (forbidden.has(lower)) issues.push({ path: `${where}.removeHeaders[${i}]`, message: `"${name}" is managed by the gateway` });
    used.set(lower, 'removeHeaders');
    drop.add(lower);
  }
  const templates = (key: 'setHeaders' | 'appendHeaders'): [string, Template][] => {
    const out: [string, Template][] = [];
    const named = new Map<string, string>();
    for (const [name, source] of Object.entries(s?.[key] ?? {})) {
      const lower = name.toLowerCase();
      const p = `${where}.${formatPath([key, name])}`;
      const first = named.get(lower);
      if (first !== undefined) {
        issues.push({ path: p, message: `"${first}" is already ${key === 'setHeaders' ? 'set' : 'appended'} (header names are case-insensitive)` });
        continue;
      }
      named.set(lower, name);
      if (forbidden.has(lower)) {
        issues.push({ path: p, message: `"${name}" is managed by the gateway` });
        continue;
      }
      // setHeaders of a removed header is redundant but consistent (set implies remove).
      if (!claim(lower, key, p, key === 'setHeaders' ? ['removeHeaders'] : [])) continue;
      const t = compileTemplate(source, { params });
      if (typeof t === 'string') {
        issues.push({ path: p, message: t });
        continue;
      }
      if (key === 'setHeaders') drop.add(lower);
      out.push([lower, t]);
    }
    return out;
  };
  const set = templates('setHeaders');
  const append = templates('appendHeaders');
  let rename: Map<string, string> | undefined;
  for (const [from, to] of Object.entries(s?.renameHeaders ?? {})) {
    const p = `${where}.${formatPath(['renameHeaders', from])}`;
    const lf = from.toLowerCase();
    const lt = to.toLowerCase();
    if (forbidden.has(lf) || forbidden.has(lt)) {
      issues.push({ path: p, message: `"${forbidden.has(lf) ? from : to}" is managed by the gateway` });
      continue;
    }
    if (lf === lt) {
      issues.push({ path: p, message: 'renames a header to itself' });
      continue;
    }
    if (!claim(lf, 'renameHeaders', p) || !claim(lt, 'renameHeaders', p)) continue;
    // A client's own header of the target name is dropped: the backend sees only the renamed one.
    drop.add(lt);
    (rename ??= new Map()).set(lf, lt);
  }
  return { drop, set, append, rename };
}

/** Appends the rendered request headers to a flat [name, value, ...] list. */
export function renderInto(list: string[], set: HeaderTemplates, ctx: RequestContext): void {
  for (const [name, t] of set) {
    const v = t.render(ctx);
    if (v !== undefined) list.push(name, v);
  }
}
