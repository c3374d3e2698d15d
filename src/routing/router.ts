/**
 * Route table. Precedence (documented in docs/configuration.md):
 *   1. host: exact host, then wildcard hosts (longest suffix first), then routes without a host;
 *      a tier with no matching path falls through to the next.
 *   2. path, segment by segment from the left: a static segment beats a `:param`, which beats a
 *      `/*` prefix; an exact path beats a prefix ending at the same segment.
 *   3. among routes with the same host and path pattern: the first in the config whose methods
 *      include the request method.
 * A path that matches but with no route for the method gives 405 with `Allow`.
 */

export interface RouteMatch<R> {
  route: R;
  /** Values of the pattern's `:params`, in pattern order. */
  params: string[];
  /** Length of the path prefix matched by a `/*` pattern (for stripPrefix); -1 for exact patterns. */
  prefixLength: number;
}

export type MatchResult<R> =
  | { kind: 'match'; match: RouteMatch<R> }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

interface Entry<R> {
  route: R;
  methods: ReadonlySet<string> | null;
}

class Node<R> {
  statics = new Map<string, Node<R>>();
  param: Node<R> | null = null;
  exact: Entry<R>[] = [];
  prefix: Entry<R>[] = [];
}

export interface PathPattern {
  /** Segments without the trailing `*`; `:name` segments are params. */
  segments: string[];
  prefix: boolean;
  params: string[];
}

