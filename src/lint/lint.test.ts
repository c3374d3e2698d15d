/**
 * The lint rules, table-driven: each rule with a config that triggers it at the expected path and a
 * close config that does not. Configs are the clean BASE changed by one function, built the normal
 * way (parseConfigText → buildGateway), so every case is a valid config.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { buildGateway } from '../config/gateway.ts';
import { parseConfigText } from '../config/load.ts';
import { parsePathPattern, type PathPattern } from '../routing/router.ts';
import { overlapWitness } from './overlap.ts';
import { lint, RULES, type Finding } from './rules.ts';

/** Free-form YAML data for the cases (the build validates it). */
type Config = Record<string, any>;

const BASE: Config = {
  server: { http: { host: '127.0.0.1', port: 0, redirectToHttps: false } },
  logging: { level: 'silent', accessLog: 'off' },
  defaults: { threats: { mode: 'block' }, rateLimit: [{ by: 'ip', limit: 100, per: '1s' }] },
  upstreams: { u: { targets: ['http://127.0.0.1:9001'] } },
  routes: [{ name: 'items', match: { path: '/items/*' }, auth: 'public', upstream: 'u' }],
};

const ENV = {
  ADMIN_TOKEN: 'a'.repeat(32),
  // 64 hex characters: 64 bytes (the build's HS512 minimum) but 32 bytes of key.
  HEX_64: '0123456789abcdef'.repeat(4),
  // 32 hex characters: passes HS256's 32-byte minimum, 16 bytes of key.
  HEX_32: '00112233445566778899aabbccddeeff',
  // `openssl rand -base64 64` shape: 88 characters, 64 bytes of key.
  B64_64: `${'Qk5x'.repeat(21)}ab==`,
  // `openssl rand -base64 32` shape: 44 characters, 32 bytes of key.
  B64_32: `${'Qk5x'.repeat(10)}abc=`,
  INTRO_SECRET: 'client-secret',
};

async function findings(mutate: (c: Config) => void): Promise<Finding[]> {
  const config = structuredClone(BASE);
  mutate(config);
  const loaded = parseConfigText(stringify(config), { env: ENV });
  const gateway = await buildGateway(loaded);
  try {
    return lint({ raw: loaded.raw, envPaths: loaded.envPaths, gateway });
  } finally {
    await gateway.close();
  }
}

const keys = { type: 'apiKey', consumers: [] };
const route = (name: string, path: string, extra: Config = {}): Config => ({ name, match: { path }, auth: 'public', upstream: 'u', ...extra });

interface Case {
  name: string;
  rule: string;
  mutate: (c: Config) => void;
  /** Paths of the rule's findings; [] for the close config that must not trigger it. */
  expect: string[];
}

