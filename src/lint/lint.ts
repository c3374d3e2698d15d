/**
 * `portcullis lint --config FILE [--strict] [--format text|json]`: loads and builds the config the
 * way `start` and `validate` do, then runs the rules of rules.ts over it and prints what is valid
 * but risky. Exit 0 (findings or not), 1 with --strict and at least one warning (info findings never
 * fail) or on an invalid config, 2 on bad arguments (main.ts).
 */
import { ConfigError, formatIssue } from '../config/errors.ts';
import { buildGateway } from '../config/gateway.ts';
import { loadConfigFile } from '../config/load.ts';
import { lint, type Finding } from './rules.ts';

export type LintFormat = 'text' | 'json';
export const LINT_FORMATS: readonly LintFormat[] = ['text', 'json'];

export interface LintOptions {
  strict: boolean;
  format: LintFormat;
  env?: NodeJS.ProcessEnv;
  /** Output streams (tests); default process.stdout / process.stderr. */
  out?: { write(s: string): unknown };
  err?: { write(s: string): unknown };
}

/** Loads, builds, lints and prints; returns the exit code. */
export async function lintCommand(file: string, options: LintOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  let findings: Finding[];
  try {
    const loaded = await loadConfigFile(file, options.env);
    const gateway = await buildGateway(loaded);
    try {
      findings = lint({ raw: loaded.raw, envPaths: loaded.envPaths, gateway });
    } finally {
      await gateway.close();
    }
  } catch (e) {
    // As `validate` prints it: the count, then one line per error with its path.
    if (e instanceof ConfigError) {
      err.write(`${file}: ${e.issues.length} error${e.issues.length === 1 ? '' : 's'}\n`);
      for (const issue of e.issues) err.write(`  ${formatIssue(issue)}\n`);
    } else {
      err.write(`${file}: ${(e as Error).message}\n`);
    }
    return 1;
  }
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  const infos = findings.length - warnings;
  const failed = options.strict && warnings > 0;
  out.write(options.format === 'json' ? formatJson(file, findings, warnings, infos, failed) : formatText(file, findings, warnings, infos, failed));
  return failed ? 1 : 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** One block per finding (`path: severity rule-id`, the problem, the fix), then a summary line. */
export function formatText(file: string, findings: readonly Finding[], warnings: number, infos: number, failed: boolean): string {
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.path}: ${f.severity} [${f.rule}]`, `  problem: ${f.problem}`, `  fix: ${f.fix}`);
  }
  const summary = findings.length === 0 ? 'no findings' : `${plural(warnings, 'warning')}, ${infos} info`;
  lines.push(`${file}: ${summary}${failed ? ' (--strict: failing on warnings)' : ''}`);
  return `${lines.join('\n')}\n`;
}

export function formatJson(file: string, findings: readonly Finding[], warnings: number, infos: number, failed: boolean): string {
  return `${JSON.stringify({ file, ok: !failed, warnings, infos, findings }, null, 2)}\n`;
}
