/**
 * Route geometry for the lint rules: which methods a route accepts, whether two routes' hosts and
 * path patterns can match the same request, and an example path that both match.
 */
import type { RawRoute } from '../config/schema.ts';
import type { PathPattern } from '../routing/router.ts';

/** The methods a route accepts (GET implies HEAD); undefined: every method. */
export function routeMethods(r: RawRoute): ReadonlySet<string> | undefined {
  const m = r.match.methods;
  if (m === undefined) return undefined;
  return new Set(m.includes('GET') ? [...m, 'HEAD'] : m);
}

/** Whether the route accepts at least one of `methods`. */
export function acceptsAny(r: RawRoute, methods: readonly string[]): boolean {
  const allowed = routeMethods(r);
  return allowed === undefined || methods.some((m) => allowed.has(m));
}

/** A method both routes accept (GET when both accept every method), or undefined. */
export function commonMethod(a: RawRoute, b: RawRoute): string | undefined {
  const ma = routeMethods(a);
  const mb = routeMethods(b);
  if (ma === undefined) return mb === undefined ? 'GET' : [...mb][0];
  if (mb === undefined) return [...ma][0];
  return [...ma].find((m) => mb.has(m));
}

/** Exact hosts and `*.example.com` patterns: can one request Host match both? Absent: any host. */
export function hostsOverlap(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  const suffix = (h: string): string | undefined => (h.startsWith('*.') ? h.slice(1) : undefined);
  const sx = suffix(x);
  const sy = suffix(y);
  if (sx !== undefined && sy !== undefined) return sx.endsWith(sy) || sy.endsWith(sx);
  if (sx !== undefined) return y.endsWith(sx);
  if (sy !== undefined) return x.endsWith(sy);
  return false;
}

const segmentText = (seg: string): string => (seg.startsWith(':') ? '1' : seg);

/**
 * A request path that both patterns match (the router's semantics: a parameter matches any one
 * segment, `/x/*` matches `/x` and everything below it), or undefined when none does.
 */
export function overlapWitness(a: PathPattern, b: PathPattern): string | undefined {
  const common = Math.min(a.segments.length, b.segments.length);
  const out: string[] = [];
  for (let i = 0; i < common; i++) {
    const sa = a.segments[i] as string;
    const sb = b.segments[i] as string;
    if (!sa.startsWith(':') && !sb.startsWith(':') && sa !== sb) return undefined;
    out.push(sa.startsWith(':') ? segmentText(sb) : sa);
  }
  if (a.segments.length < b.segments.length) {
    if (!a.prefix) return undefined;
    out.push(...b.segments.slice(common).map(segmentText));
  } else if (b.segments.length < a.segments.length) {
    if (!b.prefix) return undefined;
    out.push(...a.segments.slice(common).map(segmentText));
  } else if (a.prefix && b.prefix) {
    // Both prefixes of the same depth: a path below them shows the shared subtree best.
    out.push('x');
  }
  return `/${out.join('/')}`;
}
