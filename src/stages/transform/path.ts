/**
 * `transform.request.path`: the path sent upstream, rewritten by a template
 * (`/orders/${params.id}`) or by `{ regex, replace }`. Compiled once at config build.
 *
 * The regex runs on V8's backtracking engine (no RE2 in Node), so a pattern is refused when it can
 * backtrack catastrophically in the obvious ways: nested quantifiers (`(a+)+`, `(.*)*`, `(\w+\.?)+`)
 * and back-references; its length is capped, and the input is the normalised path, itself capped by
 * server.limits.maxUrlBytes.
 *
 * Whatever the rewrite produces must not contain `.` or `..` segments: a claim or a captured group
 * must never walk the backend's path tree (`/v1/$1` with $1 = `..`). Such a request gets 400.
 */
import { MAX_PATH_REGEX_LENGTH } from './schema.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import { compileTemplate, type Template } from './template.ts';

export type PathRewrite =
  | { readonly kind: 'template'; readonly template: Template }
  | { readonly kind: 'regex'; readonly regex: RegExp; readonly replace: string };

/** Characters a replacement may hold besides `$n`: the path characters of RFC 3986 §3.3. */
const REPLACE_CHARS = /^[A-Za-z0-9\-._~!&'()*+,;=:@%/]*$/;

/** Compiles a path rewrite, or returns [sub-path, message] of the problem. */
export function compilePathRewrite(
  raw: string | { regex: string; replace: string },
  params: readonly string[],
): PathRewrite | [string, string] {
  if (typeof raw === 'string') {
    if (!raw.startsWith('/')) return ['', 'must start with "/"'];
    if (/[?#\s]/.test(raw)) return ['', 'must not contain "?", "#" or white space (use setQuery for the query)'];
    const t = compileTemplate(raw, { params, pathSegments: true });
    if (typeof t === 'string') return ['', t];
    return { kind: 'template', template: t };
  }
  const { regex, replace } = raw;
  if (regex.length > MAX_PATH_REGEX_LENGTH) return ['.regex', `is ${regex.length} characters long; at most ${MAX_PATH_REGEX_LENGTH}`];
  if (!regex.startsWith('^')) return ['.regex', 'must be anchored at the start of the path with "^"'];
  const unsafe = backtrackingRisk(regex);
  if (unsafe !== undefined) return ['.regex', unsafe];
  let re: RegExp;
  try {
    re = new RegExp(regex);
  } catch (err) {
    return ['.regex', `is not a valid regular expression: ${(err as Error).message}`];
  }
  if (!replace.startsWith('/')) return ['.replace', 'must start with "/"'];
  const literal = replace.replace(/\$[1-9]/g, '');
  if (literal.includes('$')) return ['.replace', 'may use "$" only as $1..$9 (a group of regex)'];
  if (!REPLACE_CHARS.test(literal)) return ['.replace', 'has characters that are not allowed in a path ("?", "#", white space, ...)'];
  const groups = (new RegExp(`${regex}|`).exec('') as RegExpExecArray).length - 1;
  for (const m of replace.matchAll(/\$([1-9])/g)) {
    if (Number(m[1]) > groups) return ['.replace', `refers to $${m[1]} but regex has ${groups} group${groups === 1 ? '' : 's'}`];
  }
  return { kind: 'regex', regex: re, replace };
}

/**
 * The rewritten path, or undefined when it cannot be produced safely (a template variable without a
 * value, or a result with dot segments or control characters).
 */
export function rewritePath(rewrite: PathRewrite, path: string, ctx: RequestContext): string | undefined {
  const out = rewrite.kind === 'template' ? rewrite.template.render(ctx) : path.replace(rewrite.regex, rewrite.replace);
  if (out === undefined || hasDotSegment(out)) return undefined;
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 35 /* # */ || c === 63 /* ? */) return undefined;
  }
  return out;
}

/** `/a/./b`, `/a/../b`, `/a/..`, `/%2e%2e/`: anything a backend would resolve against its own tree. */
export function hasDotSegment(path: string): boolean {
  if (!path.includes('.') && !path.includes('%')) return false;
  for (const seg of path.split('/')) {
    if (seg.length === 0 || seg.length > 6) continue;
    const s = seg.toLowerCase().replaceAll('%2e', '.');
    if (s === '.' || s === '..') return true;
  }
  return false;
}

/**
 * Why a pattern may backtrack catastrophically, or undefined: a quantified group that itself
 * contains a quantifier or an alternation, or a back-reference.
 */
export function backtrackingRisk(source: string): string | undefined {
  // Per open group: does it contain a quantifier / an alternation?
  const stack: { quantified: boolean; alternation: boolean }[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === '\\') {
      const n = source[i + 1] ?? '';
      if (!inClass && (/[1-9]/.test(n) || n === 'k')) return 'must not use back-references (\\1, \\k<name>): they can make matching exponential';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(') {
      stack.push({ quantified: false, alternation: false });
      continue;
    }
    if (c === '|') {
      const top = stack[stack.length - 1];
      if (top) top.alternation = true;
      continue;
    }
    if (c === ')') {
      const group = stack.pop();
      const next = source[i + 1];
      const quantifiedGroup = next === '*' || next === '+' || (next === '{' && /^\{\d*,\d*\}|^\{\d+\}/.test(source.slice(i + 1)) && !/^\{[01]\}|^\{0,1\}/.test(source.slice(i + 1)));
      if (group && quantifiedGroup && (group.quantified || group.alternation)) {
        return 'must not repeat a group that contains a quantifier or an alternation (e.g. "(a+)+", "(.*)*", "(a|ab)*"): it can make matching exponential';
      }
      const parent = stack[stack.length - 1];
      if (parent && (group?.quantified || quantifiedGroup)) parent.quantified = true;
      continue;
    }
    if (c === '*' || c === '+' || c === '{') {
      const top = stack[stack.length - 1];
      if (top) top.quantified = true;
    }
  }
  return undefined;
}
