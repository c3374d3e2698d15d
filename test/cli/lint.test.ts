/**
 * `portcullis lint`, run as a real process (bin/portcullis.js under the Node that runs the tests):
 * output formats and exit codes. The rules themselves are tested in src/lint/lint.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli as run, type Run } from '../helpers/cli.ts';

/** With PATH plus `env`. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> => run(args, { env });

const HEAD = `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
upstreams:
  u: { targets: ["http://127.0.0.1:9001"] }
`;

/** One warning (api-key-in-query at authenticators.keys.in), nothing else. */
const WARNING = `${HEAD}
defaults:
  threats: { mode: block }
  rateLimit: [{ by: ip, limit: 100, per: 1s }]
authenticators:
  keys: { type: apiKey, in: query, name: key, consumers: [] }
routes:
  - { name: items, match: { path: /items/* }, auth: keys, upstream: u }
`;

/** Only an info finding (no-rate-limit). */
const INFO = `${HEAD}
defaults:
  threats: { mode: block }
routes:
  - { name: items, match: { path: /items/* }, auth: public, upstream: u }
`;

const CLEAN = `${INFO}  - { name: other, match: { path: /other }, auth: public, upstream: u, rateLimit: [{ by: ip, limit: 5, per: 1s }] }
`;

const INVALID = `${HEAD}
routes:
  - { name: items, match: { path: /items/* }, auth: nobody, upstream: nowhere }
`;

describe('portcullis lint', () => {
  let dir: string;
  const file = (name: string): string => path.join(dir, `${name}.yaml`);
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-lint-'));
    for (const [name, text] of Object.entries({ warning: WARNING, info: INFO, clean: CLEAN, invalid: INVALID })) await writeFile(file(name), text);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints each finding with path, severity, rule id, problem and fix; exit 0 without --strict', async () => {
    const r = await cli(['lint', '--config', file('warning')]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'authenticators.keys.in: warning [api-key-in-query]');
    assert.match(lines[1] ?? '', /^ {2}problem: /);
    assert.match(lines[2] ?? '', /^ {2}fix: /);
    assert.equal(lines.at(-1), `${file('warning')}: 1 warning, 0 info`);
    assert.equal(r.stderr, '');
  });

  it('--strict: exit 1 with a warning', async () => {
    const r = await cli(['lint', '--strict', '-c', file('warning')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /1 warning, 0 info \(--strict: failing on warnings\)\n$/);
  });

  it('--strict: info findings do not fail', async () => {
    const r = await cli(['lint', '--strict', '-c', file('info')]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^defaults\.rateLimit: info \[no-rate-limit\]\n/);
  });

  it('a clean config: "no findings", exit 0 with --strict', async () => {
    const r = await cli(['lint', '--strict', '-c', file('clean')]);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.stdout, `${file('clean')}: no findings\n`);
  });

  it('--format json: the findings as data', async () => {
    const r = await cli(['lint', '--format', 'json', '--strict', '-c', file('warning')]);
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout) as { ok: boolean; warnings: number; infos: number; findings: { rule: string; severity: string; path: string; problem: string; fix: string }[] };
    assert.equal(out.ok, false);
    assert.equal(out.warnings, 1);
    assert.equal(out.infos, 0);
    assert.deepEqual(out.findings.map((f) => [f.rule, f.severity, f.path]), [['api-key-in-query', 'warning', 'authenticators.keys.in']]);
  });

  it('an invalid config: the errors as validate prints them, exit 1', async () => {
    const r = await cli(['lint', '-c', file('invalid')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], `${file('invalid')}: 2 errors`);
    assert.deepEqual(lines.slice(1).map((l) => l.trim().split(': ')[0]).sort(), ['routes[0].auth', 'routes[0].upstream']);
    // Same text as validate.
    assert.equal((await cli(['validate', '-c', file('invalid')])).stderr, r.stderr);
  });

  it('bad arguments: exit 2', async () => {
    const badFormat = await cli(['lint', '--format', 'xml', '-c', file('clean')]);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.stderr, /--format takes text or json/);
    const elsewhere = await cli(['validate', '--strict', '-c', file('clean')]);
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /--strict belongs to "portcullis lint"/);
    const positional = await cli(['lint', file('clean')]);
    assert.equal(positional.code, 2);
    assert.equal((await cli(['lint', '--strict=yes', '-c', file('clean')])).code, 2);
  });

  it('--help lists the command and its options', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /portcullis lint --config FILE \[--strict\] \[--format text\|json\]/);
    assert.match(r.stdout, /--strict {12}lint: /);
  });
});
