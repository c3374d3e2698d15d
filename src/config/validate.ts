/**
 * Schema validation with every error collected, each reported at its path with a readable reason.
 * Values that came from `${ENV}` substitution are typed by the schema: `port: ${PORT}` becomes a
 * number when the schema wants one; a literal string in the YAML file is never coerced.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigSchema, UNSUPPORTED_KEYWORD, type RawConfig } from './schema.ts';
import { didYouMean, formatPath, pointerToSegments, type ConfigIssue } from './errors.ts';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.addKeyword({
    keyword: UNSUPPORTED_KEYWORD,
    schemaType: 'string',
    errors: true,
    validate: function unsupported(message: string) {
      (unsupported as unknown as { errors: Partial<ErrorObject>[] }).errors = [
        { keyword: UNSUPPORTED_KEYWORD, message, params: {} },
      ];
      return false;
    },
  });
  compiled = ajv.compile(ConfigSchema);
  return compiled;
}

export function validateConfig(
  data: unknown,
  envPaths: ReadonlySet<string>,
): { ok: true; config: RawConfig } | { ok: false; issues: ConfigIssue[] } {
  const validate = validator();
  // Coerce only env-substituted strings, and only where the schema asked for another type.
  for (let pass = 0; pass < 8; pass++) {
    if (validate(data)) return { ok: true, config: data as RawConfig };
    const errors = validate.errors ?? [];
    let coerced = false;
    for (const err of errors) {
      if (err.keyword !== 'type' || !envPaths.has(err.instancePath)) continue;
      coerced = coerceAt(data, err.instancePath, String(err.params.type)) || coerced;
    }
    if (!coerced) return { ok: false, issues: toIssues(errors, data) };
  }
  return { ok: false, issues: toIssues(validate.errors ?? [], data) };
}

function coerceAt(data: unknown, pointer: string, wanted: string): boolean {
  const segs = pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = segs.pop() as string;
  let parent: unknown = data;
  for (const s of segs) parent = (parent as Record<string, unknown>)[s];
  const holder = parent as Record<string, unknown>;
  const value = holder[last];
  if (typeof value !== 'string') return false;
  let next: unknown;
  if ((wanted.includes('number') || wanted.includes('integer')) && /^-?[0-9]+(\.[0-9]+)?$/.test(value.trim())) {
    next = Number(value.trim());
  } else if (wanted.includes('boolean') && (value === 'true' || value === 'false')) {
    next = value === 'true';
  } else {
    return false;
  }
  holder[last] = next;
  return true;
}

const BRANCH_RE = /\/(anyOf|oneOf)\/(\d+)\//;

/**
 * Turns ajv's errors into one line per real problem. For a union (`upstream: name | {version}`),
 * ajv reports every branch; we keep only the branch whose type matches the value, so the user sees
 * "routes[0].upstream.version.map: required" instead of four unrelated complaints.
 */
function toIssues(errors: readonly ErrorObject[], data: unknown): ConfigIssue[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const dropped = new Set<ErrorObject>();
  for (const union of unions) {
    const prefix = union.schemaPath + '/';
    const members = errors.filter((e) => e !== union && e.schemaPath.startsWith(prefix));
    const branches = new Map<string, ErrorObject[]>();
    for (const m of members) {
      const branch = BRANCH_RE.exec(m.schemaPath.slice(union.schemaPath.length - union.keyword.length - 1))?.[2] ?? '?';
      const list = branches.get(branch) ?? [];
      list.push(m);
      branches.set(branch, list);
    }
    // A branch "fits" when the value has its type (its errors are deeper than a type/const mismatch at the union).
    const fitting = [...branches.values()].filter(
      (list) => !list.some((m) => m.instancePath === union.instancePath && ['type', 'const', 'enum'].includes(m.keyword)),
    );
    if (fitting.length === 1) {
      dropped.add(union);
      for (const list of branches.values()) if (list !== fitting[0]) for (const m of list) dropped.add(m);
    } else {
      for (const m of members) dropped.add(m);
    }
  }
  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  for (const err of errors) {
    if (dropped.has(err)) continue;
    const segments = pointerToSegments(err.instancePath, data);
    let message: string;
    switch (err.keyword) {
      case 'additionalProperties': {
        const key = String(err.params.additionalProperty);
        segments.push(key);
        const known = Object.keys(schemaPropertiesAt(err.parentSchema));
        message = `unknown key${didYouMean(key, known)}`;
        break;
      }
      case 'required':
        segments.push(String(err.params.missingProperty));
        message = 'is required';
        break;
      case 'pattern':
        message = patternMessage(err);
        break;
      case 'anyOf':
      case 'oneOf':
        message = `must be one of: ${describeUnion(err.schema)}`;
        break;
      case 'const':
        message = `must be ${JSON.stringify(err.params.allowedValue)}`;
        break;
      default:
        message = err.message ?? 'is invalid';
    }
    const issue = { path: formatPath(segments), message };
    const key = `${issue.path}\n${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  }
  return issues;
}

function schemaPropertiesAt(schema: unknown): Record<string, unknown> {
  const s = schema as { properties?: Record<string, unknown> } | undefined;
  return s?.properties ?? {};
}

function patternMessage(err: ErrorObject): string {
  const pattern = String(err.params.pattern);
  if (pattern.includes('ms|s|m|h|d')) return 'must be a duration such as "250ms", "30s", "5m", "1h" or "1d"';
  if (pattern.includes('[bB]')) return 'must be a size such as "512b", "16kb" or "1mb"';
  if (pattern.includes('A-Z]+$')) return 'must be an upper-case HTTP method such as GET';
  return `must match ${pattern}`;
}

function describeUnion(branches: unknown): string {
  if (!Array.isArray(branches)) return 'the allowed forms';
  return branches
    .map((b: { const?: unknown; type?: string; properties?: Record<string, unknown> }) => {
      if (b.const !== undefined) return JSON.stringify(b.const);
      if (b.type === 'object' && b.properties) return `{ ${Object.keys(b.properties).join(' | ')} }`;
      return b.type ?? 'value';
    })
    .join(', ');
}
