/**
 * The reference configuration shape (test/fixtures/gateway.example.yaml, a verbatim copy of the
 * contract operators write against) against this version:
 * - every key of it is recognised: the full file fails only with "not supported yet" errors at the
 *   keys later releases own, never with "unknown key";
 * - the supported part of it (test/fixtures/spec-subset.yaml) builds, and covers every supported key.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, parseDocument } from 'yaml';
import { makeCerts, type CertFiles } from '../../test/helpers/harness.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';
import { buildGatewayFromFile, buildGatewayFromText, type VersionSelector } from './gateway.ts';
import type { AbuseGuardStage } from '../stages/abuse-guard/abuse-guard.ts';
import type { RateLimitStage } from '../stages/rate-limit/rate-limit.ts';
import { Upstream } from '../upstream/upstream.ts';
import { TrafficSplit } from '../upstream/split.ts';

const FIXTURES = new URL('../../test/fixtures/', import.meta.url);
const NOT_YET = /not supported yet in this version of Portcullis/;
/** The reference file's ${...} references. */
const ENV = { PORTCULLIS_ADMIN_TOKEN: 'admin-token-0123456789abcdefghij', INTROSPECTION_SECRET: 'introspection-secret' };

async function issuesOf(text: string, baseDir: string): Promise<ConfigIssue[]> {
  try {
    const gw = await buildGatewayFromText(text, { env: ENV, baseDir });
    await gw.close();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

/** `routes[2].upstream.split` → ['routes', 2, 'upstream', 'split'] */
function segmentsOf(p: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const m of p.matchAll(/([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3] as string) as string);
  }
  return out;
}

/** Key paths of a parsed document, lists as [] and names of upstreams / versions as *: `routes[].match.path`. */
function keyPaths(node: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) keyPaths(item, `${prefix}[]`, out);
  } else if (node !== null && typeof node === 'object') {
    const named = prefix === 'upstreams' || prefix.endsWith('.map');
    for (const [k, v] of Object.entries(node)) {
      const p = named ? `${prefix}.*` : prefix ? `${prefix}.${k}` : k;
      out.add(p);
      keyPaths(v, p, out);
    }
  }
  return out;
}

const normalise = (issuePath: string): string =>
  issuePath.replace(/\[\d+\]/g, '[]').replace(/^upstreams\.[^.]+/, 'upstreams.*');

/** Every issue at the keys later releases own; the schema phase (none left: signatures are supported). */
const SCHEMA_PHASE: string[] = [];

/** Values the schema accepts but this version cannot honour yet; the build phase (none left). */
const BUILD_PHASE: string[] = [];

