/**
 * The `portcullis` command, run as a real process: bin/portcullis.js under the Node that runs the
 * tests (process.execPath).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGateway, startUpstream } from '../helpers/harness.ts';

import { BIN, cli, ROOT, type Run } from '../helpers/cli.ts';

const GOOD = `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9001"] }
  orders-v2: { targets: ["http://127.0.0.1:9002"] }
routes:
  - name: orders
    match: { path: /orders/* }
    auth: public
    upstream:
      version: { header: api-version, default: "1", map: { "1": orders-v1, "2": orders-v2 } }
  - name: health
    match: { path: /health, methods: [GET] }
    auth: public
    upstream: orders-v1
`;

const BAD = `
server:
  http: { host: 127.0.0.1, port: "\${GW_PORT}", redirectToHttps: false }
upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9001"], timeout: 10 }
routes:
  - name: orders
    match: { path: /orders/* }
    upstream: orders-v1
  - name: health
    match: { path: /health, methods: [GET] }
    auth: public
    upstream: orders-v1
    rateLimit: []
`;

describe('portcullis CLI', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-cli-'));
    await writeFile(path.join(dir, 'good.yaml'), GOOD);
    await writeFile(path.join(dir, 'bad.yaml'), BAD);
    await writeFile(path.join(dir, 'semantic.yaml'), GOOD.replace('upstream: orders-v1', 'upstream: ordrs-v1').replace('path: /orders/*', 'path: /orders//*'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('validate: a good config exits 0 and says what it found', async () => {
    const r = await cli(['validate', '--config', path.join(dir, 'good.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${path.join(dir, 'good.yaml')}: valid (2 routes, 2 upstreams)\n`);
    assert.equal(r.stderr, '');
  });

  it('validate: -c and $PORTCULLIS_CONFIG name the file too', async () => {
    assert.equal((await cli(['validate', '-c', 'good.yaml'], { cwd: dir })).code, 0);
    const r = await cli(['validate'], { cwd: dir, env: { PORTCULLIS_CONFIG: 'good.yaml' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^good\.yaml: valid/);
  });

  it('validate: a bad config exits 1 and lists every error with its path', async () => {
    const file = path.join(dir, 'bad.yaml');
    const r = await cli(['validate', '--config', file], { env: { GW_PORT: 'eighty' } });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], `${file}: 4 errors`);
    assert.deepEqual(lines.slice(1).map((l) => l.trim().split(': ')[0]).sort(), [
      'routes[0].auth',
      'routes[1].rateLimit',
      'server.http.port',
      'upstreams.orders-v1.timeout',
    ]);
    assert.match(r.stderr, /\n {2}server\.http\.port: must be an integer, got the string "eighty" from the environment\n/);
    assert.match(r.stderr, /\n {2}routes\[1\]\.rateLimit: must have at least 1 item\n/);
  });

  it('validate: a missing environment variable is reported at its path', async () => {
    const r = await cli(['validate', '--config', path.join(dir, 'bad.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\n {2}server\.http\.port: environment variable GW_PORT is not set\n/);
  });

  it('validate: semantic errors are listed the same way', async () => {
    const r = await cli(['validate', '--config', path.join(dir, 'semantic.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /: 2 errors\n/);
    assert.match(r.stderr, /\n {2}routes\[0\]\.match\.path: must not contain empty segments/);
    assert.match(r.stderr, /\n {2}routes\[1\]\.upstream: unknown upstream "ordrs-v1" \(did you mean "orders-v1"\?\)\n/);
  });

  it('validate: a missing file exits 1 and says so', async () => {
    const r = await cli(['validate', '--config', path.join(dir, 'nope.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read .*nope\.yaml: ENOENT/);
  });

  it('validate: the bundled example is valid', async () => {
    const r = await cli(['validate', '--config', 'examples/portcullis.yaml']);
    // The example's certificates are generated on first `npm start`; without them, only they are missing.
    if (r.code !== 0) {
      const lines = r.stderr.trimEnd().split('\n').slice(1);
      for (const l of lines) assert.match(l, /server\.https\.certificates\[0\]\.(cert|key): cannot read/);
    } else {
      assert.match(r.stdout, /valid \(4 routes, 2 upstreams\)/);
    }
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const r = await cli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `${version}\n`);
    }
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    for (const args of [['--help'], ['-h'], ['help'], ['validate', '--help']]) {
      const r = await cli(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^portcullis \d+\.\d+\.\d+ — a secure API gateway\n/);
      assert.match(r.stdout, /portcullis validate --config FILE/);
      assert.match(r.stdout, /portcullis keys new \[--consumer ID\] \[--prefix pcl_\] \[--pepper-env NAME\]/);
      assert.equal(r.stderr, '');
    }
  });

  it('usage errors exit 2 with the usage on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [['deploy'], /^portcullis: unknown command "deploy"\n/],
      [[], /^portcullis: no command given\n/],
      [['validate', '--bogus'], /^portcullis: Unknown option '--bogus'/],
      [['validate', 'good.yaml'], /^portcullis: unexpected argument "good\.yaml" \(the config is given with --config FILE\)\n/],
      [['keys'], /^portcullis: usage: portcullis keys new /],
      [['keys', 'old'], /^portcullis: usage: portcullis keys new /],
      [['keys', 'new', 'acme'], /^portcullis: usage: portcullis keys new /],
      [['keys', 'new', '--prefix', 'pcl key '], /^portcullis: --prefix must be at most 32 letters, digits/],
      [['keys', 'new', '--consumer', ''], /^portcullis: --consumer must not be empty\n/],
      [['keys', 'new', '--pepper-env', 'API-KEY PEPPER'], /^portcullis: --pepper-env takes the name of an environment variable/],
      [['validate', '--consumer', 'acme'], /^portcullis: --consumer belongs to "portcullis keys new"\n/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { cwd: dir });
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  it('start: listens, then stops gracefully on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'start', '--config', path.join(dir, 'good.yaml')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const listening = new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (c: string) => {
        stderr += c;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.once('close', () => reject(new Error(`exited early: ${stderr}`)));
    });
    const port = await listening;
    const res = await fetch(`http://127.0.0.1:${port}/nowhere`);
    assert.equal(res.status, 404);
    assert.equal((await res.json() as { code?: string }).code, 'PCL_ROUTE_NOT_FOUND');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0, stderr);
    assert.match(stderr, /SIGTERM, draining in-flight requests/);
  });

  it('start: SIGHUP reloads the config; a broken file on SIGHUP changes nothing', async () => {
    const file = path.join(dir, 'reload.yaml');
    await writeFile(file, GOOD);
    const child = spawn(process.execPath, [BIN, 'start', '--config', file], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const waitFor = (re: RegExp, from: number): Promise<RegExpExecArray> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(stderr.slice(from));
          if (m) {
            child.stderr.off('data', check);
            resolve(m);
          }
        };
        child.stderr.on('data', check);
        check();
        setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${stderr}`)), 10_000).unref();
      });
    child.stderr.on('data', (c: string) => (stderr += c));
    try {
      const port = Number((await waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/, 0))[1]);
      assert.equal((await fetch(`http://127.0.0.1:${port}/reloaded`)).status, 404);
      // The file watcher may see the write first; SIGHUP then finds nothing new. Either way it reloads once.
      await writeFile(file, GOOD.replace('path: /health, methods: [GET]', 'path: /reloaded, methods: [GET]'));
      let mark = stderr.length;
      child.kill('SIGHUP');
      await waitFor(/reloaded|reload of .* rejected/, mark);
      const deadline = Date.now() + 5000;
      let status = 0;
      while (Date.now() < deadline && (status = (await fetch(`http://127.0.0.1:${port}/reloaded`)).status) !== 502) await new Promise((r) => setTimeout(r, 50));
      assert.equal(status, 502, 'the new route is served (its backend is down: 502)');
      await writeFile(file, 'server: [broken');
      mark = stderr.length;
      child.kill('SIGHUP');
      await waitFor(/reload of .* rejected/, mark);
      assert.equal((await fetch(`http://127.0.0.1:${port}/reloaded`)).status, 502, 'still the last good config');
    } finally {
      child.kill('SIGTERM');
      await once(child, 'close');
    }
  });

  it('explain: prints the decision record; exit 0 when forwarded, 1 when rejected, 2 on bad arguments', async () => {
    const ok = await cli(['explain', '--config', path.join(dir, 'good.yaml'), '--request', 'GET /orders/7', '-H', 'api-version: 2']);
    assert.equal(ok.code, 0, ok.stderr);
    const record = JSON.parse(ok.stdout) as { outcome: string; route: string; decisions: { stage: string; decision: string }[] };
    assert.equal(record.outcome, 'forward');
    assert.equal(record.route, 'orders');
    const no = await cli(['explain', '--config', path.join(dir, 'good.yaml'), '--request', 'POST /health']);
    assert.equal(no.code, 1);
    assert.equal((JSON.parse(no.stdout) as { code: string }).code, 'PCL_ROUTE_METHOD_NOT_ALLOWED');
    for (const args of [['--request', 'get /x'], ['--request', 'GET /x', '-H', 'novalue'], []]) {
      const bad = await cli(['explain', '--config', path.join(dir, 'good.yaml'), ...args]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
    }
  });

  it('start: a bad config exits 1 without listening', async () => {
    const r = await cli(['start', '--config', path.join(dir, 'semantic.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /: 2 errors\n/);
    assert.doesNotMatch(r.stderr, /listening/);
  });
});

/** What `keys new` printed: the key (its own line), and the config lines. */
function printedKey(r: Run): { key: string; keyHash: string; id: string } {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /shown only this once and will not be shown again/);
  const key = /^(\S+_[0-9A-Za-z]{32})$/m.exec(r.stdout)?.[1];
  const id = /^ {6}- id: (.+)$/m.exec(r.stdout)?.[1];
  const keyHash = /^ {8}keyHash: (\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(key && id && keyHash, r.stdout);
  assert.equal(r.stdout.split(key).length, 2, 'the key is printed exactly once');
  return { key, keyHash, id };
}

