/**
 * Schema validation with every error collected, each reported at its path with a readable reason.
 * Values that came from `${ENV}` substitution are typed by the schema: `port: ${PORT}` becomes a
 * number when the schema wants one; a literal string in the YAML file is never coerced.
 */
import { KEY_PART_PATTERN } from '../stages/rate-limit/schema.ts';
import { COUNTRY_CODE_PATTERN } from '../stages/ip-filter/schema.ts';
import { MEDIA_RANGE_PATTERN } from '../stages/validate/media-type.ts';
import { HOST_VALUE_PATTERN } from '../stages/transform/schema.ts';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigSchema, NAME_PATTERN, UNSUPPORTED_KEYWORD, type RawConfig } from './schema.ts';
import { DURATION_PATTERN, SIZE_PATTERN } from './units.ts';
import { CLAIM_PATH_PATTERN, HEADER_NAME_PATTERN, KEY_HASH_PATTERN, URL_PATTERN } from '../stages/authenticate/schema.ts';
import { didYouMean, formatPath, pointerToSegments, type ConfigIssue } from './errors.ts';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  // verbose: errors carry their schema, parent schema and data, for messages and did-you-mean hints.
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
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
      if (!envPaths.has(err.instancePath)) continue;
      if (err.keyword === 'type') coerced = coerceAt(data, err.instancePath, String(err.params.type)) || coerced;
      // `hsts: ${HSTS}` with HSTS=false: the union's `const: false` branch asks for a boolean.
      else if (err.keyword === 'const' && typeof err.params.allowedValue !== 'string') {
        coerced = coerceAt(data, err.instancePath, typeof err.params.allowedValue) || coerced;
      }
    }
    if (!coerced) return { ok: false, issues: toIssues(errors, data, envPaths) };
  }
  return { ok: false, issues: toIssues(validate.errors ?? [], data, envPaths) };
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

const MISMATCH = new Set(['type', 'const', 'enum']);

interface Branch {
  index: string;
  errors: ErrorObject[];
  /** The value does not have this branch's type at all. */
  mismatch: boolean;
  /** Some error is at the union's own level (a missing or unknown key, a too-short string). */
  shallow: boolean;
}

/**
 * Turns ajv's errors into one line per real problem.
 *
 * A union (`upstream: name | {version} | {split}`) makes ajv report every branch plus the union
 * itself. We keep the branch the value was evidently meant for — the only one whose type fits, or
 * among those the only one whose errors are all deeper than the union — so the user sees
 * "routes[0].upstream.version.map: is required" instead of four unrelated complaints. When no
 * branch stands out, one line names the allowed forms (or the unknown key, for a mapping).
 */