const CASES: Case[] = [
  // public-route-next-to-protected
  {
    name: 'public prefix over a protected parameter route',
    rule: 'public-route-next-to-protected',
    mutate: (c) => {
      c.authenticators = { keys };
      c.routes.push(route('orders-public', '/orders/*'), route('order', '/orders/:id', { auth: 'keys' }));
    },
    expect: ['routes[1].auth'],
  },
  {
    name: 'public exact path inside a protected prefix (same prefix)',
    rule: 'public-route-next-to-protected',
    mutate: (c) => {
      c.authenticators = { keys };
      c.routes.push(route('orders', '/orders/*', { auth: ['keys'] }), route('orders-list', '/orders'));
    },
    expect: ['routes[2].auth'],
  },
  {
    name: 'close: the same paths with disjoint methods (public reads, protected writes)',
    rule: 'public-route-next-to-protected',
    mutate: (c) => {
      c.authenticators = { keys };
      c.routes.push(
        route('orders-public', '/orders/*', { match: { path: '/orders/*', methods: ['GET'] } }),
        route('order', '/orders/:id', { auth: 'keys', match: { path: '/orders/:id', methods: ['POST', 'DELETE'] } }),
      );
    },
    expect: [],
  },
  {
    name: 'close: public and protected routes on paths that share no request',
    rule: 'public-route-next-to-protected',
    mutate: (c) => {
      c.authenticators = { keys };
      c.routes.push(route('status', '/status'), route('order', '/orders/:id', { auth: 'keys' }));
    },
    expect: [],
  },
  {
    name: 'close: the same paths on different hosts',
    rule: 'public-route-next-to-protected',
    mutate: (c) => {
      c.authenticators = { keys };
      c.routes.push(
        route('www', '/orders/*', { match: { host: 'www.example.com', path: '/orders/*' } }),
        route('api', '/orders/:id', { auth: 'keys', match: { host: 'api.example.com', path: '/orders/:id' } }),
      );
    },
    expect: [],
  },
  // jwt-without-audience
  {
    name: 'jwt without audience',
    rule: 'jwt-without-audience',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', secret: '${B64_32}', algorithms: ['HS256'] } }),
    expect: ['authenticators.idp.audience'],
  },
  {
    name: 'close: jwt with audience',
    rule: 'jwt-without-audience',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', secret: '${B64_32}', algorithms: ['HS256'], audience: 'api' } }),
    expect: [],
  },
  // jwt-hs-short-secret
  {
    name: 'HS512 with a 64-character hex secret (32 bytes of key)',
    rule: 'jwt-hs-short-secret',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', secret: '${HEX_64}', algorithms: ['HS512'], audience: 'api' } }),
    expect: ['authenticators.idp.secret'],
  },
  {
    name: 'HS256 with a 32-character hex secret (16 bytes of key)',
    rule: 'jwt-hs-short-secret',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', secret: '${HEX_32}', algorithms: ['HS256'], audience: 'api' } }),
    expect: ['authenticators.idp.secret'],
  },
  {
    name: 'close: HS512 with 64 random bytes in base64',
    rule: 'jwt-hs-short-secret',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', secret: '${B64_64}', algorithms: ['HS512'], audience: 'api' } }),
    expect: [],
  },
  {
    name: 'close: HS256 with the 64-character hex secret',
    rule: 'jwt-hs-short-secret',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', secret: '${HEX_64}', algorithms: ['HS256'], audience: 'api' } }),
    expect: [],
  },
  // api-key-in-query
  {
    name: 'apiKey in the query',
    rule: 'api-key-in-query',
    mutate: (c) => (c.authenticators = { keys: { ...keys, in: 'query', name: 'key' } }),
    expect: ['authenticators.keys.in'],
  },
  {
    name: 'close: apiKey in a header',
    rule: 'api-key-in-query',
    mutate: (c) => (c.authenticators = { keys: { ...keys, in: 'header' } }),
    expect: [],
  },
  // cors-credentials-wildcard
  {
    name: 'credentials with a wildcard-host origin',
    rule: 'cors-credentials-wildcard',
    mutate: (c) => (c.defaults.cors = { origins: ['https://app.example.com', 'https://*.example.com'], credentials: true }),
    expect: ['defaults.cors.origins[1]'],
  },
  {
    name: 'credentials with many origins on a route',
    rule: 'cors-credentials-wildcard',
    mutate: (c) => (c.routes[0].cors = { origins: Array.from({ length: 11 }, (_, i) => `https://app${i}.example.com`), credentials: true }),
    expect: ['routes[0].cors.origins'],
  },
  {
    name: 'close: a wildcard-host origin without credentials, and ten exact origins with',
    rule: 'cors-credentials-wildcard',
    mutate: (c) => {
      c.defaults.cors = { origins: ['https://*.example.com'] };
      c.routes[0].cors = { origins: Array.from({ length: 10 }, (_, i) => `https://app${i}.example.com`), credentials: true };
    },
    expect: [],
  },
  // admin-off-loopback
  {
    name: 'admin API on every interface',
    rule: 'admin-off-loopback',
    mutate: (c) => (c.server.admin = { host: '0.0.0.0', port: 0, token: '${ADMIN_TOKEN}' }),
    expect: ['server.admin.host'],
  },
  {
    name: 'close: admin API on loopback',
    rule: 'admin-off-loopback',
    mutate: (c) => (c.server.admin = { host: '127.0.0.1', port: 0, token: '${ADMIN_TOKEN}' }),
    expect: [],
  },
  // retries-non-idempotent
  {
    name: 'POST route with retryNonIdempotent on an upstream with retries',
    rule: 'retries-non-idempotent',
    mutate: (c) => {
      c.upstreams.u.retries = 2;
      c.routes[0] = route('pay', '/pay', { match: { path: '/pay', methods: ['POST'] }, retryNonIdempotent: true });
    },
    expect: ['routes[0].retryNonIdempotent'],
  },
  {
    name: 'close: POST route on an upstream with retries, without retryNonIdempotent',
    rule: 'retries-non-idempotent',
    mutate: (c) => {
      c.upstreams.u.retries = 2;
      c.routes[0] = route('pay', '/pay', { match: { path: '/pay', methods: ['POST'] } });
    },
    expect: [],
  },
  // insecure-skip-verify
  {
    name: 'upstream TLS without verification',
    rule: 'insecure-skip-verify',
    mutate: (c) => (c.upstreams.u = { targets: ['https://127.0.0.1:9443'], tls: { insecureSkipVerify: true } }),
    expect: ['upstreams.u.tls.insecureSkipVerify'],
  },
  {
    name: 'close: upstream TLS with verification',
    rule: 'insecure-skip-verify',
    mutate: (c) => (c.upstreams.u = { targets: ['https://127.0.0.1:9443'], tls: { insecureSkipVerify: false } }),
    expect: [],
  },
  // login-route-without-limits
  {
    name: 'a login route with no limits anywhere (segment matched case-insensitively)',
    rule: 'login-route-without-limits',
    mutate: (c) => {
      delete c.defaults.rateLimit;
      c.routes.push(route('login', '/api/LogIn'));
    },
    expect: ['routes[1].rateLimit'],
  },
  {
    name: 'close: the login route with its own rate limit',
    rule: 'login-route-without-limits',
    mutate: (c) => {
      delete c.defaults.rateLimit;
      c.routes.push(route('login', '/api/LogIn', { rateLimit: [{ by: 'ip', limit: 10, per: '1m' }] }));
    },
    expect: [],
  },
  {
    name: 'close: the login route with defaults.bruteForce',
    rule: 'login-route-without-limits',
    mutate: (c) => {
      delete c.defaults.rateLimit;
      c.defaults.bruteForce = { maxFailures: 5, per: '1m', ban: '10m' };
      c.routes.push(route('login', '/api/LogIn'));
    },
    expect: [],
  },
  {
    name: 'close: a segment that only contains the word',
    rule: 'login-route-without-limits',
    mutate: (c) => {
      delete c.defaults.rateLimit;
      c.routes.push(route('blog', '/blogin/tokenizer'));
    },
    expect: [],
  },
  // threats-off
  {
    name: 'no defaults.threats',
    rule: 'threats-off',
    mutate: (c) => delete c.defaults.threats,
    expect: ['defaults.threats'],
  },
  {
    name: 'defaults.threats mode off',
    rule: 'threats-off',
    mutate: (c) => (c.defaults.threats = { mode: 'off' }),
    expect: ['defaults.threats.mode'],
  },
  {
    name: 'a POST route in detect mode',
    rule: 'threats-off',
    mutate: (c) => (c.routes[0] = route('upload', '/upload', { match: { path: '/upload', methods: ['POST'] }, threats: { mode: 'detect' } })),
    expect: ['routes[0].threats.mode'],
  },
  {
    name: 'close: a GET-only route in detect mode, and no defaults when every route has its own block',
    rule: 'threats-off',
    mutate: (c) => {
      delete c.defaults.threats;
      c.routes[0] = route('search', '/search', { match: { path: '/search', methods: ['GET'] }, threats: { mode: 'detect' } });
    },
    expect: [],
  },
  // plain-http-listener
  {
    name: 'plain HTTP on every interface, no https, no trusted proxies',
    rule: 'plain-http-listener',
    mutate: (c) => (c.server.http.host = '0.0.0.0'),
    expect: ['server.http.redirectToHttps'],
  },
  {
    name: 'close: the same behind a trusted TLS proxy',
    rule: 'plain-http-listener',
    mutate: (c) => {
      c.server.http.host = '0.0.0.0';
      c.server.trustedProxies = ['10.0.0.0/8'];
    },
    expect: [],
  },
  // jwks-over-http
  {
    name: 'JWKS over http',
    rule: 'jwks-over-http',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', jwksUri: 'http://idp.example.com/jwks', algorithms: ['RS256'], audience: 'api' } }),
    expect: ['authenticators.idp.jwksUri'],
  },
  {
    name: 'discovery over http',
    rule: 'jwks-over-http',
    mutate: (c) => (c.authenticators = { idp: { type: 'jwt', discovery: 'http://idp.example.com/.well-known/openid-configuration', issuer: 'http://idp.example.com', algorithms: ['RS256'], audience: 'api' } }),
    expect: ['authenticators.idp.discovery'],
  },
  {
    name: 'close: JWKS over https, and over http on loopback',
    rule: 'jwks-over-http',
    mutate: (c) => (c.authenticators = {
      idp: { type: 'jwt', jwksUri: 'https://idp.example.com/jwks', algorithms: ['RS256'], audience: 'api' },
      local: { type: 'jwt', jwksUri: 'http://127.0.0.1:8080/jwks', algorithms: ['RS256'], audience: 'api' },
    }),
    expect: [],
  },
  // introspection-over-http
  {
    name: 'introspection over http',
    rule: 'introspection-over-http',
    mutate: (c) => (c.authenticators = { intro: { type: 'introspection', endpoint: 'http://idp.example.com/introspect', clientId: 'gw', clientSecret: '${INTRO_SECRET}' } }),
    expect: ['authenticators.intro.endpoint'],
  },
  {
    name: 'close: introspection over https',
    rule: 'introspection-over-http',
    mutate: (c) => (c.authenticators = { intro: { type: 'introspection', endpoint: 'https://idp.example.com/introspect', clientId: 'gw', clientSecret: '${INTRO_SECRET}' } }),
    expect: [],
  },
  // no-rate-limit
  {
    name: 'no rate limit anywhere',
    rule: 'no-rate-limit',
    mutate: (c) => delete c.defaults.rateLimit,
    expect: ['defaults.rateLimit'],
  },
  {
    name: 'close: a rate limit on one route only',
    rule: 'no-rate-limit',
    mutate: (c) => {
      delete c.defaults.rateLimit;
      c.routes[0].rateLimit = [{ by: 'ip', limit: 10, per: '1s' }];
    },
    expect: [],
  },
];