describe('portcullis keys new', () => {
  it('prints a fresh pcl_ key once, and its sha256 hash in the lines to paste', async () => {
    const { key, keyHash, id } = printedKey(await cli(['keys', 'new', '--consumer', 'acme']));
    assert.match(key, /^pcl_[0-9A-Za-z]{32}$/);
    assert.equal(id, 'acme');
    assert.equal(keyHash, `sha256:${createHash('sha256').update(key).digest('hex')}`);
  });

  it('gives a different key every time', async () => {
    const [a, b] = await Promise.all([cli(['keys', 'new']), cli(['keys', 'new'])]);
    const first = printedKey(a as Run);
    const second = printedKey(b as Run);
    assert.notEqual(first.key, second.key);
    assert.notEqual(first.keyHash, second.keyHash);
    assert.equal(first.id, 'CONSUMER-ID', 'a placeholder without --consumer');
  });

  it('takes another prefix, and quotes an id that YAML would read otherwise', async () => {
    const { key, keyHash, id } = printedKey(await cli(['keys', 'new', '--prefix', 'acme_live_', '--consumer', 'true']));
    assert.match(key, /^acme_live_[0-9A-Za-z]{32}$/);
    assert.equal(keyHash, `sha256:${createHash('sha256').update(key).digest('hex')}`);
    assert.equal(id, '"true"');
  });

  it('--pepper-env: an hmac-sha256 hash with the pepper from the environment', async () => {
    const pepper = 'a-pepper-from-the-environment-0123456789';
    const r = await cli(['keys', 'new', '--consumer', 'acme', '--pepper-env', 'API_KEY_PEPPER'], { env: { API_KEY_PEPPER: pepper } });
    const { key, keyHash } = printedKey(r);
    assert.equal(keyHash, `hmac-sha256:${createHmac('sha256', pepper).update(key).digest('hex')}`);
    assert.match(r.stdout, /pepper: \$\{API_KEY_PEPPER\}/);
  });

  it('--pepper-env: exit 2 when the variable is not set, or too short for a pepper', async () => {
    const unset = await cli(['keys', 'new', '--pepper-env', 'API_KEY_PEPPER']);
    assert.equal(unset.code, 2);
    assert.equal(unset.stdout, '');
    assert.match(unset.stderr, /^portcullis: environment variable API_KEY_PEPPER is not set/);
    const short = await cli(['keys', 'new', '--pepper-env', 'API_KEY_PEPPER'], { env: { API_KEY_PEPPER: 'short' } });
    assert.equal(short.code, 2);
    assert.equal(short.stdout, '');
    assert.match(short.stderr, /must be at least 16 characters long/);
  });

  it('a config with the printed lines authenticates that key, and only that key', async () => {
    const pepper = 'another-pepper-from-the-environment-42';
    const plain = printedKey(await cli(['keys', 'new', '--consumer', 'acme']));
    const peppered = printedKey(await cli(['keys', 'new', '--consumer', 'globex', '--pepper-env', 'PEPPER'], { env: { PEPPER: pepper } }));
    const upstream = await startUpstream();
    const gateway = await startGateway(
      `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
authenticators:
  partner-keys:
    type: apiKey
    consumers:
      - id: ${plain.id}
        keyHash: ${plain.keyHash}
  peppered-keys:
    type: apiKey
    name: x-partner-key
    pepper: \${PEPPER}
    consumers:
      - id: ${peppered.id}
        keyHash: ${peppered.keyHash}
upstreams:
  backend: { targets: ["${upstream.url}"] }
routes:
  - name: orders
    match: { path: /orders/* }
    auth: [partner-keys, peppered-keys]
    upstream: backend
    transform:
      request:
        setHeaders: { x-consumer-id: "\${consumer.id}" }
`,
      { env: { PEPPER: pepper } },
    );
    try {
      const get = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${gateway.httpPort}/orders/1`, { headers });
      const ok = await get({ 'x-api-key': plain.key });
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
      const okPeppered = await get({ 'x-partner-key': peppered.key });
      assert.equal(okPeppered.status, 200);
      await okPeppered.arrayBuffer();
      assert.deepEqual(upstream.received.map((r) => r.headers['x-consumer-id']), ['acme', 'globex']);
      // A key is accepted only where its hash is: the plain key in the peppered header, a changed key, none.
      for (const headers of [{ 'x-partner-key': plain.key }, { 'x-api-key': `${plain.key.slice(0, -1)}${plain.key.endsWith('x') ? 'y' : 'x'}` }, {}]) {
        const res = await get(headers);
        assert.equal(res.status, 401, JSON.stringify(headers));
        await res.arrayBuffer();
      }
      assert.equal(upstream.received.length, 2);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });
});
