/**
 * The exported JSON Schema (schema/portcullis.schema.json, `npm run schema`): the committed file is
 * exactly what the script generates, editors can use it on real config files, and the defaults it
 * advertises are the ones the code applies.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { SCHEMA_FILE, schemaText } from '../../scripts/export-schema.ts';
import { makeCerts, type CertFiles } from '../../test/helpers/harness.ts';
import { buildGatewayFromText, DEFAULT_LIMITS } from './gateway.ts';
import { ConfigSchema, UNSUPPORTED_KEYWORD } from './schema.ts';
import { parseDuration, parseSize } from './units.ts';
import { Upstream } from '../upstream/upstream.ts';

describe('schema/portcullis.schema.json', () => {
  let editor: ValidateFunction;
  before(async () => {
    const schema = JSON.parse(await readFile(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    // What an editor does: draft-07, unknown annotation keywords ignored.
    const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
    ajv.addKeyword({ keyword: UNSUPPORTED_KEYWORD, schemaType: 'string' });
    editor = ajv.compile(schema);
  });

  it('is what `npm run schema` generates (run it after changing src/config/schema.ts)', async () => {
    assert.equal(await readFile(SCHEMA_FILE, 'utf8'), schemaText());
  });

  it('carries no TypeBox internals', () => {
    const text = schemaText();
    assert.doesNotMatch(text, /TypeBox|"\[Kind\]"|Symbol\(/);
    assert.equal(JSON.parse(text).$schema, 'http://json-schema.org/draft-07/schema#');
  });

  it('accepts the bundled example as written, ${...} references included', async () => {
    const example = parse(await readFile(new URL('../../examples/portcullis.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
    assert.equal(example.$schema, '../schema/portcullis.schema.json');
    assert.equal(editor(example), true, JSON.stringify(editor.errors));
  });

  it('accepts the supported subset of the reference shape', async () => {
    const subset = parse(await readFile(new URL('../../test/fixtures/spec-subset.yaml', import.meta.url), 'utf8'));
    assert.equal(editor(subset), true, JSON.stringify(editor.errors));
  });

  it('flags unknown keys, keys not supported yet and bad values', () => {
    const base = {
      server: { http: { port: 8080 } },
      upstreams: { a: { targets: ['http://127.0.0.1:1'] } },
      routes: [{ name: 'r', match: { path: '/a' }, auth: 'public', upstream: 'a' }],
    };
    assert.equal(editor(base), true, JSON.stringify(editor.errors));
    const errorsOf = (doc: unknown) => (editor(doc) ? [] : [...(editor.errors ?? [])]);
    assert.ok(errorsOf({ ...base, loging: {} }).some((e) => e.keyword === 'additionalProperties' && e.params.additionalProperty === 'loging'));
    assert.equal(editor({ ...base, routes: [{ ...base.routes[0], cors: { origins: ['https://a.example'], methods: ['GET'], credentials: true } }] }), true, JSON.stringify(editor.errors));
    assert.ok(errorsOf({ ...base, routes: [{ ...base.routes[0], cors: { origins: ['https://a.example'], methods: ['get'] } }] }).some((e) => e.instancePath === '/routes/0/cors/methods/0' && e.keyword === 'pattern'));
    assert.ok(errorsOf({ ...base, defaults: { securityHeaders: { referrerPolicy: 'never' } } }).some((e) => e.instancePath.startsWith('/defaults/securityHeaders')));
    assert.ok(errorsOf({ ...base, routes: [{ ...base.routes[0], validate: { contentTypes: ['json'] } }] }).some((e) => e.instancePath === '/routes/0/validate/contentTypes/0' && e.keyword === 'pattern'));
    assert.equal(editor({ ...base, routes: [{ ...base.routes[0], validate: { maxBodyBytes: '1kb', body: { type: 'object' }, errors: 'hidden' } }] }), true, JSON.stringify(editor.errors));
    assert.ok(errorsOf({ ...base, routes: [{ ...base.routes[0], rateLimit: [] }] }).some((e) => e.instancePath === '/routes/0/rateLimit' && e.keyword === 'minItems'));
    assert.ok(errorsOf({ ...base, server: { http: { port: '${PORT' } } }).some((e) => e.instancePath === '/server/http/port'));
    assert.ok(errorsOf({ ...base, server: { http: { port: '8080' } } }).some((e) => e.instancePath === '/server/http/port'));
    assert.equal(editor({ ...base, server: { http: { port: '${PORT:-8080}' } } }), true);
  });

  it('checks authenticators, authorize and transform', () => {
    const jwt = { type: 'jwt', jwksUri: 'https://id.example.com/jwks.json', algorithms: ['RS256'] };
    const route = { name: 'r', match: { path: '/a' }, auth: ['staff-jwt'], upstream: 'a' };
    const base = {
      server: { http: { port: 8080 } },
      authenticators: { 'staff-jwt': jwt },
      upstreams: { a: { targets: ['http://127.0.0.1:1'] } },
      routes: [{ ...route, authorize: { scopes: ['orders:read'] }, transform: { request: { setHeaders: { 'x-consumer-id': '${consumer.id}' } } } }],
    };
    assert.equal(editor(base), true, JSON.stringify(editor.errors));
    const rejects = (doc: unknown, instancePath: string) => {
      assert.equal(editor(doc), false, instancePath);
      assert.ok((editor.errors ?? []).some((e) => e.instancePath === instancePath), `${instancePath}: ${JSON.stringify(editor.errors)}`);
    };
    rejects({ ...base, authenticators: { 'staff-jwt': { ...jwt, algorithms: ['none'] } } }, '/authenticators/staff-jwt/algorithms/0');
    rejects({ ...base, authenticators: { 'staff-jwt': { ...jwt, algorithms: undefined } } }, '/authenticators/staff-jwt');
    rejects({ ...base, authenticators: { 'staff-jwt': { type: 'oauth2' } } }, '/authenticators/staff-jwt/type');
    rejects({ ...base, routes: [{ ...route, transform: { request: { setHeaders: { 'x consumer': 'a' } } } }] }, '/routes/0/transform/request/setHeaders');
    rejects({ ...base, server: { https: { certificates: [{ cert: 'a', key: 'b' }], clientCertificates: { ca: 'ca.pem', mode: 'require' } } } }, '/server/https/clientCertificates/mode');
  });

  it('checks rate limits, brute force and the store', () => {
    const base = {
      server: { http: { port: 8080 } },
      store: { type: 'redis', redis: { url: 'redis://127.0.0.1:6379', timeout: '50ms', onError: 'local', instances: 2 } },
      defaults: { rateLimit: [{ by: 'ip', limit: 50, per: '1s' }], bruteForce: { maxFailures: 20, per: '1m', ban: '10m' } },
      upstreams: { a: { targets: ['http://127.0.0.1:1'] } },
      routes: [
        {
          name: 'r',
          match: { path: '/a' },
          auth: 'public',
          upstream: 'a',
          rateLimit: [
            { by: ['consumer', 'route'], limit: 10, per: '1m', burst: 5, name: 'per-route' },
            { by: 'header:x-tenant', limit: 5, per: '1s', algorithm: 'sliding-window' },
            { by: 'claim:org.id', limit: '${LIMIT}', per: '1h' },
          ],
        },
      ],
    };
    assert.equal(editor(base), true, JSON.stringify(editor.errors));
    const route = base.routes[0] as Record<string, unknown>;
    const rejects = (doc: unknown, instancePath: string) => {
      assert.equal(editor(doc), false, instancePath);
      assert.ok((editor.errors ?? []).some((e) => e.instancePath === instancePath), `${instancePath}: ${JSON.stringify(editor.errors)}`);
    };
    rejects({ ...base, routes: [{ ...route, rateLimit: [{ by: 'ipp', limit: 1, per: '1s' }] }] }, '/routes/0/rateLimit/0/by');
    rejects({ ...base, routes: [{ ...route, rateLimit: [{ by: 'claim:', limit: 1, per: '1s' }] }] }, '/routes/0/rateLimit/0/by');
    rejects({ ...base, routes: [{ ...route, rateLimit: [{ by: 'ip', limit: 0, per: '1s' }] }] }, '/routes/0/rateLimit/0/limit');
    rejects({ ...base, store: { type: 'redis', redis: { url: 'http://x' } } }, '/store/redis/url');
    rejects({ ...base, store: { type: 'redis', redis: { url: 'redis://x:1', onError: 'fail' } } }, '/store/redis/onError');
    rejects({ ...base, defaults: { bruteForce: { maxFailures: 5 } } }, '/defaults/bruteForce');
  });
});

/** The `default` of the schema node at `path` (property names; `*` for a record value, `[]` for items). */
function schemaDefault(path: string): unknown {
  let node = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>;
  for (const seg of path.split('.')) {
    let next: unknown;
    if (seg === '*') next = Object.values(node.patternProperties as Record<string, unknown>)[0];
    else if (seg === '[]') next = node.items;
    else if (seg.startsWith('|')) next = (node.anyOf as Record<string, unknown>[]).find((b) => b.type === 'object');
    else next = (node.properties as Record<string, unknown>)[seg];
    assert.ok(next, `no schema at ${path} (${seg})`);
    node = next as Record<string, unknown>;
  }
  assert.ok('default' in node, `no default at ${path}`);
  return node.default;
}

