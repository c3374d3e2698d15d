/**
 * `transform.request.setQuery` / `removeQuery`: the query string sent upstream. A parameter is
 * recognised by its percent-decoded name (`%61pi_key` is `api_key` to the backend too, so it is
 * removed as well); every parameter the route sets is first removed from the client's query, like
 * headers. Values are templates, percent-encoded when written; a template without a value sets nothing.
 */
import type { RequestContext } from '../../pipeline/context.ts';
import type { Template } from './template.ts';

export interface QueryTransform {
  /** Decoded names removed from the client's query (removeQuery and setQuery names). */
  readonly drop: ReadonlySet<string>;
  /** [encoded name, template] in config order. */
  readonly set: readonly (readonly [string, Template])[];
}

export function rewriteQuery(q: QueryTransform, query: string, ctx: RequestContext): string {
  let out = '';
  if (query !== '') {
    for (const pair of query.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (q.drop.has(decodeName(eq === -1 ? pair : pair.slice(0, eq)))) continue;
      out = out === '' ? pair : `${out}&${pair}`;
    }
  }
  for (const [name, t] of q.set) {
    const v = t.render(ctx);
    if (v === undefined) continue;
    const param = `${name}=${encodeURIComponent(v)}`;
    out = out === '' ? param : `${out}&${param}`;
  }
  return out;
}

/** application/x-www-form-urlencoded name decoding; an undecodable name stays as written. */
function decodeName(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}
