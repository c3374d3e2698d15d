/**
 * Building the threats stages from config: `defaults.threats` and each route's own block (which
 * replaces the defaults' one as a whole). Exclusions of `defaults.threats` may name a route; custom
 * rules are compiled once, and refused at build time when their regex could backtrack
 * catastrophically. Every problem is reported with its path.
 */
import { didYouMean, type ConfigIssue } from '../../config/errors.ts';
import type { Stage } from '../../pipeline/stage.ts';
import { DETECTORS, ThreatEngine, type CustomRule, type Exclusion } from '../../threats/engine.ts';
import type { Paranoia } from '../../threats/types.ts';
import type { RawThreatExclusion, RawThreatRule, RawThreats } from './schema.ts';
import { ThreatsStage } from './threats.ts';

type Mode = 'enforce' | 'shadow';

export interface ThreatStages {
  /** The threats stage of route `index` (none when its block, or the defaults', says `off` or is absent). */
  forRoute(index: number, routeMode: Mode): Stage | undefined;
}

interface CompiledBlock {
  raw: RawThreats;
  at: string;
  rules: CustomRule[];
  /** Exclusions without a route (all routes of this block) and by route name (defaults only). */
  exclusions: Exclusion[];
  byRoute: Map<string, Exclusion[]>;
}

export const DEFAULT_THRESHOLD = 5;

export function buildThreats(
  defaults: RawThreats | undefined,
  routes: readonly { name: string; threats: RawThreats | undefined }[],
  issues: ConfigIssue[],
): ThreatStages {
  const routeNames = routes.map((r) => r.name);
  const fallback = defaults ? compileBlock(defaults, 'defaults.threats', routeNames, true, issues) : undefined;
  const own = routes.map((r, i) => (r.threats ? compileBlock(r.threats, `routes[${i}].threats`, routeNames, false, issues) : undefined));
  return {
    forRoute(index, routeMode) {
      const route = routes[index];
      const block = own[index] ?? (route?.threats === undefined ? fallback : undefined);
      if (block === undefined || route === undefined) return undefined;
      const mode = block.raw.mode ?? 'block';
      if (mode === 'off') return undefined;
      const exclusions = [...block.exclusions, ...(block.byRoute.get(route.name) ?? [])];
      const engine = new ThreatEngine({
        paranoia: (block.raw.paranoia ?? 1) as Paranoia,
        threshold: block.raw.threshold ?? DEFAULT_THRESHOLD,
        headers: block.raw.headers ?? [],
        inspectBody: block.raw.body ?? true,
        maxTextBytes: 1 << 20,
        exclusions,
        rules: block.rules,
      });
      return new ThreatsStage(engine, mode === 'detect' ? 'shadow' : routeMode);
    },
  };
}

function compileBlock(raw: RawThreats, at: string, routeNames: readonly string[], isDefaults: boolean, issues: ConfigIssue[]): CompiledBlock | undefined {
  const before = issues.length;
  const rules: CustomRule[] = [];
  const ruleIds = new Set<string>();
  (raw.rules ?? []).forEach((r, i) => {
    const p = `${at}.rules[${i}]`;
    if (ruleIds.has(r.id)) issues.push({ path: `${p}.id`, message: `"${r.id}" is already the id of another rule` });
    ruleIds.add(r.id);
    const rule = compileRule(r, p, issues);
    if (rule) rules.push(rule);
  });
  const exclusions: Exclusion[] = [];
  const byRoute = new Map<string, Exclusion[]>();
  (raw.exclude ?? []).forEach((e, i) => {
    const p = `${at}.exclude[${i}]`;
    const ex = compileExclusion(e, p, ruleIds, issues);
    if (e.route !== undefined) {
      if (!isDefaults) {
        issues.push({ path: `${p}.route`, message: 'only in defaults.threats: a route block applies to its own route' });
        return;
      }
      if (!routeNames.includes(e.route)) {
        issues.push({ path: `${p}.route`, message: `unknown route "${e.route}"${didYouMean(e.route, routeNames)}` });
        return;
      }
      if (ex) byRoute.set(e.route, [...(byRoute.get(e.route) ?? []), ex]);
      return;
    }
    if (ex) exclusions.push(ex);
  });
  if (issues.length > before) return undefined;
  return { raw, at, rules, exclusions, byRoute };
}