describe('the defaults the schema advertises are the ones the code applies', () => {
  let certs: CertFiles;
  before(async () => {
    certs = await makeCerts({ api: ['api.example.com'] });
  });
  after(() => certs.cleanup());

  it('for a config that sets nothing optional', async () => {
    const gw = await buildGatewayFromText(
      `
server:
  https:
    certificates: [{ cert: api.pem, key: api-key.pem }]
  http: {}
upstreams:
  a: { targets: ["http://127.0.0.1:1", { url: "http://127.0.0.1:2" }] }
routes:
  - name: r
    match: { path: /a/* }
    auth: public
    upstream: a
`,
      { env: {}, baseDir: certs.dir },
    );
    try {
      const s = gw.settings;
      assert.equal(s.https?.host, schemaDefault('server.https.host'));
      assert.equal(s.https?.port, schemaDefault('server.https.port'));
      assert.equal(s.https?.minVersion, schemaDefault('server.https.minVersion'));
      assert.equal(s.https?.http2, schemaDefault('server.https.http2'));
      const maxAge = parseDuration(schemaDefault('server.https.hsts.|object.maxAge') as string) / 1000;
      assert.equal(s.https?.hsts, `max-age=${maxAge}`);
      assert.equal(schemaDefault('server.https.hsts.|object.includeSubDomains'), false);
      assert.equal(schemaDefault('server.https.hsts.|object.preload'), false);
      assert.equal(s.http?.host, schemaDefault('server.http.host'));
      assert.equal(s.http?.port, schemaDefault('server.http.port'));
      assert.equal(s.http?.redirectToHttps, schemaDefault('server.http.redirectToHttps'));
      assert.deepEqual(schemaDefault('server.trustedProxies'), []);
      assert.equal(s.trustedProxies.empty, true);
      assert.equal(schemaDefault('server.workers'), 1);
      assert.equal(s.via, schemaDefault('server.via'));
      assert.equal(s.shutdownTimeout, parseDuration(schemaDefault('server.shutdownTimeout') as string));
      assert.equal(s.logLevel, schemaDefault('logging.level'));
      assert.equal(s.accessLog, schemaDefault('logging.accessLog'));
      assert.equal(schemaDefault('store.type'), 'memory');
      assert.equal(schemaDefault('metrics.prometheus'), false);
      assert.equal(schemaDefault('tracing.otlpEndpoint'), '');

      const sizes = ['maxHeaderBytes', 'maxUrlBytes', 'maxBodyBytes'] as const;
      const durations = ['headersTimeout', 'requestTimeout', 'keepAliveTimeout'] as const;
      const counts = ['maxHeaders', 'maxConnections', 'maxConnectionsPerIp', 'http2MaxConcurrentStreams'] as const;
      for (const k of sizes) assert.equal(s.limits[k], parseSize(schemaDefault(`server.limits.${k}`) as string), k);
      for (const k of durations) assert.equal(s.limits[k], parseDuration(schemaDefault(`server.limits.${k}`) as string), k);
      for (const k of counts) assert.equal(s.limits[k], schemaDefault(`server.limits.${k}`), k);
      assert.deepEqual(s.limits, DEFAULT_LIMITS);

      const a = gw.upstreams.get('a');
      assert.equal(a?.timeout, parseDuration(schemaDefault('upstreams.*.timeout') as string));
      assert.deepEqual(a?.targets.map((t) => t.weight), [1, 1]);
      assert.equal(schemaDefault('upstreams.*.targets.[].|object.weight'), 1);
      assert.equal(schemaDefault('upstreams.*.balance'), 'round-robin');
      assert.equal(schemaDefault('upstreams.*.connectTimeout'), '5s');
      assert.equal(schemaDefault('upstreams.*.maxConnections'), 128);

      const r = gw.routes[0];
      assert.ok(r?.upstream instanceof Upstream);
      assert.equal(r.stripPrefix, schemaDefault('routes.[].stripPrefix'));
      assert.equal(r.mode, schemaDefault('routes.[].mode'));
      assert.equal(r.maxBodyBytes, DEFAULT_LIMITS.maxBodyBytes);
    } finally {
      await gw.close();
    }
  });
});
