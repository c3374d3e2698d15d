/**
 * `portcullis selftest` and POST /selftest: the battery on the bundled example, on a strong config
 * (everything passes) and on a deliberately weak one (each weakness is a FAIL at its route and check).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import { buildGateway } from '../../src/config/gateway.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { GatewayServer } from '../../src/server/gateway-server.ts';
import { runSelftest, type CheckResult, type SelftestReport } from '../../src/selftest/selftest.ts';
import { lenientMatch, pathTricks } from '../../src/selftest/battery.ts';
import { makeCerts } from '../helpers/harness.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');
const TOKEN = 'selftest-admin-token-0123456789abcdef';
const key = newApiKey();

/**
 * Shared by both configs: jwt + apiKey on /admin/*, a signature on /api/:id, an IP allow list,
 * a rate limit by ip and one by header, threat detection. `weak` changes only what is named.
 */
function config(weak: boolean, admin = false): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
${admin ? '  admin: { host: 127.0.0.1, port: 0, token: "${ADMIN_TOKEN}" }\n' : ''}  trustedProxies: [${weak ? '0.0.0.0/0' : '192.0.2.10'}]
  limits: { maxHeaderBytes: ${weak ? '1mb' : '16kb'}, headersTimeout: ${weak ? '10s' : '1s'} }
store: { type: redis, redis: { url: "redis://127.0.0.1:1", timeout: 50ms } }
logging: { level: silent, accessLog: "off" }
authenticators:
  staff:
    type: jwt
    keys: jwks.json
    algorithms: [EdDSA]
    issuer: https://id.example.test/
    audience: admin-api
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${key.keyHash}" }]
  partners:
    type: signature
    keys: jwks.json
    components: ["@method", "@path"]
defaults:
  threats: { mode: block }
  bruteForce: { maxFailures: 3, per: 1m, ban: 10m }
upstreams:
  app: { targets: ["http://127.0.0.1:9"], healthCheck: { path: /healthz, interval: 1s } }
  web: { targets: ["https://web.internal:9443"], tls: { insecureSkipVerify: true } }
