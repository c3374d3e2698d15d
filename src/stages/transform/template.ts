/**
 * Header templates: `${consumer.id}`, `${claims.sub}`, `${claims.realm_access.roles}`,
 * `${request.id}`, `${client.ip}`, `${route.name}`, `${params.<name>}` (a `:name` of the route's
 * match.path). Compiled once at config build into literal and
 * variable parts; rendering is a concatenation. A template whose variable is absent renders as
 * undefined and the header is not set (never an empty or "undefined" value).
 */
import { claimAt } from '../../auth/identity.ts';
import { didYouMean } from '../../config/errors.ts';
import type { RequestContext } from '../../pipeline/context.ts';

type Part = string | ((ctx: RequestContext) => unknown);

export interface Template {
  readonly source: string;
  render(ctx: RequestContext): string | undefined;
}

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_:\-]+)+)\}/g;
/** Field values allowed in an HTTP header (RFC 9110 §5.5): no CR, LF, NUL or other controls. */
const SAFE_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Every variable except claims.<path>. */
export const VARIABLES = [
  'consumer.id', 'consumer.subject', 'consumer.authenticator', 'consumer.scopes',
  'request.id', 'request.method', 'request.path', 'client.ip', 'route.name',
] as const;

export interface TemplateOptions {
  /** The `:params` of the route's match.path, in order (`${params.<name>}`). */
  params?: readonly string[];
  /**
   * For a path template: every variable but `${params.*}` (already one normalised path segment) is
   * percent-encoded as one segment, so a claim cannot add `/`, `?` or `#` to the path.
   */
  pathSegments?: boolean;
}

function variable(name: string, params: readonly string[]): ((ctx: RequestContext) => unknown) | string {
  if (name === 'consumer.id') return (ctx) => ctx.identity?.consumerId;
  if (name === 'consumer.subject') return (ctx) => ctx.identity?.subject;
  if (name === 'consumer.authenticator') return (ctx) => ctx.identity?.authenticator;
  if (name === 'consumer.scopes') return (ctx) => (ctx.identity ? [...ctx.identity.scopes].join(' ') : undefined);
  if (name === 'request.id') return (ctx) => ctx.requestId;
  if (name === 'request.method') return (ctx) => ctx.method;
  if (name === 'request.path') return (ctx) => ctx.path;
  if (name === 'client.ip') return (ctx) => ctx.clientIp;
  if (name === 'route.name') return (ctx) => ctx.route?.name;
  if (name.startsWith('params.')) {
    const index = params.indexOf(name.slice('params.'.length));
    if (index === -1) {
      const known = params.length > 0 ? params.map((p) => `\${params.${p}}`).join(', ') : 'none';
      return `unknown template variable \${${name}}: match.path has no parameter ":${name.slice('params.'.length)}" (its parameters: ${known})`;
    }
    return (ctx) => ctx.params[index];
  }
  if (name.startsWith('claims.')) {
    const path = name.slice('claims.'.length);
    return (ctx) => (ctx.identity ? claimAt(ctx.identity.claims, path) : undefined);
  }
  const hint = didYouMean(name, [...VARIABLES, `claims.${name.slice(name.indexOf('.') + 1)}`]);
  return `unknown template variable \${${name}}${hint}; use ${VARIABLES.join(', ')}, claims.<path> or params.<name>`;
}

/** Compiles a template, or returns an error message. */
export function compileTemplate(source: string, options: TemplateOptions = {}): Template | string {
  const params = options.params ?? [];
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(VAR_RE)) {
    if (m.index > last) parts.push(source.slice(last, m.index));
    const name = m[1] as string;
    const v = variable(name, params);
    if (typeof v === 'string') return v;
    parts.push(options.pathSegments && !name.startsWith('params.') ? segment(v) : v);
    last = m.index + m[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  if (source.includes('${') && parts.every((p) => typeof p === 'string')) return `"${source}" has a malformed \${...} template`;
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const constant = parts[0];
    return { source, render: () => constant };
  }
  return {
    source,
    render(ctx) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') {
          out += p;
          continue;
        }
        const v = p(ctx);
        if (v === undefined || v === null) return undefined;
        out += stringify(v);
      }
      return SAFE_VALUE.test(out) ? out : undefined;
    },
  };
}

function stringify(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The variable's value percent-encoded as one path segment (built once, at config build). */
function segment(get: (ctx: RequestContext) => unknown): (ctx: RequestContext) => unknown {
  return (ctx) => {
    const v = get(ctx);
    return v === undefined || v === null ? undefined : encodeURIComponent(stringify(v));
  };
}
