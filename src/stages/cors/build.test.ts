import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue } from '../../config/errors.ts';
import { buildGatewayFromText } from '../../config/gateway.ts';
import { compileCors } from './build.ts';
import { originAllowed } from './cors.ts';

function config(routeCors: string, defaults = '', methods = '[GET, POST]'): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
${defaults}
upstreams:
  backend: { targets: ["http://127.0.0.1:1"] }
routes:
  - name: a
    match: { path: /a, methods: ${methods} }
    auth: public
    upstream: backend
${routeCors}
  - name: b
    match: { path: /b }
    auth: public
    upstream: backend
`;
}

async function issuesOf(yaml: string): Promise<ConfigIssue[]> {
  try {
    const gw = await buildGatewayFromText(yaml);
    await gw.close();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

describe('cors: config errors at their exact path', () => {
  const cases: { name: string; yaml: string; expect: [string, string][] }[] = [
    {
      name: '"*" with credentials',
      yaml: config('    cors: { origins: ["*"], credentials: true }'),
      expect: [['routes[0].cors.origins[0]', '"*" cannot be combined with credentials: true']],
    },
    {
      name: '"*" next to other origins',
      yaml: config('    cors: { origins: ["https://a.example", "*"] }'),
      expect: [['routes[0].cors.origins[1]', '"*" allows every origin; list nothing else next to it']],
    },
    {
      name: 'origins a browser never sends',
      yaml: config('    cors: { origins: ["null", "https://App.example.com", "https://a.example/", "https://a.example:443", "a.example", "https://a*.example.com", "https://*.com", "https://a.example", "https://a.example"] }'),
      expect: [
        ['routes[0].cors.origins[0]', '"null" is the origin of sandboxed documents'],
        ['routes[0].cors.origins[1]', 'must be lower-case, as browsers send it: "https://app.example.com"'],
        ['routes[0].cors.origins[2]', 'an origin has no path, query or trailing "/": "https://a.example"'],
        ['routes[0].cors.origins[3]', 'browsers omit the default port: write "https://a.example"'],
        ['routes[0].cors.origins[4]', 'is not an origin'],
        ['routes[0].cors.origins[5]', '"*" is allowed only as the first label'],
        ['routes[0].cors.origins[6]', 'is too broad'],
        ['routes[0].cors.origins[8]', 'is listed twice'],
      ],
    },
    {
      name: "a route's cors.methods outside its match.methods",
      yaml: config('    cors: { origins: ["https://a.example"], methods: [GET, DELETE] }'),
      expect: [['routes[0].cors.methods[1]', '"DELETE" is not in match.methods of this route']],
    },
    {
      name: 'defaults.cors: reported once at its own path, not per route',
      yaml: config('', 'defaults:\n  cors: { origins: ["*"], credentials: true }'),
      expect: [['defaults.cors.origins[0]', '"*" cannot be combined with credentials: true']],
    },
    {
      name: 'schema: a lower-case method, a bad header name, maxAge not a duration, an unknown key',
      yaml: config('    cors: { origins: ["https://a.example"], methods: [get], headers: ["x y"], maxAge: forever, credential: true }'),
      expect: [
        ['routes[0].cors.credential', 'unknown key (did you mean "credentials"?)'],
        ['routes[0].cors.headers[0]', 'is not a valid header name'],
        ['routes[0].cors.maxAge', 'must be a duration'],
        ['routes[0].cors.methods[0]', 'must be an upper-case HTTP method'],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const issues = await issuesOf(c.yaml);
      assert.deepEqual(issues.map((i) => i.path).sort(), c.expect.map(([p]) => p).sort(), JSON.stringify(issues));
      for (const [p, text] of c.expect) {
        const issue = issues.find((i) => i.path === p);
        assert.ok(issue?.message.includes(text), `${p}: ${issue?.message} should include ${text}`);
      }
    });
  }

  it('route cors replaces the defaults; cors: false turns them off; defaults narrowed to the route methods', async () => {
    const gw = await buildGatewayFromText(
      config(
        '    cors: { origins: ["https://a.example"], methods: [GET], headers: [Authorization], exposeHeaders: [X-Total], credentials: true, maxAge: 90s }',
        'defaults:\n  cors: { origins: ["https://d.example"], methods: [GET, PUT, POST] }',
      ).replace('    upstream: backend\n`', '') + '    cors: false\n  - name: c\n    match: { path: /c, methods: [POST] }\n    auth: public\n    upstream: backend\n',
    );
    try {
      const [a, b, c] = gw.routes;
      assert.deepEqual([...(a?.cors?.origins ?? [])], ['https://a.example']);
      assert.equal(a?.cors?.allowMethods, 'GET');
      assert.equal(a?.cors?.allowHeaders, 'Authorization');
      assert.deepEqual([...(a?.cors?.headers ?? [])], ['authorization']);
      assert.equal(a?.cors?.exposeHeaders, 'X-Total');
      assert.equal(a?.cors?.credentials, true);
      assert.equal(a?.cors?.maxAge, '90');
      assert.equal(b?.cors, undefined);
      assert.deepEqual([...(c?.cors?.origins ?? [])], ['https://d.example']);
      assert.equal(c?.cors?.allowMethods, 'POST');
    } finally {
      await gw.close();
    }
  });

  it('without cors.methods: the route methods (GET implies HEAD), else GET, HEAD, POST', () => {
    assert.equal(compileCors({ origins: ['https://a.example'] }, 'x', ['GET', 'DELETE'], false, []).allowMethods, 'GET, DELETE, HEAD');
    assert.equal(compileCors({ origins: ['https://a.example'] }, 'x', undefined, false, []).allowMethods, 'GET, HEAD, POST');
  });
});

describe('origin matching', () => {
  const cors = compileCors(
    { origins: ['https://app.example.com', 'https://*.example.org', 'http://*.local.test:8080', 'http://[::1]:3000'] },
    'x',
    undefined,
    false,
    [],
  );
  const table: [string, boolean][] = [
    ['https://app.example.com', true],
    ['https://app.example.com:443', false],
    ['https://app.example.comx', false],
    ['https://xapp.example.com', false],
    ['https://a.example.org', true],
    ['https://a.b.example.org', true],
    ['https://example.org', false],
    ['https://.example.org', false],
    ['https://a..example.org', false],
    ['https://a.example.org.evil', false],
    ['https://evil.com/.example.org', false],
    ['https://evil.com?.example.org', false],
    ['http://a.example.org', false],
    ['https://A.example.org', false],
    ['http://dev.local.test:8080', true],
    ['http://dev.local.test', false],
    ['http://dev.local.test:80800', false],
    ['http://[::1]:3000', true],
    ['null', false],
    ['', false],
  ];
  for (const [origin, allowed] of table) {
    it(`${JSON.stringify(origin)}: ${allowed}`, () => assert.equal(originAllowed(cors, origin), allowed));
  }
});