describe('the reference configuration shape', () => {
  let certs: CertFiles;
  let dir: string;
  let reference: string;
  before(async () => {
    reference = await readFile(new URL('gateway.example.yaml', FIXTURES), 'utf8');
    certs = await makeCerts({
      'api.example.com': ['api.example.com'],
      'partners.example.com': ['partners.example.com', '*.partners.example.com'],
    });
    // Lay out certs/ next to the config, as both files reference them (relative to the config file).
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-spec-'));
    await mkdir(path.join(dir, 'certs'));
    for (const name of ['api.example.com', 'partners.example.com']) {
      await copyFile(path.join(certs.dir, `${name}.pem`), path.join(dir, 'certs', `${name}.pem`));
      await copyFile(path.join(certs.dir, `${name}-key.pem`), path.join(dir, 'certs', `${name}-key.pem`));
    }
    // server.https.clientCertificates.ca of both files: the CA that issues client certificates.
    await copyFile(certs.caFile, path.join(dir, 'certs', 'clients-ca.pem'));
    // upstreams.orders-v2.tls of the reference file: the CA of the backends and the gateway's client certificate.
    await copyFile(certs.caFile, path.join(dir, 'certs', 'internal-ca.pem'));
    await copyFile(path.join(certs.dir, 'api.example.com.pem'), path.join(dir, 'certs', 'gateway-client.pem'));
    await copyFile(path.join(certs.dir, 'api.example.com-key.pem'), path.join(dir, 'certs', 'gateway-client-key.pem'));
    // defaults.ipFilter.denyFile of both files: a feed in the Spamhaus DROP format.
    await mkdir(path.join(dir, 'feeds'));
    await writeFile(path.join(dir, 'feeds', 'drop.txt'), '; Spamhaus DROP List\n1.10.16.0/20 ; SBL256894\n');
    // routes[].validate of both files: the OpenAPI document and the JSON Schema they name.
    for (const file of ['specs/orders.openapi.yaml', 'schemas/catalog-query.json']) {
      await mkdir(path.join(dir, path.dirname(file)), { recursive: true });
      await copyFile(new URL(file, FIXTURES), path.join(dir, file));
    }
    await copyFile(new URL('spec-subset.yaml', FIXTURES), path.join(dir, 'portcullis.yaml'));
    // authenticators.partner-signatures.keys of both files: the partners' public keys (RFC 9421 §B.1.4 test key).
    await mkdir(path.join(dir, 'keys'));
    await writeFile(path.join(dir, 'keys', 'partners.jwks.json'), JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'test-key-ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' }],
    }));
  });
  after(async () => {
    await certs.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('recognises every key: the full file fails only with "not supported yet", at the keys later releases own', async () => {
    const issues = await issuesOf(reference, dir);
    for (const i of issues) {
      assert.doesNotMatch(i.message, /unknown key/, `${i.path}: ${i.message}`);
      assert.match(i.message, NOT_YET, `${i.path}: ${i.message}`);
    }
    assert.deepEqual(issues.map((i) => i.path).sort(), [...SCHEMA_PHASE].sort());
  });

  it('without those keys, the file builds (admin listener, metrics and all)', async () => {
    const doc = parseDocument(reference);
    for (const p of SCHEMA_PHASE) doc.deleteIn(segmentsOf(p));
    const issues = await issuesOf(doc.toString(), dir);
    for (const i of issues) assert.match(i.message, NOT_YET, `${i.path}: ${i.message}`);
    assert.deepEqual(issues.map((i) => i.path).sort(), [...BUILD_PHASE].sort());
  });

  it('the supported subset builds, from its file, with relative certificate paths', async () => {
    const gw = await buildGatewayFromFile(path.join(dir, 'portcullis.yaml'), ENV);
    try {
      const s = gw.settings;
      assert.equal(s.https?.port, 8443);
      assert.deepEqual(s.admin, { host: '127.0.0.1', port: 9901, token: ENV.PORTCULLIS_ADMIN_TOKEN });
      assert.equal(s.metrics, true);
      assert.deepEqual(s.tracing, { endpoint: '', sampleRatio: 1, serviceName: 'portcullis' });
      assert.equal(s.https?.host, '0.0.0.0');
      assert.equal(s.https?.minVersion, 'TLSv1.2');
      assert.equal(s.https?.http2, true);
      assert.equal(s.https?.clientCertificates?.required, false);
      assert.equal(s.https?.clientCertificates?.ca, await readFile(certs.caFile, 'utf8'));
      assert.deepEqual(s.https?.sni.entries.map((e) => e.names), [['api.example.com'], ['partners.example.com', '*.partners.example.com']]);
      assert.deepEqual(s.http, { host: '0.0.0.0', port: 8080, redirectToHttps: true });
      assert.equal(s.trustedProxies.has('10.20.30.40'), true);
      assert.equal(s.trustedProxies.has('192.0.2.1'), false);
      assert.deepEqual(s.limits, {
        maxHeaderBytes: 16 * 1024,
        maxHeaders: 100,
        maxUrlBytes: 8 * 1024,
        maxBodyBytes: 1024 * 1024,
        headersTimeout: 10_000,
        requestTimeout: 30_000,
        keepAliveTimeout: 5_000,
        maxConnections: 10_000,
        maxConnectionsPerIp: 256,
        http2MaxConcurrentStreams: 100,
      });
      assert.equal(s.logLevel, 'info');
      assert.equal(s.accessLog, 'stdout');

      assert.deepEqual([...gw.upstreams.keys()], ['orders-v1', 'orders-v2']);
      const v1 = gw.upstreams.get('orders-v1');
      assert.deepEqual(v1?.targets.map((t) => [t.origin, t.weight]), [['http://127.0.0.1:9001', 1], ['http://127.0.0.1:9002', 2]]);
      assert.equal(v1?.timeout, 10_000);
      assert.equal(v1?.retries, 1);
      assert.equal(v1?.breaker?.state, 'closed');
      assert.equal(v1?.healthCheckers.length, 2);
      assert.equal(gw.upstreams.get('orders-v2')?.targets[0]?.origin, 'https://orders-v2.internal:9443');

      assert.deepEqual(gw.routes.map((r) => r.name), ['orders-read', 'orders-create', 'catalog', 'health']);
      const read = gw.routes[0];
      assert.ok(read && !(read.upstream instanceof Upstream));
      const sel = read.upstream as VersionSelector;
      assert.equal(sel.header, 'api-version');
      assert.equal(sel.fallback?.name, 'orders-v1');
      assert.deepEqual([...sel.map].map(([k, u]) => [k, u.name]), [['1', 'orders-v1'], ['2', 'orders-v2']]);
      assert.equal(read.mode, 'enforce');
      // The fixed order: abuse guard, pre-auth limit (defaults' `by: ip`), authenticate, authorize, identity limits.
      assert.deepEqual(read.stages.map((st) => st.name), ['abuse-guard', 'pre-auth-limit', 'authenticate', 'authorize', 'rate-limit', 'threats']);
      const policyOf = (st: unknown) => (st as RateLimitStage).policyHeader;
      assert.equal(policyOf(read.stages[1]), '"default-0";q=50;w=1');
      assert.equal(policyOf(read.stages[4]), '"orders-read-0";q=1000;w=60, "orders-read-1";q=100000;w=86400');
      assert.deepEqual((read.stages[0] as AbuseGuardStage).guard.settings, { maxFailures: 20, windowMs: 60_000, banMs: 600_000, byIp: true, byCredential: true });
      assert.equal(gw.store.kind, 'memory');
      assert.deepEqual(read.transform?.requestSet.map(([name]) => name), ['x-consumer-id', 'x-user-sub']);
      assert.deepEqual([...(read.transform?.requestDrop ?? [])].sort(), ['cookie', 'x-consumer-id', 'x-user-sub']);
      assert.deepEqual([...(read.transform?.responseDrop ?? [])].sort(), ['server', 'x-powered-by']);
      // defaults.cors on every route without its own, narrowed to its methods; catalog's own replaces it.
      assert.deepEqual([...(read.cors?.origins ?? [])], ['https://app.example.com']);
      assert.deepEqual([read.cors?.allowMethods, read.cors?.credentials], ['GET, HEAD', false]);
      const [create, catalog, health] = gw.routes.slice(1);
      // The reference's weighted split (90 / 10), as the subset has it.
      assert.ok(catalog?.upstream instanceof TrafficSplit);
      assert.deepEqual([catalog.cors?.allowMethods, catalog.cors?.credentials], ['GET, POST', true]);
      assert.deepEqual((catalog.upstream as TrafficSplit).members.map((m) => [m.upstream.name, m.weight]), [['orders-v1', 90], ['orders-v2', 10]]);
      // No own rateLimit and no identity entries in the defaults: the ip guard only.
      // validate last: the media type on the head, then (the body read, up to the route's 64kb) the body.
      assert.deepEqual(create?.stages.map((st) => st.name), ['abuse-guard', 'pre-auth-limit', 'authenticate', 'authorize', 'content-type', 'validate', 'threats']);
      assert.deepEqual([create?.bodyStage, create?.needsBody, create?.maxBodyBytes], [5, true, 64 * 1024]);
      assert.deepEqual(catalog?.stages.map((st) => st.name), ['abuse-guard', 'pre-auth-limit', 'authenticate', 'concurrency', 'validate', 'threats']);
      assert.deepEqual([catalog?.bodyStage, catalog?.needsBody, catalog?.maxBodyBytes], [4, true, 1024 * 1024]);
      // defaults.threats (body inspection on) is the first stage of the read route that needs the body.
      assert.deepEqual([read.bodyStage, read.needsBody], [5, true]);
      // A public route is guarded too: a banned or flooding IP is refused everywhere.
      assert.deepEqual(health?.stages.map((st) => st.name), ['abuse-guard', 'pre-auth-limit', 'threats']);
      // defaults.ipFilter on every route (none has its own), and for requests no route matches.
      assert.deepEqual(gw.routes.map((r) => r.ipFilter.map((st) => st.name)), [['ip-filter'], ['ip-filter'], ['ip-filter'], ['ip-filter']]);
      assert.deepEqual(gw.ipFilter.map((st) => st.name), ['ip-filter']);

      const m = gw.router.match('api.example.com', '/orders/42', 'GET');
      assert.equal(m.kind === 'match' && m.match.route.name, 'orders-read');
      const post = gw.router.match('api.example.com', '/orders', 'POST');
      assert.equal(post.kind === 'match' && post.match.route.name, 'orders-create');
    } finally {
      await gw.close();
    }
  });

  it('the subset holds every key of the reference that is not owned by a later release', async () => {
    const full = keyPaths(parse(reference));
    const subset = keyPaths(parse(await readFile(new URL('spec-subset.yaml', FIXTURES), 'utf8')));
    const later = SCHEMA_PHASE.map(normalise);
    const expected = [...full].filter((k) => !later.some((l) => k === l || k.startsWith(`${l}.`) || k.startsWith(`${l}[`)));
    assert.deepEqual(expected.filter((k) => !subset.has(k)), []);
    assert.deepEqual([...subset].filter((k) => !full.has(k)), [], 'the subset invents no keys');
  });

  it("the subset takes the reference's authenticators, route auth, authorize, rate limits, brute force and transform as they are", async () => {
    type Doc = {
      authenticators: Record<string, unknown>;
      routes: Record<string, unknown>[];
      server: { https: Record<string, unknown> };
      defaults: Record<string, unknown>;
      store: unknown;
    };
    const full = parse(reference) as Doc;
    const subset = parse(await readFile(new URL('spec-subset.yaml', FIXTURES), 'utf8')) as Doc;
    assert.deepEqual(subset.authenticators, full.authenticators);
    assert.deepEqual(subset.server.https.clientCertificates, full.server.https.clientCertificates);
    const pick = (r: Record<string, unknown>) => ({ auth: r.auth, authorize: r.authorize, rateLimit: r.rateLimit, transform: r.transform, validate: r.validate, cors: r.cors });
    assert.deepEqual(subset.routes.map(pick), full.routes.map(pick));
    assert.deepEqual(subset.defaults.rateLimit, full.defaults.rateLimit);
    assert.deepEqual(subset.defaults.bruteForce, full.defaults.bruteForce);
    assert.deepEqual(subset.defaults.ipFilter, full.defaults.ipFilter);
    assert.deepEqual(subset.defaults.cors, full.defaults.cors);
    assert.deepEqual(subset.store, full.store);
  });
});