function toIssues(errors: readonly ErrorObject[], data: unknown, envPaths: ReadonlySet<string>): ConfigIssue[] {
  const dropped = new Set<ErrorObject>();
  const extra = new Map<ErrorObject, ConfigIssue[]>();
  for (const err of errors) {
    // `not: {}` only exists so that editors flag unsupported keys; x-unsupported carries the message.
    if (err.keyword === 'not' && hasUnsupported(err.parentSchema)) dropped.add(err);
  }
  const unions = errors
    .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
    .sort((a, b) => a.instancePath.length - b.instancePath.length);
  for (const union of unions) {
    if (dropped.has(union)) continue;
    const prefix = union.schemaPath + '/';
    const within = (p: string): boolean => p === union.instancePath || p.startsWith(union.instancePath + '/');
    const members = errors.filter((e) => e !== union && e.schemaPath.startsWith(prefix) && within(e.instancePath));
    const byIndex = new Map<string, Branch>();
    for (const m of members) {
      const index = m.schemaPath.slice(prefix.length).split('/')[0] ?? '';
      let b = byIndex.get(index);
      if (!b) {
        b = { index, errors: [], mismatch: false, shallow: false };
        byIndex.set(index, b);
      }
      b.errors.push(m);
      if (m.instancePath === union.instancePath) {
        if (MISMATCH.has(m.keyword)) b.mismatch = true;
        else b.shallow = true;
      }
    }
    const branches = [...byIndex.values()];
    // A union told apart by a constant key (`type: jwt | introspection | ...`): that key alone decides.
    const tagged = discriminator(union.schema);
    if (tagged) {
      const value = union.data;
      const index = isPlainObject(value) ? tagged.values.indexOf(value[tagged.key]) : -1;
      if (index >= 0) {
        const chosenBranch = byIndex.get(String(index));
        dropped.add(union);
        for (const b of branches) if (b !== chosenBranch) for (const m of b.errors) dropped.add(m);
        continue;
      }
      for (const m of members) dropped.add(m);
      const base = pointerToSegments(union.instancePath, data);
      const allowed = tagged.values.map((v) => JSON.stringify(v)).join(', ');
      if (!isPlainObject(value)) {
        extra.set(union, [{ path: formatPath(base), message: `must be a mapping with a ${tagged.key} (one of ${allowed}), got ${describeValue(value)}` }]);
      } else if (value[tagged.key] === undefined) {
        extra.set(union, [{ path: formatPath([...base, tagged.key]), message: `is required: one of ${allowed}` }]);
      } else {
        const got = value[tagged.key];
        const hint = typeof got === 'string' ? didYouMean(got, tagged.values.filter((v): v is string => typeof v === 'string')) : '';
        extra.set(union, [{ path: formatPath([...base, tagged.key]), message: `must be one of ${allowed}, got ${describeValue(got)}${hint}` }]);
      }
      continue;
    }
    const fitting = branches.filter((b) => !b.mismatch);
    let chosen: Branch | undefined;
    if (fitting.length === 1) chosen = fitting[0];
    else if (fitting.length > 1) {
      const deep = fitting.filter((b) => !b.shallow);
      if (deep.length === 1) chosen = deep[0];
    }
    if (chosen) {
      dropped.add(union);
      for (const b of branches) if (b !== chosen) for (const m of b.errors) dropped.add(m);
      continue;
    }
    for (const m of members) dropped.add(m);
    // A mapping that fits none of the object forms: name its unknown keys rather than every form.
    const value = union.data;
    if (fitting.length > 1 && isPlainObject(value) && Array.isArray(union.schema)) {
      const known = new Set<string>();
      for (const branch of union.schema as unknown[]) for (const k of Object.keys(schemaPropertiesAt(branch))) known.add(k);
      const unknown = Object.keys(value).filter((k) => !known.has(k));
      if (unknown.length > 0) {
        const base = pointerToSegments(union.instancePath, data);
        extra.set(
          union,
          unknown.map((k) => ({ path: formatPath([...base, k]), message: `unknown key${didYouMean(k, known)}` })),
        );
      }
    }
  }

  const seen = new Set<string>();
  const issues: ConfigIssue[] = [];
  const add = (issue: ConfigIssue): void => {
    const key = `${issue.path}\n${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  };
  for (const err of errors) {
    if (dropped.has(err)) continue;
    const replaced = extra.get(err);
    if (replaced) {
      replaced.forEach(add);
      continue;
    }
    const segments = pointerToSegments(err.instancePath, data);
    let message: string;
    switch (err.keyword) {
      case 'additionalProperties': {
        const key = String(err.params.additionalProperty);
        segments.push(key);
        const known = Object.keys(schemaPropertiesAt(err.parentSchema));
        const keyPattern = known.length === 0 ? patternPropertiesOf(err.parentSchema) : undefined;
        message = keyPattern !== undefined ? `${JSON.stringify(key)} ${keyRule(keyPattern)}` : `unknown key${didYouMean(key, known)}`;
        break;
      }
      case 'required':
        segments.push(String(err.params.missingProperty));
        message = 'is required';
        break;
      case 'type':
        message = typeMessage(err, envPaths.has(err.instancePath));
        break;
      case 'pattern':
        message = patternMessage(String(err.params.pattern), err.data);
        break;
      case 'anyOf':
      case 'oneOf':
        message = unionMessage(err.schema, err.data);
        break;
      case 'const':
        message = `must be ${JSON.stringify(err.params.allowedValue)}`;
        break;
      case 'minLength':
        message = err.params.limit === 1 ? 'must not be empty' : `must be at least ${String(err.params.limit)} characters long`;
        break;
      case 'minItems':
        message = `must have at least ${String(err.params.limit)} item${err.params.limit === 1 ? '' : 's'}`;
        break;
      case 'minimum':
        message = `must be at least ${String(err.params.limit)}`;
        break;
      case 'maximum':
        message = `must be at most ${String(err.params.limit)}`;
        break;
      default:
        message = err.message ?? 'is invalid';
    }
    add({ path: formatPath(segments), message });
  }
  return issues;
}

const NAME_RULE = 'use letters, digits, ".", "_" and "-", starting with a letter or digit';
const HEADER_RULE = 'use letters, digits and !#$%&\'*+.^_`|~- (no spaces or colons)';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The key whose constant value tells the branches of a union of mappings apart (`type` for
 * authenticators), with each branch's value in branch order; undefined for other unions.
 */
function discriminator(branches: unknown): { key: string; values: unknown[] } | undefined {
  if (!Array.isArray(branches) || branches.length < 2) return undefined;
  const first = schemaPropertiesAt(branches[0]);
  for (const key of Object.keys(first)) {
    const values: unknown[] = [];
    for (const b of branches as unknown[]) {
      const prop = schemaPropertiesAt(b)[key];
      if (!isPlainObject(prop) || prop.const === undefined || !isPlainObject(b) || !Array.isArray(b.required) || !b.required.includes(key)) break;
      values.push(prop.const);
    }
    if (values.length === branches.length && new Set(values).size === values.length) return { key, values };
  }
  return undefined;
}

function hasUnsupported(schema: unknown): boolean {
  return isPlainObject(schema) && UNSUPPORTED_KEYWORD in schema;
}

/** The key pattern of a record (`upstreams`, `authenticators`, `setHeaders`), if `schema` is one. */
function patternPropertiesOf(schema: unknown): string | undefined {
  return isPlainObject(schema) && isPlainObject(schema.patternProperties) ? Object.keys(schema.patternProperties)[0] : undefined;
}

/** Why a key of a record is refused. */
function keyRule(pattern: string): string {
  if (pattern === HEADER_NAME_PATTERN) return `is not a valid header name: ${HEADER_RULE}`;
  if (pattern === CLAIM_PATH_PATTERN) return 'is not a claim path: it must not be empty';
  if (pattern === NAME_PATTERN) return `is not a valid name: ${NAME_RULE}`;
  return `is not a valid key (must match ${pattern})`;
}

function schemaPropertiesAt(schema: unknown): Record<string, unknown> {
  return isPlainObject(schema) && isPlainObject(schema.properties) ? schema.properties : {};
}

/** "a string", "a number 10", "a list", "a mapping", "an empty value". */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  return 'a mapping';
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'empty',
};