function compileExclusion(e: RawThreatExclusion, at: string, ruleIds: ReadonlySet<string>, issues: ConfigIssue[]): Exclusion | undefined {
  if (e.field === undefined && e.detectors === undefined && e.route === undefined) {
    issues.push({ path: at, message: 'needs a field, detectors or a route' });
    return undefined;
  }
  let field: RegExp | undefined;
  if (e.field !== undefined) {
    const f = compileFieldPattern(e.field);
    if (typeof f === 'string') {
      issues.push({ path: `${at}.field`, message: f });
      return undefined;
    }
    field = f;
  }
  let detectors: Set<string> | undefined;
  if (e.detectors !== undefined) {
    detectors = new Set();
    const known: readonly string[] = DETECTORS;
    for (const [j, d] of e.detectors.entries()) {
      const family = d.split('.', 1)[0] as string;
      if (!known.includes(family) && !ruleIds.has(d)) {
        issues.push({ path: `${at}.detectors[${j}]`, message: `unknown detector "${d}"${didYouMean(d, [...known, ...ruleIds])}` });
        continue;
      }
      detectors.add(d);
    }
  }
  return { field, detectors };
}

/**
 * `query.q`, `body.items[*].html`, `body.**`, `header.x-*` → a case-insensitive RegExp matching the
 * field and everything below it. A string is an error message.
 */
export function compileFieldPattern(pattern: string): RegExp | string {
  const p = pattern.trim().toLowerCase();
  if (!/^(?:path|method|query|header|cookie|body)(?:$|[.[])/.test(p)) {
    return `"${pattern}" must start with path, query., header., cookie. or body.`;
  }
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i] as string;
    if (c === '*') {
      if (p[i + 1] === '*') {
        re += '.*';
        i++;
      } else if (p[i - 1] === '[' && p[i + 1] === ']') {
        re += '\\d+';
      } else {
        re += '[^.\\[]*';
      }
    } else {
      re += c.replace(/[\\^$+?.()|{}[\]]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}(?:$|[.[(])`);
}

/** Nested quantifiers (`(a+)+`, `(.*)*`, `(a|aa)+`) backtrack exponentially: refused. */
const UNSAFE_REGEX = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)[+*{]|\((?:[^()\\]|\\.)*\|(?:[^()\\]|\\.)*\)[+*]/;

function compileRule(r: RawThreatRule, at: string, issues: ConfigIssue[]): CustomRule | undefined {
  const kinds = [r.regex, r.contains, r.equals].filter((k) => k !== undefined).length;
  if (kinds !== 1) {
    issues.push({ path: at, message: 'needs exactly one of regex, contains or equals' });
    return undefined;
  }
  let field: RegExp | undefined;
  if (r.field !== undefined) {
    const f = compileFieldPattern(r.field);
    if (typeof f === 'string') {
      issues.push({ path: `${at}.field`, message: f });
      return undefined;
    }
    field = f;
  }
  const block = (r.action ?? (r.score !== undefined ? 'score' : 'block')) === 'block';
  if (block && r.score !== undefined && r.action === 'block') {
    issues.push({ path: `${at}.score`, message: 'is only used with action: score' });
    return undefined;
  }
  const score = r.score ?? 5;
  let match: (v: string) => number;
  if (r.regex !== undefined) {
    if (UNSAFE_REGEX.test(r.regex)) {
      issues.push({ path: `${at}.regex`, message: 'has a nested quantifier such as (a+)+ that can take exponential time; rewrite it' });
      return undefined;
    }
    let re: RegExp;
    try {
      re = new RegExp(r.regex, 'i');
    } catch (err) {
      issues.push({ path: `${at}.regex`, message: `is not a valid regular expression: ${(err as Error).message}` });
      return undefined;
    }
    match = (v) => {
      const m = re.exec(v);
      return m === null ? -1 : m.index;
    };
  } else if (r.contains !== undefined) {
    const needle = r.contains.toLowerCase();
    match = (v) => v.indexOf(needle);
  } else {
    const exact = (r.equals ?? '').toLowerCase();
    match = (v) => (v === exact ? 0 : -1);
  }
  return { id: r.id, field, match, score: block ? 0 : score, block };
}
