/**
 * Loading a config file: YAML → `${ENV}` substitution → schema validation → build. Every error is
 * collected and named by its path; nothing is half-applied.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import { ConfigError, formatPath, type ConfigIssue } from './errors.ts';
import { validateConfig } from './validate.ts';
import type { RawConfig } from './schema.ts';

/** ${NAME} or ${NAME:-default}; `$${` writes a literal `${`. Names with dots (${claims.sub}) are request templates, left alone. */
const ENV_RE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/g;

export interface LoadedConfig {
  raw: RawConfig;
  /** Directory of the config file: relative paths in the config resolve against it. */
  baseDir: string;
  source: string;
  /** JSON pointers of the values that came from ${ENV} substitution (secrets must). */
  envPaths: ReadonlySet<string>;
  /** JSON pointers of values that are wholly one environment variable's value (not a `:-default`): where secrets may come from. */
  secretPaths: ReadonlySet<string>;
  /** SHA-256 (hex) of the config text: the config's identity for the admin API (If-Match on PUT /config). */
  hash: string;
}

export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(err as Error).message}` }]);
  }
  return parseConfigText(text, { source: file, baseDir: path.dirname(path.resolve(file)), env });
}

export function parseConfigText(
  text: string,
  options: { source?: string; baseDir?: string; env?: NodeJS.ProcessEnv } = {},
): LoadedConfig {
  const source = options.source ?? '<inline>';
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) throw new ConfigError(yamlIssues(doc.errors, text), source);
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([{ path: '', message: 'the config must be a YAML mapping' }], source);
  }
  const issues: ConfigIssue[] = [];
  const envPaths = new Set<string>();
  const secretPaths = new Set<string>();
  substituteEnv(data, [], '', options.env ?? process.env, issues, envPaths, secretPaths);
  const result = validateConfig(data, envPaths);
  if (!result.ok) {
    // All at once: the missing variables, and the schema errors except where a variable is missing.
    const missing = issues.map((i) => i.path);
    const under = (p: string): boolean => missing.some((m) => p === m || p.startsWith(`${m}.`) || p.startsWith(`${m}[`));
    issues.push(...result.issues.filter((i) => !under(i.path)));
  }
  if (issues.length > 0) throw new ConfigError(issues, source);
  if (!result.ok) throw new ConfigError(result.issues, source);
  const hash = createHash('sha256').update(text).digest('hex');
  return { raw: result.config, baseDir: options.baseDir ?? process.cwd(), source, envPaths, secretPaths, hash };
}

/**
 * YAML errors as issues. After the first syntax error the parser is lost and every later "error"
 * is a consequence of it, so only that one is reported (duplicate keys are independent: all are).
 */
function yamlIssues(errors: readonly YAMLError[], text: string): ConfigIssue[] {
  const lines = text.split(/\r?\n/);
  const out: ConfigIssue[] = [];
  let syntaxReported = false;
  for (const e of errors) {
    const duplicate = e.code === 'DUPLICATE_KEY';
    if (!duplicate && syntaxReported) continue;
    if (!duplicate) syntaxReported = true;
    const line = e.linePos?.[0].line;
    const col = e.linePos?.[0].col;
    const where = line !== undefined && col !== undefined ? ` at line ${line}, column ${col}` : '';
    let reason = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    if (duplicate) {
      const rest = line !== undefined && col !== undefined ? (lines[line - 1] ?? '').slice(col - 1) : '';
      const key = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^:#,{}[\]]+?)\s*:/.exec(rest)?.[1];
      reason = key ? `duplicate key ${key.startsWith('"') || key.startsWith("'") ? key : JSON.stringify(key)}` : 'duplicate key';
    }
    let hint = '';
    // `{ port: ${PORT} }`: in a flow collection the `{` of `${` is syntax; the value needs quotes.
    const source = line !== undefined ? (lines[line - 1] ?? '') : '';
    if (!duplicate && source.includes('${') && /[[{]/.test(source.replace(/\$\{[^}]*\}/g, ''))) {
      hint = ' (inside { } or [ ], quote a value that uses ${...}, e.g. port: "${PORT}")';
    }
    out.push({ path: '', message: `YAML ${duplicate ? 'error' : 'syntax error'}${where}: ${reason}${hint}` });
  }
  return out;
}

function substituteEnv(
  node: unknown,
  segments: (string | number)[],
  pointer: string,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
  envPaths: Set<string>,
  secretPaths: Set<string>,
): unknown {
  if (typeof node === 'string') {
    if (!node.includes('${')) return node;
    let whole = false;
    let fromEnv = false;
    const out = node.replace(ENV_RE, (match, escaped: string, name: string, hasDefault: string | undefined, def: string | undefined, offset: number) => {
      if (escaped) return match.slice(1);
      const value = env[name];
      if (value === undefined || (value === '' && hasDefault !== undefined)) {
        if (hasDefault !== undefined) {
          whole = offset === 0 && match.length === node.length;
          return def ?? '';
        }
        issues.push({ path: formatPath(segments), message: `environment variable ${name} is not set` });
        return '';
      }
      whole = offset === 0 && match.length === node.length;
      fromEnv = whole;
      return value;
    });
    if (whole) envPaths.add(pointer);
    if (fromEnv) secretPaths.add(pointer);
    return out;
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      node[i] = substituteEnv(node[i], [...segments, i], `${pointer}/${i}`, env, issues, envPaths, secretPaths);
    }
    return node;
  }
  if (node !== null && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const ptr = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      obj[key] = substituteEnv(obj[key], [...segments, key], ptr, env, issues, envPaths, secretPaths);
    }
  }
  return node;
}