function typeMessage(err: ErrorObject, fromEnv: boolean): string {
  const parent = isPlainObject(err.parentSchema) ? err.parentSchema : {};
  let wanted = String(err.params.type)
    .split(',')
    .map((t) => TYPE_NAMES[t] ?? t)
    .join(' or ');
  if (parent.pattern === DURATION_PATTERN) wanted = 'a duration string such as "30s"';
  else if (parent.pattern === SIZE_PATTERN) wanted = 'a size string such as "16kb"';
  const got = describeValue(err.data);
  return `must be ${wanted}, got ${got}${fromEnv ? ' from the environment' : ''}`;
}

function patternMessage(pattern: string, value: unknown): string {
  const got = typeof value === 'string' ? `, got ${JSON.stringify(value)}` : '';
  if (pattern === DURATION_PATTERN) return `must be a duration such as "250ms", "30s", "5m", "1h" or "1d"${got}`;
  if (pattern === SIZE_PATTERN) return `must be a size such as "512b", "16kb" or "1mb"${got}`;
  if (pattern === NAME_PATTERN) return `is not a valid name: ${NAME_RULE}${got}`;
  if (pattern === '^[A-Z]+$') return `must be an upper-case HTTP method such as GET${got}`;
  if (pattern === URL_PATTERN) return `must be an http:// or https:// URL${got}`;
  if (pattern === KEY_HASH_PATTERN) return `must be "sha256:" or "hmac-sha256:" and 64 lower-case hex digits, as \`portcullis keys new\` prints it${got}`;
  if (pattern === HEADER_NAME_PATTERN) return `is not a valid header name: ${HEADER_RULE}${got}`;
  if (pattern === HOST_VALUE_PATTERN) return `must be a host name or address with an optional port, such as "internal.example" or "10.0.0.5:8080"${got}`;
  if (pattern === COUNTRY_CODE_PATTERN) return `must be an upper-case ISO 3166-1 alpha-2 country code such as "KP" or "GB"${got}`;
  if (pattern === MEDIA_RANGE_PATTERN) return `must be a media type without parameters, such as "application/json", "application/*+json" or "text/*"${got}`;
  if (pattern === KEY_PART_PATTERN) return `must be ip, consumer, apiKey, route, claim:<path> or header:<name>${got}${didYouMean(String(value), ['ip', 'consumer', 'apiKey', 'route'])}`;
  return `must match ${pattern}${got}`;
}

/** `must be one of "round-robin", "random" (did you mean "random"?)` or `must be a string or { url, weight }`. */
function unionMessage(branches: unknown, value: unknown): string {
  if (!Array.isArray(branches)) return 'is not one of the allowed forms';
  const consts = branches.filter((b) => isPlainObject(b) && b.const !== undefined).map((b) => (b as { const: unknown }).const);
  if (consts.length === branches.length) {
    const hint = typeof value === 'string' ? didYouMean(value, consts.filter((c) => typeof c === 'string')) : '';
    return `must be one of ${consts.map((c) => JSON.stringify(c)).join(', ')}, got ${describeValue(value)}${hint}`;
  }
  const forms = branches.map((b: unknown) => {
    if (!isPlainObject(b)) return 'a value';
    if (b.const !== undefined) return JSON.stringify(b.const);
    if (b.type === 'object' && isPlainObject(b.properties)) return `{ ${Object.keys(b.properties).join(', ')} }`;
    if (b.type === 'array' && isPlainObject(b.items) && typeof b.items.type === 'string') {
      return `a list of ${(TYPE_NAMES[b.items.type] ?? b.items.type).replace(/^an? /, '')}s`;
    }
    return typeof b.type === 'string' ? (TYPE_NAMES[b.type] ?? b.type) : 'a value';
  });
  return `must be ${forms.slice(0, -1).join(', ')}${forms.length > 1 ? ' or ' : ''}${forms.at(-1) ?? ''}, got ${describeValue(value)}`;
}
