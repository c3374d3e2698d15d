/**
 * `portcullis import-openapi`, run as a real process: the printed routes parse, pass the gateway's
 * own `validate` command inside a minimal config, and serve requests validated by the document.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { cli as run, ROOT, type Run } from '../helpers/cli.ts';
import { plainConfig, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

const ORDERS = path.join(ROOT, 'test', 'fixtures', 'openapi', 'orders.yaml');
const STORE = path.join(ROOT, 'test', 'fixtures', 'openapi', 'store.json');

const cli = (args: string[], cwd = ROOT): Promise<Run> => run(args, { cwd });

interface Route {
  name: string;
  match: { path: string; methods: string[] };
  auth: string | string[];
  upstream: string;
  validate: { openapi: string };
}

/** A minimal config around the printed routes: the upstream and the authenticator they name. */
function configWith(routes: Route[]): string {
  return stringify({
    server: { http: { host: '127.0.0.1', port: 0, redirectToHttps: false } },
    logging: { level: 'silent', accessLog: 'off' },
    authenticators: { staff: { type: 'apiKey', consumers: [{ id: 'acme', keyHash: `sha256:${'ab'.repeat(32)}` }] } },
    upstreams: { orders: { targets: ['http://127.0.0.1:9001'] }, pets: { targets: ['http://127.0.0.1:9002'] } },
    routes,
  });
}

describe('portcullis import-openapi', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-import-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prints one route per operation that the gateway accepts (OpenAPI 3.0 YAML)', async () => {
    const r = await cli(['import-openapi', ORDERS, '--upstream', 'orders']);
    assert.equal(r.code, 0, r.stderr);
    const routes = parse(r.stdout) as Route[];
    const byName = new Map(routes.map((x) => [x.name, x]));
    assert.deepEqual(byName.get('getOrder'), {
      name: 'getOrder',
      match: { path: '/v1/orders/:id', methods: ['GET'] },
      auth: 'staff',
      upstream: 'orders',
      validate: { openapi: ORDERS },
    });
    assert.equal(byName.get('createCustomer')?.auth, 'public', 'security: [] is public');
    assert.deepEqual(byName.get('patch-orders-id-notes')?.match, { path: '/v1/orders/:id/notes', methods: ['PATCH'] }, 'no operationId: method and path');
    assert.equal(byName.get('slashy')?.match.path, '/v1/slash/*');
    assert.equal(routes.filter((x) => x.match.path.startsWith('/v1/files/')).length, 1, 'two templates the router cannot tell apart share a route');

    const config = path.join(dir, 'orders-gw.yaml');
    await writeFile(config, configWith(routes));
    const v = await cli(['validate', '--config', config]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`valid \\(${routes.length} routes`));
  });

  it('OpenAPI 3.1 JSON without security needs --auth', async () => {
    const refused = await cli(['import-openapi', STORE, '--upstream', 'pets']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /GET \/pets declares no security.*--auth/);

    const r = await cli(['import-openapi', 'test/fixtures/openapi/store.json', '--upstream', 'pets', '--auth', 'public']);
    assert.equal(r.code, 0, r.stderr);
    const routes = parse(r.stdout) as Route[];
    assert.deepEqual(routes.map((x) => `${x.match.methods.join()} ${x.match.path}`), ['GET /v2/pets', 'POST /v2/pets', 'GET /v2/pets/:petId', 'PUT /v2/nodes']);
    assert.ok(routes.every((x) => x.validate.openapi === 'test/fixtures/openapi/store.json' && x.auth === 'public'));
    // validate.openapi is the path as given: the config resolves it against its own directory.
    await mkdir(path.join(dir, 'test', 'fixtures', 'openapi'), { recursive: true });
    for (const f of ['store.json', 'common.yaml']) await copyFile(path.join(ROOT, 'test', 'fixtures', 'openapi', f), path.join(dir, 'test', 'fixtures', 'openapi', f));
    await writeFile(path.join(dir, 'pets-gw.yaml'), configWith(routes));
    const v = await cli(['validate', '--config', 'pets-gw.yaml'], dir);
    assert.equal(v.code, 0, v.stderr);
  });

  it('a document the gateway would refuse is refused with the file and pointer', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'openapi: 3.0.3\ninfo: { title: t, version: "1" }\npaths:\n  /a/{id}:\n    get: {}\n');
    const r = await cli(['import-openapi', bad, '--auth', 'public']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}#/paths/~1a~1\\{id\\}/get: the path template's \\{id\\} has no path parameter`));
  });

  it('usage errors exit 2', async () => {
    assert.equal((await cli(['import-openapi'])).code, 2);
    assert.equal((await cli(['import-openapi', ORDERS, ORDERS])).code, 2);
    assert.equal((await cli(['import-openapi', ORDERS, '--upstream', 'no spaces'])).code, 2);
    const misplaced = await cli(['validate', '--upstream', 'x']);
    assert.equal(misplaced.code, 2);
    assert.match(misplaced.stderr, /--upstream belongs to "portcullis import-openapi"/);
    assert.match((await cli(['--help'])).stdout, /portcullis import-openapi FILE \[--upstream NAME\] \[--auth NAME\]/);
  });
});

describe('imported routes in a running gateway', () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    const r = await cli(['import-openapi', ORDERS, '--upstream', 'backend', '--auth', 'public']);
    assert.equal(r.code, 0, r.stderr);
    const routes = (parse(r.stdout) as Route[]).map((x) => `  - ${JSON.stringify(x)}`).join('\n');
    gw = await startGateway(plainConfig(upstream.url, routes));
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const post = (body: string): Promise<Response> =>
    fetch(`http://127.0.0.1:${gw.httpPort}/v1/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('a valid body reaches the upstream', async () => {
    const res = await post(JSON.stringify({ status: 'open', items: [{ sku: 'ABC-123', qty: 2 }] }));
    assert.equal(res.status, 200, await res.clone().text());
    await res.arrayBuffer();
  });

  it('an invalid body is answered 400 with the pointer', async () => {
    const res = await post(JSON.stringify({ status: 'open', items: [{ sku: 'ABC-123', qty: 0 }] }));
    assert.equal(res.status, 400);
    const problem = (await res.json()) as { errors?: { pointer: string }[] };
    assert.deepEqual(problem.errors?.map((e) => e.pointer), ['/items/0/qty']);
  });

  it('an invalid path parameter is answered 400', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/v1/orders/abc`);
    assert.equal(res.status, 400);
    const problem = (await res.json()) as { errors?: { pointer: string }[] };
    assert.deepEqual(problem.errors?.map((e) => e.pointer), ['#/path/id']);
  });
});