/** Parses `/orders`, `/orders/*`, `/orders/:id`; returns an error message for a bad pattern. */
export function parsePathPattern(pattern: string): PathPattern | string {
  if (!pattern.startsWith('/')) return 'must start with "/"';
  let body = pattern;
  let prefix = false;
  if (body === '/*') {
    body = '/';
    prefix = true;
  } else if (body.endsWith('/*')) {
    body = body.slice(0, -2);
    prefix = true;
  }
  const segments = body === '/' ? [] : body.slice(1).split('/');
  const params: string[] = [];
  for (const seg of segments) {
    if (seg === '') return 'must not contain empty segments ("//") or a trailing "/" (use "/*" for a prefix)';
    if (seg.includes('*')) return '"*" is allowed only as a final "/*" (prefix match)';
    if (seg === '.' || seg === '..') return 'must not contain "." or ".." segments';
    if (seg.startsWith(':')) {
      const name = seg.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return `invalid parameter name "${name}"`;
      if (params.includes(name)) return `parameter ":${name}" is used twice`;
      params.push(name);
    } else if (!/^[A-Za-z0-9\-._~!$&'()+,;=:@%]+$/.test(seg)) {
      return `segment "${seg}" has characters that are not allowed in a path`;
    }
  }
  return { segments, prefix, params };
}

class PathTable<R> {
  private readonly root = new Node<R>();

  add(pattern: PathPattern, route: R, methods: ReadonlySet<string> | null): void {
    let node = this.root;
    for (const seg of pattern.segments) {
      if (seg.startsWith(':')) {
        node.param ??= new Node<R>();
        node = node.param;
      } else {
        let next = node.statics.get(seg);
        if (!next) {
          next = new Node<R>();
          node.statics.set(seg, next);
        }
        node = next;
      }
    }
    (pattern.prefix ? node.prefix : node.exact).push({ route, methods });
  }

  /**
   * Finds the most specific route for `method`; adds the methods of path-only matches to `allow`.
   * `segs` are the path's segments; `offsets[i]` is where segment i starts in the path.
   */
  find(path: string, segs: string[], offsets: number[], method: string, allow: Set<string>): RouteMatch<R> | null {
    const params: string[] = [];
    return this.walk(this.root, path, segs, offsets, 0, method, params, allow);
  }

  private walk(
    node: Node<R>,
    path: string,
    segs: string[],
    offsets: number[],
    depth: number,
    method: string,
    params: string[],
    allow: Set<string>,
  ): RouteMatch<R> | null {
    if (depth === segs.length) {
      const hit = pick(node.exact, method, allow);
      if (hit) return { route: hit.route, params: params.slice(), prefixLength: -1 };
    } else {
      const seg = segs[depth] as string;
      const next = node.statics.get(seg);
      if (next) {
        const found = this.walk(next, path, segs, offsets, depth + 1, method, params, allow);
        if (found) return found;
      }
      if (node.param && seg !== '') {
        params.push(seg);
        const found = this.walk(node.param, path, segs, offsets, depth + 1, method, params, allow);
        params.pop();
        if (found) return found;
      }
    }
    if (node.prefix.length > 0) {
      const hit = pick(node.prefix, method, allow);
      if (hit) {
        const prefixLength = depth === 0 ? 0 : (offsets[depth - 1] as number) + (segs[depth - 1] as string).length;
        return { route: hit.route, params: params.slice(), prefixLength };
      }
    }
    return null;
  }
}

function pick<R>(entries: Entry<R>[], method: string, allow: Set<string>): Entry<R> | undefined {
  for (const e of entries) {
    if (e.methods === null || e.methods.has(method)) return e;
    for (const m of e.methods) allow.add(m);
  }
  return undefined;
}

export interface RouteSpec<R> {
  route: R;
  host: string | undefined;
  pattern: PathPattern;
  methods: readonly string[] | undefined;
}

export class Router<R> {
  private readonly exactHosts = new Map<string, PathTable<R>>();
  private readonly wildcardHosts: { suffix: string; table: PathTable<R> }[] = [];
  private readonly anyHost = new PathTable<R>();

  constructor(specs: readonly RouteSpec<R>[]) {
    for (const spec of specs) {
      const methods = spec.methods ? new Set(expandMethods(spec.methods)) : null;
      this.tableFor(spec.host).add(spec.pattern, spec.route, methods);
    }
    this.wildcardHosts.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  private tableFor(host: string | undefined): PathTable<R> {
    if (host === undefined) return this.anyHost;
    const h = host.toLowerCase();
    if (h.startsWith('*.')) {
      const suffix = h.slice(1);
      let entry = this.wildcardHosts.find((w) => w.suffix === suffix);
      if (!entry) {
        entry = { suffix, table: new PathTable<R>() };
        this.wildcardHosts.push(entry);
      }
      return entry.table;
    }
    let table = this.exactHosts.get(h);
    if (!table) {
      table = new PathTable<R>();
      this.exactHosts.set(h, table);
    }
    return table;
  }

  /** `host` lower-case without port; `path` normalised. */
  match(host: string, path: string, method: string): MatchResult<R> {
    const segs: string[] = [];
    const offsets: number[] = [];
    let start = 1;
    for (let i = 1; i <= path.length; i++) {
      if (i === path.length || path.charCodeAt(i) === 47) {
        offsets.push(start);
        segs.push(path.slice(start, i));
        start = i + 1;
      }
    }
    // "/" has no segments; "/a/" ends with an empty segment that only a prefix can match.
    if (segs.length === 1 && segs[0] === '') {
      segs.length = 0;
      offsets.length = 0;
    }
    const allow = new Set<string>();
    const exact = this.exactHosts.get(host);
    if (exact) {
      const m = exact.find(path, segs, offsets, method, allow);
      if (m) return { kind: 'match', match: m };
    }
    for (const w of this.wildcardHosts) {
      if (host.length > w.suffix.length && host.endsWith(w.suffix)) {
        const m = w.table.find(path, segs, offsets, method, allow);
        if (m) return { kind: 'match', match: m };
      }
    }
    const m = this.anyHost.find(path, segs, offsets, method, allow);
    if (m) return { kind: 'match', match: m };
    if (allow.size > 0) return { kind: 'method', allow: [...allow].sort() };
    return { kind: 'none' };
  }
}

/** GET implies HEAD (RFC 9110 §9.3.2: a server answering GET answers HEAD the same way). */
function expandMethods(methods: readonly string[]): string[] {
  return methods.includes('GET') && !methods.includes('HEAD') ? [...methods, 'HEAD'] : [...methods];
}