describe('lint rules', () => {
  it('the base config of the cases has no findings', async () => {
    assert.deepEqual(await findings(() => {}), []);
  });

  for (const c of CASES) {
    it(`${c.rule}: ${c.name}`, async () => {
      const all = await findings(c.mutate);
      const mine = all.filter((f) => f.rule === c.rule);
      assert.deepEqual(mine.map((f) => f.path), c.expect);
      const severity = RULES.find((r) => r.id === c.rule)?.severity;
      for (const f of mine) {
        assert.equal(f.severity, severity);
        assert.ok(f.problem.length > 0 && f.fix.length > 0);
      }
    });
  }

  it('every rule has a triggering case and a close case', () => {
    for (const rule of RULES) {
      assert.ok(CASES.some((c) => c.rule === rule.id && c.expect.length > 0), `${rule.id}: no triggering case`);
      assert.ok(CASES.some((c) => c.rule === rule.id && c.expect.length === 0), `${rule.id}: no close case`);
    }
  });

  it('rule ids are unique and kebab-case; no-rate-limit is the only info rule', () => {
    const ids = RULES.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^[a-z]+(-[a-z]+)*$/);
    assert.deepEqual(RULES.filter((r) => r.severity === 'info').map((r) => r.id), ['no-rate-limit']);
  });

  it('public-route-next-to-protected names a request the public route takes', async () => {
    const [f] = (await findings((c) => {
      c.authenticators = { keys };
      c.routes.push(route('orders-public', '/orders/*'), route('order', '/orders/:id', { auth: 'keys' }));
    })).filter((x) => x.rule === 'public-route-next-to-protected');
    // The router gives /orders/1 to the parameter route; one segment more goes to the public prefix.
    assert.match(f?.problem ?? '', /GET \/orders\/1\/x reaches the public route/);
  });

  it('a value from the environment is marked as such', async () => {
    const [f] = (await findings((c) => (c.server.admin = { host: '${ADMIN_HOST:-0.0.0.0}', port: 0, token: '${ADMIN_TOKEN}' }))).filter((x) => x.rule === 'admin-off-loopback');
    assert.match(f?.problem ?? '', /from the environment/);
  });
});

describe('overlapWitness', () => {
  const p = (s: string): PathPattern => parsePathPattern(s) as PathPattern;
  const table: [string, string, string | undefined][] = [
    ['/orders/*', '/orders/:id', '/orders/1'],
    ['/orders', '/orders/*', '/orders'],
    ['/orders/:id', '/orders/export', '/orders/export'],
    ['/orders/*', '/orders/*', '/orders/x'],
    ['/a/*', '/a/:id/items', '/a/1/items'],
    ['/orders', '/orders/:id', undefined],
    ['/orders/:id', '/users/:id', undefined],
    ['/orders/:id', '/orders/:id/items', undefined],
  ];
  for (const [a, b, want] of table) {
    it(`${a} and ${b}: ${want ?? 'no common path'}`, () => {
      assert.equal(overlapWitness(p(a), p(b)), want);
      assert.equal(overlapWitness(p(b), p(a)), want);
    });
  }
});