routes:
  - name: admin
    match: { path: /admin/*, methods: [GET] }
    auth: [staff, keys]
    upstream: app
  - name: partner-api
    match: { path: /api/:id }
    auth: partners
    upstream: app
  - name: internal
    match: { path: /internal/*, methods: [GET] }
    auth: public
    ipFilter: { allow: [10.0.0.0/8] }
    upstream: app
  - name: limited
    match: { path: /limited, methods: [GET] }
    auth: public
    rateLimit: [{ by: ip, limit: 5, per: 1m }]
    upstream: web
  - name: search
    match: { path: /search, methods: [GET] }
    auth: public
    rateLimit: [{ by: "header:x-client", limit: 4, per: 1m }]
${weak ? '    threats: { mode: detect }\n' : ''}    upstream: web
  - name: ${weak ? 'everything' : 'public'}
    match: { path: ${weak ? '/*' : '/public/*'}, methods: [GET, POST] }
    auth: public
    upstream: ${weak ? 'app' : 'web'}
`;
}

let dir: string;
let strongFile: string;
let weakFile: string;
let strong: SelftestReport;
let weak: SelftestReport;

function find(report: SelftestReport, route: string, check: string): CheckResult[] {
  return report.results.filter((r) => r.route === route && r.check === check);
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-selftest-'));
  const { publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  await writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'staff-1', alg: 'EdDSA' }] }));
  strongFile = path.join(dir, 'strong.yaml');
  weakFile = path.join(dir, 'weak.yaml');
  await writeFile(strongFile, config(false));
  await writeFile(weakFile, config(true));
  strong = await runSelftest(await loadConfigFile(strongFile));
  weak = await runSelftest(await loadConfigFile(weakFile));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('selftest battery', () => {
  it('passes every check of a strong config, and really fires them', () => {
    assert.deepEqual(strong.results.filter((r) => r.verdict === 'FAIL'), []);
    assert.equal(strong.ok, true);
    const expectRows: [string, string, number][] = [
      ['admin', 'auth.none', 1],
      ['admin', 'auth.jwt', 7],
      ['admin', 'auth.apiKey', 2],
      ['partner-api', 'auth.signature', 2],
      ['admin', 'path.upper-case', 1],
      ['admin', 'path.dot-dot-semicolon', 1],
      ['internal', 'spoof.x-forwarded-for', 1],
      ['internal', 'spoof.forwarded', 1],
      ['limited', 'ratelimit.evasion', 1],
      ['search', 'ratelimit.evasion', 1],
      ['search', 'threats.sqli', 1],
      ['(listener)', 'smuggling.cl-te', 1],
      ['(listener)', 'limits.header-size', 1],
      ['public', 'limits.body-size', 1],
      ['(listener)', 'limits.headers-timeout', 1],
    ];
    for (const [route, check, n] of expectRows) {
      const rows = find(strong, route, check);
      assert.equal(rows.length, n, `${route} ${check}`);
      for (const r of rows) assert.equal(r.verdict, 'pass', `${route} ${check}: ${r.attack} → ${r.got}`);
    }
    for (const r of strong.results.filter((x) => x.check.startsWith('auth.'))) assert.equal(r.reachedUpstream, false);
    assert.equal(find(strong, 'search', 'threats.xss')[0]?.got, '403 PCL_THREAT_DETECTED');
    assert.match(find(strong, 'limited', 'ratelimit.evasion')[0]?.got ?? '', /^429 at request 6$/);
    assert.ok(strong.summary.ms < 20_000, `took ${strong.summary.ms} ms`);
    assert.ok(strong.notes.some((n) => n.startsWith('store: redis replaced by memory')), strong.notes.join('; '));
    assert.ok(strong.notes.some((n) => n.includes('dropped') && n.includes('web')), strong.notes.join('; '));
  });

  it('reports each weakness of a weak config as FAIL at its route and check', () => {
    const fails = new Set(weak.results.filter((r) => r.verdict === 'FAIL').map((r) => `${r.route} ${r.check}`));
    const expected = [
      'internal spoof.x-forwarded-for', // trustedProxies 0.0.0.0/0: any peer sets the client address
      'internal spoof.forwarded',
      'limited ratelimit.evasion', // ... so a rotating X-Forwarded-For escapes the limit
      '(listener) limits.header-size', // maxHeaderBytes 1mb
      'admin path.upper-case', // a public catch-all sends /ADMIN/... to the admin backend
      'admin path.semicolon',
    ];
    for (const e of expected) assert.ok(fails.has(e), `${e} should FAIL; failures: ${[...fails].join(', ')}`);
    assert.equal(weak.ok, false);
    assert.equal(find(weak, 'internal', 'spoof.x-forwarded-for')[0]?.reachedUpstream, true);
    // What the weak config did not weaken still passes: authentication, smuggling.
    for (const r of weak.results.filter((x) => x.check.startsWith('auth.') || x.check.startsWith('smuggling.'))) {
      assert.equal(r.verdict, 'pass', `${r.route} ${r.check}: ${r.attack} → ${r.got}`);
    }
  });

  it('treats threats in detect mode as forwarded-and-logged, not as a failure', () => {
    const rows = find(weak, 'search', 'threats.sqli');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.verdict, 'pass');
    assert.equal(rows[0]?.reachedUpstream, true);
    assert.match(rows[0]?.expected ?? '', /detect/);
  });

  it('passes on the bundled example (examples/portcullis.yaml)', async () => {
    const report = await runSelftest(await loadConfigFile(path.join(ROOT, 'examples/portcullis.yaml')));
    assert.deepEqual(report.results.filter((r) => r.verdict === 'FAIL'), []);
    assert.ok(report.results.filter((r) => r.verdict === 'pass').length >= 10);
    assert.ok(report.notes.some((n) => n.includes('server.https dropped')));
  });

  it('keeps an https listener whose certificates exist, and probes mtls without a client certificate', async () => {
    const certs = await makeCerts({ server: ['localhost', '127.0.0.1'] });
    try {
      const file = path.join(certs.dir, 'tls.yaml');
      await writeFile(file, `
server:
  https:
    certificates: [{ cert: server.pem, key: server-key.pem }]
    clientCertificates: { ca: ca.pem, mode: required }
  http: { port: 8080 }
authenticators:
  billing: { type: mtls, subjects: ["CN=billing"] }
upstreams:
  app: { targets: ["https://app.internal:443"], protocol: h2 }
routes:
  - name: billing
    match: { path: /billing/* }
    auth: billing
    upstream: app
  - name: health
    match: { path: /health, methods: [GET] }
    auth: public
    upstream: app
`);
      const report = await runSelftest(await loadConfigFile(file));
      assert.deepEqual(report.results.filter((r) => r.verdict === 'FAIL'), []);
      assert.equal(find(report, 'billing', 'auth.mtls')[0]?.verdict, 'pass');
      assert.ok(report.notes.some((n) => n.includes('required → optional')));
      assert.ok(!report.notes.some((n) => n.includes('server.https dropped')));
    } finally {
      await certs.cleanup();
    }
  });

  it('spells the path tricks and judges backend-lenient paths', () => {
    const tricks = pathTricks('/admin/x', '/public/');
    assert.deepEqual(tricks.map((t) => t.path), [
      '//admin/x', '/./admin/x', '/public/%2e%2e/admin/x', '/public/..;/admin/x', '/admin;selftest/x', '/ADMIN/X', '/public/..%2fadmin%2fx',
    ]);
    assert.equal(lenientMatch('/ADMIN/X', '/admin/*'), true);
    assert.equal(lenientMatch('/admin;jsessionid=1/x', '/admin/*'), true);
    assert.equal(lenientMatch('/public/..%2fadmin%2fx', '/admin/*'), true);
    assert.equal(lenientMatch('/public/admin/x', '/admin/*'), false);
    assert.equal(lenientMatch('/orders/7', '/orders/:id'), true);
    assert.equal(lenientMatch('/orders/7/x', '/orders/:id'), false);
  });
});

describe('portcullis selftest (CLI)', () => {
  it('exits 0 on a strong config, 1 on a weak one, with a table or JSON', async () => {
    const ok = await run(['selftest', '--config', strongFile]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^route\s+check\s+attack\s+expected\s+got\s+upstream\?\s+verdict/);
    assert.match(ok.stdout, /PASS: \d+ passed, 0 failed/);
    const bad = await run(['selftest', '--config', weakFile, '--format', 'json']);
    assert.equal(bad.code, 1, bad.stderr);
    const report = JSON.parse(bad.stdout) as SelftestReport;
    assert.equal(report.ok, false);
    assert.ok(report.results.some((r) => r.route === 'internal' && r.check === 'spoof.x-forwarded-for' && r.verdict === 'FAIL'));
  });

  it('exits 2 on bad arguments and 1 on a config that cannot be loaded', async () => {
    const [xml, strict, positional, missing] = await Promise.all([
      run(['selftest', '--config', strongFile, '--format', 'xml']),
      run(['selftest', '--config', strongFile, '--strict']),
      run(['selftest', strongFile]),
      run(['selftest', '--config', path.join(dir, 'nope.yaml')]),
    ]);
    assert.equal(xml.code, 2);
    assert.match(xml.stderr, /--format takes text or json/);
    assert.equal(strict.code, 2);
    assert.equal(positional.code, 2);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read/);
  });
});

describe('POST /selftest (admin API)', () => {
  let server: GatewayServer;
  let adminPort: number;
  before(async () => {
    const file = path.join(dir, 'admin.yaml');
    await writeFile(file, config(false, true).replace('store: { type: redis, redis: { url: "redis://127.0.0.1:1", timeout: 50ms } }', 'store: { type: memory }'));
    const gateway = await buildGateway(await loadConfigFile(file, { ...process.env, ADMIN_TOKEN: TOKEN }));
    server = await GatewayServer.start(gateway, { logger: pino({ level: 'silent' }), accessLog: { write() {}, flush: async () => {} } });
    adminPort = server.admin!.port();
  });
  after(async () => {
    await server.stop(1000);
  });

  it('needs the admin token', async () => {
    const res = await request(`http://127.0.0.1:${adminPort}/selftest`, { method: 'POST' });
    assert.equal(res.statusCode, 401);
    await res.body.dump();
    const get = await request(`http://127.0.0.1:${adminPort}/selftest`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(get.statusCode, 405);
    await get.body.dump();
  });

  it('runs the battery on the running config', async () => {
    const res = await request(`http://127.0.0.1:${adminPort}/selftest`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.statusCode, 200);
    const report = (await res.body.json()) as SelftestReport;
    assert.equal(report.ok, true, JSON.stringify(report.results.filter((r) => r.verdict === 'FAIL')));
    assert.equal(find(report, 'admin', 'auth.jwt').length, 7);
  });
});
