/**
 * `portcullis selftest --config FILE [--format text|json]`: exit 0 when every check passes (skipped
 * and not-applicable checks do not fail), 1 on any failure or an invalid config, 2 on bad arguments.
 */
import { ConfigError, formatIssue } from '../config/errors.ts';
import { loadConfigFile } from '../config/load.ts';
import { formatTable, runSelftest } from './selftest.ts';

export const SELFTEST_FORMATS = ['text', 'json'] as const;
export type SelftestFormat = (typeof SELFTEST_FORMATS)[number];

export async function selftestCommand(file: string, format: string | undefined): Promise<number> {
  const f = format ?? 'text';
  if (!(SELFTEST_FORMATS as readonly string[]).includes(f)) {
    process.stderr.write(`portcullis: --format takes text or json (got ${JSON.stringify(f)})\n`);
    return 2;
  }
  let report;
  try {
    report = await runSelftest(await loadConfigFile(file));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${file}: ${err.issues.length} error${err.issues.length === 1 ? '' : 's'}\n`);
      for (const issue of err.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
    } else {
      process.stderr.write(`${file}: self-test could not run: ${(err as Error).message}\n`);
    }
    return 1;
  }
  process.stdout.write(f === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
  return report.ok ? 0 : 1;
}
