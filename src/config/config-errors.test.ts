/**
 * Config errors, table-driven: each bad config must be reported at its EXACT path with a reason a
 * person can act on. The whole list of issues is compared, so an extra or a missing error fails too.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCerts, type CertFiles } from '../../test/helpers/harness.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';
import { buildGatewayFromText } from './gateway.ts';

interface Expected {
  path: string;
  messageIncludes: string;
}

interface Case {
  name: string;
  yaml: string;
  env?: Record<string, string>;
  expect: Expected[];
}

/** A valid base config; each part can be replaced. Two upstreams, three routes (indexes 0..2). */
function config(parts: { server?: string; upstreams?: string; routes?: string; extra?: string } = {}): string {
  return [
    parts.server ?? `server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }`,
    parts.upstreams ?? `upstreams:\n  orders-v1: { targets: ["http://127.0.0.1:9001"] }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }`,
    parts.routes ??
      `routes:
  - name: orders
    match: { path: /orders/* }
    auth: public
    upstream: orders-v1
  - name: health
    match: { path: /health, methods: [GET] }
    auth: public
    upstream: orders-v1
  - name: catalog
    match: { path: /catalog/* }
    auth: public
    upstream: orders-v2`,
    parts.extra ?? '',
  ].join('\n') + '\n';
}

/** One route (index 0) with the given extra lines, for route-level cases. */
function oneRoute(lines: string): string {
  return config({ routes: `routes:\n  - name: r\n${lines.replace(/^\n/, '')}` });
}

const NOT_YET = 'not supported yet in this version of Portcullis';

/** One public route (index 0) with the given `rateLimit:` value. */
function routeLimit(value: string): string {
  return oneRoute(`
    match: { path: /a }
    auth: public
    upstream: orders-v1
    rateLimit: ${value}`);
}

/** A config with `authenticators:` and one route (index 0) whose auth lines are `route`. */
function withAuth(authenticators: string, route = '    auth: public', server?: string): string {
  return config({
    ...(server !== undefined ? { server } : {}),
    routes: `routes:\n  - name: r\n    match: { path: /a }\n${route}\n    upstream: orders-v1`,
    extra: `authenticators:\n${authenticators}`,
  });
}

/** A valid JWT authenticator. */
const JWT = '  staff-jwt: { type: jwt, issuer: "https://id.example.com/", audience: orders-api, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256] }';

/** HTTPS with client certificates; the files are in the fixtures directory. */
const MTLS_SERVER = 'server:\n  https:\n    port: 0\n    certificates: [{ cert: api.pem, key: api-key.pem }]\n    clientCertificates: { ca: ca.pem }';

/** A well-formed sha256 keyHash made of one repeated hex digit. */
const hash = (digit: string): string => `sha256:${digit.repeat(64)}`;

async function issuesOf(yaml: string, env: Record<string, string> = {}, baseDir?: string): Promise<ConfigIssue[]> {
  try {
    const gw = await buildGatewayFromText(yaml, { env, ...(baseDir ? { baseDir } : {}) });
    await gw.close();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
}

function check(actual: readonly ConfigIssue[], expected: readonly Expected[]): void {
  const shown = actual.map((i) => `${i.path}: ${i.message}`).join('\n  ');
  assert.deepEqual(
    actual.map((i) => i.path).sort(),
    expected.map((e) => e.path).sort(),
    `paths differ; got:\n  ${shown}`,
  );
  for (const e of expected) {
    assert.ok(
      actual.some((i) => i.path === e.path && i.message.includes(e.messageIncludes)),
      `no issue at ${e.path} containing ${JSON.stringify(e.messageIncludes)}; got:\n  ${shown}`,
    );
  }
}

const cases: Case[] = [
  // --- unknown keys, with did-you-mean ---
  {
    name: 'unknown top-level key',
    yaml: config({ extra: 'loging: { level: info }' }),
    expect: [{ path: 'loging', messageIncludes: 'unknown key (did you mean "logging"?)' }],
  },
  {
    name: 'unknown top-level key without a near match',
    yaml: config({ extra: 'plugins: []' }),
    expect: [{ path: 'plugins', messageIncludes: 'unknown key' }],
  },
  {
    name: 'nested unknown key in a listener',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHTTPS: false }' }),
    expect: [
      // Only this one: the listener checks (redirectToHttps without https) run once the shape is valid.
      { path: 'server.http.redirectToHTTPS', messageIncludes: 'unknown key (did you mean "redirectToHttps"?)' },
    ],
  },
  {
    name: 'nested unknown key in a route match',
    yaml: oneRoute(`
    match: { path: /a, metods: [GET] }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.metods', messageIncludes: 'unknown key (did you mean "methods"?)' }],
  },
  {
    name: 'nested unknown key in an upstream',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: ["http://127.0.0.1:9001"], timout: 5s }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }' }),
    expect: [{ path: 'upstreams.orders-v1.timout', messageIncludes: 'unknown key (did you mean "timeout"?)' }],
  },
  {
    name: 'unknown key inside the version selector',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { header: api-version, map: { "1": orders-v1 }, defualt: "1" } }`),
    expect: [{ path: 'routes[0].upstream.version.defualt', messageIncludes: 'unknown key (did you mean "default"?)' }],
  },
  {
    name: 'misspelt form of a route upstream',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { versoin: { header: api-version, map: { "1": orders-v1 } } }`),
    expect: [{ path: 'routes[0].upstream.versoin', messageIncludes: 'unknown key (did you mean "version"?)' }],
  },
  {
    name: 'upstream name that is not a valid name',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: ["http://127.0.0.1:9001"] }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }\n  "orders v3": { targets: ["http://127.0.0.1:9003"] }' }),
    expect: [{ path: 'upstreams["orders v3"]', messageIncludes: '"orders v3" is not a valid name' }],
  },
  {
    name: 'route name that is not a valid name',
    yaml: config({ routes: 'routes:\n  - name: "-orders"\n    match: { path: /a }\n    auth: public\n    upstream: orders-v1' }),
    expect: [{ path: 'routes[0].name', messageIncludes: 'is not a valid name' }],
  },

  // --- missing required keys ---
  {
    name: 'route without auth (secure by default)',
    yaml: oneRoute(`
    match: { path: /a }
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].auth', messageIncludes: 'is required' }],
  },
  {
    name: 'route match without a path',
    yaml: oneRoute(`
    match: { methods: [GET] }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: 'is required' }],
  },
  {
    name: 'upstream without targets',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: ["http://127.0.0.1:9001"] }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }\n  x: { timeout: 5s }' }),
    expect: [{ path: 'upstreams.x.targets', messageIncludes: 'is required' }],
  },
  {
    name: 'upstream with an empty target list',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: [] }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }' }),
    expect: [{ path: 'upstreams.orders-v1.targets', messageIncludes: 'must have at least 1 item' }],
  },
  {
    name: 'version selector without a map',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { header: api-version } }`),
    expect: [{ path: 'routes[0].upstream.version.map', messageIncludes: 'is required' }],
  },
  {
    name: 'no server section at all',
    yaml: config().replace(/^server:\n.*\n/, ''),
    expect: [{ path: 'server', messageIncludes: 'is required' }],
  },

  // --- wrong types ---
  {
    name: 'port as text',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: eighty, redirectToHttps: false }' }),
    expect: [{ path: 'server.http.port', messageIncludes: 'must be an integer, got the string "eighty"' }],
  },
  {
    name: 'a literal quoted number stays a string',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: "8081", redirectToHttps: false }' }),
    expect: [{ path: 'server.http.port', messageIncludes: 'must be an integer, got the string "8081"' }],
  },
  {
    name: 'port out of range',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 70000, redirectToHttps: false }' }),
    expect: [{ path: 'server.http.port', messageIncludes: 'must be at most 65535' }],
  },
  {
    name: 'routes as a mapping',
    yaml: config({ routes: 'routes:\n  orders: { match: { path: /a }, auth: public, upstream: orders-v1 }' }),
    expect: [{ path: 'routes', messageIncludes: 'must be a list, got a mapping' }],
  },
  {
    name: 'empty value where a list is required',
    yaml: config({ routes: 'routes:' }),
    expect: [{ path: 'routes', messageIncludes: 'must be a list, got an empty value' }],
  },
  {
    name: 'boolean as text',
    yaml: oneRoute(`
    match: { path: /a/* }
    auth: public
    upstream: orders-v1
    stripPrefix: "yes"`),
    expect: [{ path: 'routes[0].stripPrefix', messageIncludes: 'must be true or false, got the string "yes"' }],
  },
  {
    name: 'route upstream of the wrong type: one message for the union',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: 5`),
    expect: [{ path: 'routes[0].upstream', messageIncludes: 'must be a string, { version } or { split, sticky, override }, got number 5' }],
  },
  {
    name: 'auth of the wrong type',
    yaml: oneRoute(`
    match: { path: /a }
    auth: 5
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].auth', messageIncludes: 'must be a string or a list of strings' }],
  },
  {
    name: 'target of the wrong type, and a bad weight in another',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: [{ url: "http://127.0.0.1:9001", weight: 0 }, 5] }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }' }),
    expect: [
      { path: 'upstreams.orders-v1.targets[0].weight', messageIncludes: 'must be at least 1' },
      { path: 'upstreams.orders-v1.targets[1]', messageIncludes: 'must be a string or { url, weight }' },
    ],
  },
  {
    name: 'hsts neither false nor a mapping',
    yaml: config({ server: 'server:\n  https: { port: 0, certificates: [{ cert: a.pem, key: a-key.pem }], hsts: true }' }),
    expect: [{ path: 'server.https.hsts', messageIncludes: 'must be false or { maxAge, includeSubDomains, preload }, got boolean true' }],
  },
  {
    name: 'enum value with a suggestion',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: orders-v1
    mode: enforced`),
    expect: [{ path: 'routes[0].mode', messageIncludes: 'must be one of "enforce", "shadow", got the string "enforced" (did you mean "enforce"?)' }],
  },
  {
    name: 'unknown log level',
    yaml: config({ extra: 'logging: { level: verbose }' }),
    expect: [{ path: 'logging.level', messageIncludes: 'must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent"' }],
  },
  {
    name: 'lower-case method',
    yaml: oneRoute(`
    match: { path: /a, methods: [GET, post] }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.methods[1]', messageIncludes: 'must be an upper-case HTTP method such as GET, got "post"' }],
  },
  {
    name: 'empty route upstream name',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: ""`),
    expect: [{ path: 'routes[0].upstream', messageIncludes: 'must not be empty' }],
  },

  // --- durations and sizes ---
  {
    name: 'duration without a unit',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: ["http://127.0.0.1:9001"], timeout: 10 }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }' }),
    expect: [{ path: 'upstreams.orders-v1.timeout', messageIncludes: 'must be a duration string such as "30s", got number 10' }],
  },
  {
    name: 'duration with an unknown unit',
    yaml: config({ upstreams: 'upstreams:\n  orders-v1: { targets: ["http://127.0.0.1:9001"], connectTimeout: 10sec }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }' }),
    expect: [{ path: 'upstreams.orders-v1.connectTimeout', messageIncludes: 'must be a duration such as "250ms", "30s", "5m", "1h" or "1d", got "10sec"' }],
  },
  {
    name: 'sizes with a space and with an IEC unit',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  limits: { maxBodyBytes: 1 MB, maxHeaderBytes: 16KiB }' }),
    expect: [
      { path: 'server.limits.maxBodyBytes', messageIncludes: 'must be a size such as "512b", "16kb" or "1mb", got "1 MB"' },
      { path: 'server.limits.maxHeaderBytes', messageIncludes: 'must be a size such as "512b", "16kb" or "1mb", got "16KiB"' },
    ],
  },
  {
    name: 'limits that contradict each other',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  limits: { headersTimeout: 1m, requestTimeout: 30s, maxHeaderBytes: 512b, maxUrlBytes: 100b }' }),
    expect: [
      { path: 'server.limits.headersTimeout', messageIncludes: 'must not be longer than server.limits.requestTimeout' },
      { path: 'server.limits.maxHeaderBytes', messageIncludes: 'must be at least 1kb' },
      { path: 'server.limits.maxUrlBytes', messageIncludes: 'must be at least 256b' },
    ],
  },
  {
    name: 'URL limit above the head limit',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  limits: { maxHeaderBytes: 4kb, maxUrlBytes: 8kb }' }),
    expect: [{ path: 'server.limits.maxUrlBytes', messageIncludes: 'must not exceed server.limits.maxHeaderBytes' }],
  },

  // --- references between sections ---
  {
    name: 'unknown upstream with a suggestion',
    yaml: config({
      routes: `routes:
  - name: a
    match: { path: /a }
    auth: public
    upstream: orders-v1
  - name: b
    match: { path: /b }
    auth: public
    upstream: orders-v2
  - name: c
    match: { path: /c }
    auth: public
    upstream: ordrs-v1`,
    }),
    expect: [{ path: 'routes[2].upstream', messageIncludes: 'unknown upstream "ordrs-v1" (did you mean "orders-v1"?)' }],
  },
  {
    name: 'unknown upstream in a version map',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { header: api-version, map: { "1": orders-v1, "2": orders-v3 } } }`),
    expect: [{ path: 'routes[0].upstream.version.map["2"]', messageIncludes: 'unknown upstream "orders-v3" (did you mean "orders-v1"?)' }],
  },
  {
    name: 'duplicate route names',
    yaml: config({
      routes: `routes:
  - name: orders
    match: { path: /a }
    auth: public
    upstream: orders-v1
  - name: orders
    match: { path: /b }
    auth: public
    upstream: orders-v1`,
    }),
    expect: [{ path: 'routes[1].name', messageIncludes: '"orders" is already the name of routes[0]' }],
  },
  {
    name: 'a route that can never match',
    yaml: config({
      routes: `routes:
  - name: a
    match: { path: /a, methods: [GET, POST] }
    auth: public
    upstream: orders-v1
  - name: b
    match: { path: /a, methods: [POST, GET] }
    auth: public
    upstream: orders-v2`,
    }),
    expect: [{ path: 'routes[1].match', messageIncludes: 'same host, path and methods as routes[0]' }],
  },

  // --- path patterns and hosts ---
  {
    name: 'a "*" in the middle of a path',
    yaml: oneRoute(`
    match: { path: /a/*/b }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: '"*" is allowed only as a final "/*"' }],
  },
  {
    name: 'an empty segment',
    yaml: oneRoute(`
    match: { path: /a//b }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: 'must not contain empty segments ("//")' }],
  },
  {
    name: 'a trailing slash',
    yaml: oneRoute(`
    match: { path: /a/ }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: 'use "/*" for a prefix' }],
  },
  {
    name: 'no leading slash',
    yaml: oneRoute(`
    match: { path: orders/* }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: 'must start with "/"' }],
  },
  {
    name: 'a parameter used twice',
    yaml: oneRoute(`
    match: { path: /a/:id/b/:id }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: 'parameter ":id" is used twice' }],
  },
  {
    name: 'dot segments',
    yaml: oneRoute(`
    match: { path: /a/../b }
    auth: public
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].match.path', messageIncludes: 'must not contain "." or ".." segments' }],
  },
  {
    name: 'a host with a space, one with a port and a double wildcard',
    yaml: config({
      routes: `routes:
  - name: a
    match: { host: "api example.com", path: /a }
    auth: public
    upstream: orders-v1
  - name: b
    match: { host: "api.example.com:8443", path: /a }
    auth: public
    upstream: orders-v1
  - name: c
    match: { host: "*.*.example.com", path: /a }
    auth: public
    upstream: orders-v1`,
    }),
    expect: [
      { path: 'routes[0].match.host', messageIncludes: '"api example.com" is not a host name or *.domain wildcard' },
      { path: 'routes[1].match.host', messageIncludes: '"api.example.com:8443" is not a host name' },
      { path: 'routes[2].match.host', messageIncludes: '"*.*.example.com" is not a host name' },
    ],
  },
  {
    name: 'stripPrefix on an exact path',
    yaml: oneRoute(`
    match: { path: /orders }
    auth: public
    upstream: orders-v1
    stripPrefix: true`),
    expect: [{ path: 'routes[0].stripPrefix', messageIncludes: 'needs a prefix path pattern ending in "/*"' }],
  },

  // --- version selector ---
  {
    name: 'version selector with no source',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { map: { "1": orders-v1 } } }`),
    expect: [{ path: 'routes[0].upstream.version', messageIncludes: 'needs exactly one of header, query or param' }],
  },
  {
    name: 'version selector with two sources',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { header: api-version, query: v, map: { "1": orders-v1 } } }`),
    expect: [{ path: 'routes[0].upstream.version', messageIncludes: 'needs exactly one of header, query or param' }],
  },
  {
    name: 'version default that is not in the map',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { header: api-version, default: "3", map: { "1": orders-v1, "2": orders-v2 } } }`),
    expect: [{ path: 'routes[0].upstream.version.default', messageIncludes: '"3" is not a version in map' }],
  },
  {
    name: 'version param that the path does not have',
    yaml: oneRoute(`
    match: { path: /:v/orders/* }
    auth: public
    upstream: { version: { param: version, map: { "1": orders-v1 } } }`),
    expect: [{ path: 'routes[0].upstream.version.param', messageIncludes: 'match.path has no parameter ":version"' }],
  },
  {
    name: 'version map without versions',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { version: { header: api-version, map: {} } }`),
    expect: [{ path: 'routes[0].upstream.version.map', messageIncludes: 'must name at least one version' }],
  },

  // --- rate limits, brute force and the store ---
  {
    name: 'a rate limit keyed by something that is not a key part',
    yaml: routeLimit('[{ by: ipp, limit: 10, per: 1s }]'),
    expect: [{ path: 'routes[0].rateLimit[0].by', messageIncludes: 'got "ipp"' }],
  },
  {
    name: 'claim: without a claim path',
    yaml: routeLimit('[{ by: "claim:", limit: 10, per: 1s }]'),
    expect: [{ path: 'routes[0].rateLimit[0].by', messageIncludes: 'got "claim:"' }],
  },
  {
    name: 'header: with a name that is not a header name, inside a combination',
    yaml: routeLimit('[{ by: [consumer, "header:bad name"], limit: 10, per: 1s }]'),
    expect: [{ path: 'routes[0].rateLimit[0].by[1]', messageIncludes: 'got "header:bad name"' }],
  },
  {
    name: 'limit 0',
    yaml: routeLimit('[{ by: ip, limit: 0, per: 1s }]'),
    expect: [{ path: 'routes[0].rateLimit[0].limit', messageIncludes: 'must be at least 1' }],
  },
  {
    name: 'a per that is not a duration',
    yaml: routeLimit('[{ by: ip, limit: 5, per: 1s }, { by: consumer, limit: 5, per: soon }]'),
    expect: [{ path: 'routes[0].rateLimit[1].per', messageIncludes: 'must be a duration such as "250ms", "30s", "5m", "1h" or "1d", got "soon"' }],
  },
  {
    name: 'a per of 0ms, and one that rounds to 0ms',
    yaml: routeLimit('[{ by: ip, limit: 5, per: 0ms }, { by: route, limit: 5, per: 0.2ms }]'),
    expect: [
      { path: 'routes[0].rateLimit[0].per', messageIncludes: 'must be at least 1ms' },
      { path: 'routes[0].rateLimit[1].per', messageIncludes: 'must be at least 1ms' },
    ],
  },
  {
    name: 'burst on a sliding window',
    yaml: routeLimit('[{ by: ip, limit: 5, per: 1s }, { by: consumer, limit: 5, per: 1s, burst: 2, algorithm: sliding-window }]'),
    expect: [{ path: 'routes[0].rateLimit[1].burst', messageIncludes: 'applies to gcra only' }],
  },
  {
    name: 'a sliding window over 100000',
    yaml: routeLimit('[{ by: consumer, limit: 100001, per: 1h, algorithm: sliding-window }]'),
    expect: [{ path: 'routes[0].rateLimit[0].limit', messageIncludes: 'sliding-window keeps one entry per request: at most 100000' }],
  },
  {
    name: 'a sliding window of exactly 100000 and a large gcra limit are fine',
    yaml: routeLimit('[{ by: consumer, limit: 100000, per: 1h, algorithm: sliding-window }, { by: ip, limit: 1000000000, per: 1d, burst: 5 }]'),
    expect: [],
  },
  {
    name: 'an unknown algorithm and a misspelt key in an entry',
    yaml: routeLimit('[{ by: ip, limit: 5, per: 1s, algorithm: leaky-bucket, brust: 2 }]'),
    expect: [
      { path: 'routes[0].rateLimit[0].algorithm', messageIncludes: 'must be one of "gcra", "sliding-window", got the string "leaky-bucket"' },
      { path: 'routes[0].rateLimit[0].brust', messageIncludes: 'unknown key (did you mean "burst"?)' },
    ],
  },
  {
    name: 'an empty rateLimit list',
    yaml: routeLimit('[]'),
    expect: [{ path: 'routes[0].rateLimit', messageIncludes: 'must have at least 1 item' }],
  },
  {
    name: 'defaults.rateLimit errors are reported at the defaults',
    yaml: config({ extra: 'defaults:\n  rateLimit:\n    - { by: ip, limit: 0, per: 1s }\n    - { by: consumer, limit: 5, per: 1s, burst: 1, algorithm: sliding-window }' }),
    expect: [{ path: 'defaults.rateLimit[0].limit', messageIncludes: 'must be at least 1' }],
  },
  {
    name: 'defaults.rateLimit build errors are reported at the defaults',
    yaml: config({ extra: 'defaults:\n  rateLimit:\n    - { by: ip, limit: 5, per: 0ms }\n    - { by: consumer, limit: 5, per: 1s, burst: 1, algorithm: sliding-window }' }),
    expect: [
      { path: 'defaults.rateLimit[0].per', messageIncludes: 'must be at least 1ms' },
      { path: 'defaults.rateLimit[1].burst', messageIncludes: 'applies to gcra only' },
    ],
  },
  {
    name: 'store.type redis without url or cluster',
    yaml: config({ extra: 'store: { type: redis }' }),
    expect: [{ path: 'store.redis', messageIncludes: 'store.type redis needs store.redis.url or store.redis.cluster' }],
  },
  {
    name: 'store.redis with settings but without url or cluster',
    yaml: config({ extra: 'store: { type: redis, redis: { timeout: 50ms, onError: closed } }' }),
    expect: [{ path: 'store.redis', messageIncludes: 'store.type redis needs store.redis.url or store.redis.cluster' }],
  },
  {
    name: 'store.redis with both url and cluster',
    yaml: config({ extra: 'store: { type: redis, redis: { url: "redis://127.0.0.1:1", cluster: ["127.0.0.1:2", "127.0.0.1:3"] } }' }),
    expect: [{ path: 'store.redis', messageIncludes: 'give either url or cluster, not both' }],
  },
  {
    name: 'store.maxKeys below its minimum',
    yaml: config({ extra: 'store: { type: memory, maxKeys: 10 }' }),
    expect: [{ path: 'store.maxKeys', messageIncludes: '1000' }],
  },
  {
    name: 'defaults.bruteForce.by with an unknown kind',
    yaml: config({ extra: 'defaults:\n  bruteForce: { maxFailures: 5, per: 1m, ban: 1m, by: [ip, user] }' }),
    expect: [{ path: 'defaults.bruteForce.by[1]', messageIncludes: 'credential' }],
  },
  {
    name: 'store.redis with store.type memory',
    yaml: config({ extra: 'store: { type: memory, redis: { url: "redis://127.0.0.1:1" } }' }),
    expect: [{ path: 'store.redis', messageIncludes: 'is only used with store.type: redis' }],
  },
  {
    name: 'store.redis without store.type (memory is the default)',
    yaml: config({ extra: 'store: { redis: { url: "redis://127.0.0.1:1" } }' }),
    expect: [{ path: 'store.redis', messageIncludes: 'is only used with store.type: redis' }],
  },
  {
    name: 'store.redis values of the wrong form',
    yaml: config({ extra: 'store: { type: redis, redis: { url: "http://127.0.0.1:6379", cluster: ["127.0.0.1"], timeout: 50, onError: fail, instances: 0 } }' }),
    expect: [
      { path: 'store.redis.url', messageIncludes: 'got "http://127.0.0.1:6379"' },
      { path: 'store.redis.cluster[0]', messageIncludes: 'got "127.0.0.1"' },
      { path: 'store.redis.timeout', messageIncludes: 'must be a duration string such as "30s", got number 50' },
      { path: 'store.redis.onError', messageIncludes: 'must be one of "open", "closed", "local", got the string "fail"' },
      { path: 'store.redis.instances', messageIncludes: 'must be at least 1' },
    ],
  },
  {
    name: 'a store timeout of 0ms',
    yaml: config({ extra: 'store: { type: redis, redis: { url: "redis://127.0.0.1:1", timeout: 0ms } }' }),
    expect: [{ path: 'store.redis.timeout', messageIncludes: 'must be at least 1ms' }],
  },
  {
    name: 'bruteForce without per and ban',
    yaml: config({ extra: 'defaults:\n  bruteForce: { maxFailures: 5 }' }),
    expect: [
      { path: 'defaults.bruteForce.per', messageIncludes: 'is required' },
      { path: 'defaults.bruteForce.ban', messageIncludes: 'is required' },
    ],
  },
  {
    name: 'an empty bruteForce next to a valid rateLimit',
    yaml: config({ extra: 'defaults:\n  bruteForce: {}\n  rateLimit: [{ by: ip, limit: 5, per: 1s }]' }),
    expect: [
      { path: 'defaults.bruteForce.maxFailures', messageIncludes: 'is required' },
      { path: 'defaults.bruteForce.per', messageIncludes: 'is required' },
      { path: 'defaults.bruteForce.ban', messageIncludes: 'is required' },
    ],
  },
  {
    name: 'bruteForce maxFailures 0 and a ban that is not a duration',
    yaml: config({ extra: 'defaults:\n  bruteForce: { maxFailures: 0, per: 1m, ban: forever }' }),
    expect: [
      { path: 'defaults.bruteForce.maxFailures', messageIncludes: 'must be at least 1' },
      { path: 'defaults.bruteForce.ban', messageIncludes: 'must be a duration' },
    ],
  },

  // --- keys later releases own: known, and rejected where they stand ---
  {
    name: 'route concurrency: missing limit, bad by, ttl under 1s',
    yaml: routeLimit('[{ by: consumer, limit: 10, per: 1s }]\n    concurrency: { by: ipp, ttl: 10ms }'),
    expect: [
      { path: 'routes[0].concurrency.by', messageIncludes: 'must be ip, consumer, apiKey, route, claim:<path> or header:<name>' },
      { path: 'routes[0].concurrency.limit', messageIncludes: 'is required' },
    ],
  },
  {
    name: 'route cors: "*" with credentials',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: orders-v1
    threats: { mode: block }
    cors: { origins: ["*"], credentials: true }`),
    expect: [{ path: 'routes[0].cors.origins[0]', messageIncludes: '"*" cannot be combined with credentials: true' }],
  },
  {
    name: 'route validate: sizes, media types, limits, errors mode, a misspelt key',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: orders-v1
    validate:
      maxBodyBytes: lots
      contentTypes: [json, "application/json; charset=utf-8"]
      limits: { maxDepth: 0, maxFieldBytes: 1x }
      errors: verbose
      bodyy: {}`),
    expect: [
      { path: 'routes[0].validate.bodyy', messageIncludes: 'unknown key (did you mean "body"?)' },
      { path: 'routes[0].validate.maxBodyBytes', messageIncludes: 'must be a size such as "512b", "16kb" or "1mb", got "lots"' },
      { path: 'routes[0].validate.contentTypes[0]', messageIncludes: 'must be a media type without parameters, such as "application/json", "application/*+json" or "text/*", got "json"' },
      { path: 'routes[0].validate.contentTypes[1]', messageIncludes: 'must be a media type without parameters' },
      { path: 'routes[0].validate.limits.maxDepth', messageIncludes: 'must be at least 1' },
      { path: 'routes[0].validate.limits.maxFieldBytes', messageIncludes: 'must be a size' },
      { path: 'routes[0].validate.errors', messageIncludes: 'must be one of "detailed", "hidden"' },
    ],
  },
  {
    name: 'route validate: body is a JSON Schema (a mapping or a boolean)',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: orders-v1
    validate: { body: [1] }`),
    expect: [{ path: 'routes[0].validate.body', messageIncludes: 'must be a mapping or true or false, got a list' }],
  },
  {
    name: 'route validate: build-time errors, each at its key',
    yaml: config({
      routes: `routes:
  - name: a
    match: { path: /a }
    auth: public
    upstream: orders-v1
    validate: { body: { type: objekt }, basePath: /v1, maxBodyBytes: 0b }
  - name: b
    match: { path: /b }
    auth: public
    upstream: orders-v1
    validate: { body: { $ref: schemas/nope.json }, unknownOperation: 404 }
  - name: c
    match: { path: /c }
    auth: public
    upstream: orders-v1
    validate: { openapi: specs/nope.yaml, body: { format: sku } }`,
    }),
    expect: [
      { path: 'routes[0].validate.maxBodyBytes', messageIncludes: 'must be at least 1b' },
      { path: 'routes[0].validate.body', messageIncludes: 'is not a usable JSON Schema: schema is invalid: data/type must be equal to one of the allowed values' },
      { path: 'routes[0].validate.basePath', messageIncludes: 'applies only with validate.openapi' },
      { path: 'routes[1].validate.body', messageIncludes: 'is not a usable JSON Schema: cannot use schemas/nope.json: ENOENT' },
      { path: 'routes[1].validate.unknownOperation', messageIncludes: 'applies only with validate.openapi' },
      { path: 'routes[2].validate.body', messageIncludes: 'unknown format "sku"' },
      { path: 'routes[2].validate.openapi', messageIncludes: 'specs/nope.yaml: cannot read the OpenAPI document: ENOENT' },
    ],
  },
  {
    name: 'threats: paranoia out of range',
    yaml: config({ extra: 'defaults:\n  threats: { mode: block, paranoia: 5 }' }),
    expect: [
      { path: 'defaults.threats.paranoia', messageIncludes: '4' },
    ],
  },
  {
    name: 'threats: build-time problems',
    yaml: config({ extra: 'defaults:\n  threats:\n    exclude: [{ route: nope, field: body.html }, { field: query.q, detectors: [xxs] }, { field: "q" }]\n    rules: [{ id: r1, regex: "(a+)+$" }, { id: r2, contains: x, equals: y }]' }),
    expect: [
      { path: 'defaults.threats.exclude[0].route', messageIncludes: 'unknown route "nope"' },
      { path: 'defaults.threats.exclude[1].detectors[0]', messageIncludes: 'did you mean "xss"' },
      { path: 'defaults.threats.exclude[2].field', messageIncludes: 'must start with path' },
      { path: 'defaults.threats.rules[0].regex', messageIncludes: 'nested quantifier' },
      { path: 'defaults.threats.rules[1]', messageIncludes: 'exactly one of regex, contains or equals' },
    ],
  },
  {
    name: 'upstream resilience keys that cannot apply',
    yaml: config({
      upstreams: `upstreams:
  orders-v1:
    targets: ["http://127.0.0.1:9001"]
    healthCheck: { path: /healthz, interval: 10ms }
    retries: 1
    circuitBreaker: { failures: 5 }
    hashOn: header:x-user
    tls: { cert: missing.pem }
  orders-v2: { targets: ["http://127.0.0.1:9002"], healthCheck: { path: healthz }, retries: 11, circuitBreaker: { failureRatio: 2 } }`,
    }),
    expect: [
      { path: 'upstreams.orders-v2.healthCheck.path', messageIncludes: 'must match' },
      { path: 'upstreams.orders-v2.retries', messageIncludes: 'must be at most 10' },
      { path: 'upstreams.orders-v2.circuitBreaker.failureRatio', messageIncludes: 'must be at most 1' },
    ],
  },
  {
    name: 'upstream resilience keys that cannot apply, build phase',
    yaml: config({
      upstreams: `upstreams:
  orders-v1:
    targets: ["http://127.0.0.1:9001"]
    healthCheck: { path: /healthz, interval: 10ms }
    hashOn: header:x-user
    tls: { cert: missing.pem }
  orders-v2: { targets: ["http://127.0.0.1:9002"] }`,
    }),
    expect: [
      { path: 'upstreams.orders-v1.hashOn', messageIncludes: 'consistent-hash only' },
      { path: 'upstreams.orders-v1.healthCheck.interval', messageIncludes: 'at least 100ms' },
      { path: 'upstreams.orders-v1.tls.cert', messageIncludes: 'cannot use missing.pem' },
      { path: 'upstreams.orders-v1.tls.key', messageIncludes: 'cert and key go together' },
      { path: 'upstreams.orders-v1.tls', messageIncludes: 'https:// targets only' },
    ],
  },
  {
    name: 'a weighted split: unknown member, override outside the split; an unknown mirror upstream',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream:
      split: [{ upstream: orders-v1, weight: 90 }, { upstream: orders-v3, weight: 10 }]
      override: { header: x-canary, values: { always: orders-v2 } }
    mirror: { upstream: shadow }`),
    expect: [
      { path: 'routes[0].upstream.split[1].upstream', messageIncludes: 'unknown upstream "orders-v3"' },
      { path: 'routes[0].upstream.override.values["always"]', messageIncludes: 'not an upstream of this split' },
      { path: 'routes[0].mirror.upstream', messageIncludes: 'unknown upstream "shadow"' },
    ],
  },
  {
    name: 'a weighted split: every weight 0, and a negative one (schema phase)',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { split: [{ upstream: orders-v1, weight: 0 }, { upstream: orders-v2, weight: -1 }] }`),
    expect: [{ path: 'routes[0].upstream.split[1].weight', messageIncludes: 'must be at least 0' }],
  },
  {
    name: 'a weighted split: every weight 0',
    yaml: oneRoute(`
    match: { path: /a }
    auth: public
    upstream: { split: [{ upstream: orders-v1, weight: 0 }, { upstream: orders-v2, weight: 0 }] }`),
    expect: [{ path: 'routes[0].upstream.split', messageIncludes: 'every weight is 0' }],
  },
  {
    name: 'admin listener without its token (client certificates next to it are supported)',
    yaml: config({
      server: `server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  admin: { host: 127.0.0.1, port: 9901 }
  https:
    certificates: [{ cert: a.pem, key: a-key.pem }]
    clientCertificates: { ca: ca.pem }`,
    }),
    expect: [
      { path: 'server.admin.token', messageIncludes: 'is required' },
    ],
  },
  {
    name: 'metrics.prometheus: true without the admin listener that serves them',
    yaml: config({ extra: 'metrics: { prometheus: true }' }),
    expect: [{ path: 'metrics.prometheus', messageIncludes: 'metrics are served on the admin listener: configure server.admin' }],
  },
  {
    name: 'server.workers: over the bound',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  workers: 300' }),
    expect: [{ path: 'server.workers', messageIncludes: 'must be at most 256' }],
  },
  {
    name: 'server.workers: 0',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  workers: 0' }),
    expect: [{ path: 'server.workers', messageIncludes: 'must be at least 1' }],
  },
  {
    name: 'paths of upstream names that are not plain words are quoted, schema phase',
    yaml: config({
      upstreams: `upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9001"] }
  orders-v2: { targets: ["http://127.0.0.1:9002"] }
  orders.v3: { targets: ["http://127.0.0.1:9003/v3"], balance: random }
  9orders: { targets: ["http://127.0.0.1:9004"], timeout: soon }`,
    }),
    expect: [{ path: 'upstreams["9orders"].timeout', messageIncludes: 'must be a duration' }],
  },
  {
    name: 'paths of upstream names that are not plain words, build phase',
    yaml: config({
      upstreams: `upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9001"] }
  orders-v2: { targets: ["http://127.0.0.1:9002"] }
  orders.v3: { targets: ["http://127.0.0.1:9003/v3"], balance: random }`,
    }),
    expect: [
      { path: 'upstreams["orders.v3"].targets[0]', messageIncludes: 'must be an origin' },
    ],
  },
  {
    name: 'an OTLP endpoint that is not an http(s) URL, and a sample ratio over 1',
    yaml: config({ extra: 'tracing: { otlpEndpoint: "grpc://127.0.0.1:4317", sampleRatio: 2 }' }),
    expect: [{ path: 'tracing.sampleRatio', messageIncludes: '' }],
  },

  // --- auth ---
  {
    name: 'an authenticator name when none is configured',
    yaml: oneRoute(`
    match: { path: /a }
    auth: staff-jwt
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].auth', messageIncludes: 'unknown authenticator "staff-jwt"' }],
  },
  {
    name: 'a list of authenticators, one of them public',
    yaml: oneRoute(`
    match: { path: /a }
    auth: [partner-keys, public]
    upstream: orders-v1`),
    expect: [
      { path: 'routes[0].auth[0]', messageIncludes: 'unknown authenticator "partner-keys"' },
      { path: 'routes[0].auth[1]', messageIncludes: '"public" cannot be combined with authenticators' },
    ],
  },
  {
    name: 'a misspelt public',
    yaml: oneRoute(`
    match: { path: /a }
    auth: pubic
    upstream: orders-v1`),
    expect: [{ path: 'routes[0].auth', messageIncludes: '(did you mean "public"?)' }],
  },

  // --- authenticators (key files and certificates: see the `fixtures` directory below) ---
  {
    name: 'jwt without algorithms: one message, at the missing key',
    yaml: withAuth('  staff-jwt: { type: jwt, issuer: "https://id.example.com/", jwksUri: "https://id.example.com/jwks.json" }'),
    expect: [{ path: 'authenticators.staff-jwt.algorithms', messageIncludes: 'is required' }],
  },
  {
    name: 'jwt with an empty algorithm list',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [] }'),
    expect: [{ path: 'authenticators.staff-jwt.algorithms', messageIncludes: 'must have at least 1 item' }],
  },
  {
    name: 'alg none is not an algorithm',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256, none] }'),
    expect: [{
      path: 'authenticators.staff-jwt.algorithms[1]',
      messageIncludes: 'must be one of "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512", got the string "none"',
    }],
  },
  {
    name: 'an unknown algorithm, with a suggestion',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS265] }'),
    expect: [{ path: 'authenticators.staff-jwt.algorithms[0]', messageIncludes: 'got the string "RS265" (did you mean "RS256"?)' }],
  },
  {
    name: 'jwt with two key sources',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", keys: es256.jwks.json, algorithms: [ES256] }'),
    expect: [{ path: 'authenticators.staff-jwt', messageIncludes: 'needs exactly one key source: jwksUri, discovery, keys or secret (has jwksUri, keys)' }],
  },
  {
    name: 'jwt without a key source',
    yaml: withAuth('  staff-jwt: { type: jwt, issuer: "https://id.example.com/", algorithms: [RS256] }'),
    expect: [{ path: 'authenticators.staff-jwt', messageIncludes: 'needs exactly one key source: jwksUri, discovery, keys or secret (has none)' }],
  },
  {
    name: 'an HMAC secret written in the file',
    yaml: withAuth('  hs: { type: jwt, secret: "a-literal-secret-of-more-than-thirty-two-bytes", algorithms: [HS256] }'),
    expect: [{ path: 'authenticators.hs.secret', messageIncludes: 'secret must come from an environment variable (write ${NAME}), never from the file itself' }],
  },
  {
    name: 'an HMAC secret with a default in the file is still in the file',
    yaml: withAuth('  hs: { type: jwt, secret: "prefix-${JWT_SECRET}", algorithms: [HS256] }'),
    env: { JWT_SECRET: 'a-secret-from-the-environment-of-more-than-32-bytes' },
    expect: [{ path: 'authenticators.hs.secret', messageIncludes: 'must come from an environment variable' }],
  },
  {
    name: 'an HMAC secret that falls back to a ${NAME:-default} written in the file',
    yaml: withAuth('  hs: { type: jwt, secret: "${JWT_SECRET_UNSET_FOR_TEST:-a-literal-default-of-more-than-32-bytes}", algorithms: [HS256] }'),
    expect: [{ path: 'authenticators.hs.secret', messageIncludes: 'must come from an environment variable' }],
  },
  {
    name: 'an HS256 secret shorter than 32 bytes',
    yaml: withAuth('  hs: { type: jwt, secret: "${JWT_SECRET}", algorithms: [HS256] }'),
    env: { JWT_SECRET: 'too-short-a-secret' },
    expect: [{ path: 'authenticators.hs.secret', messageIncludes: 'is 18 bytes; HS256 needs at least 32' }],
  },
  {
    name: 'an HS512 secret long enough for HS256 only',
    yaml: withAuth('  hs: { type: jwt, secret: "${JWT_SECRET}", algorithms: [HS256, HS512] }'),
    env: { JWT_SECRET: 'x'.repeat(40) },
    expect: [{ path: 'authenticators.hs.secret', messageIncludes: 'is 40 bytes; HS512 needs at least 64' }],
  },
  {
    name: 'HS256 mixed with RS256, with a secret: one message',
    yaml: withAuth('  hs: { type: jwt, secret: "${JWT_SECRET}", algorithms: [HS256, RS256] }'),
    env: { JWT_SECRET: 'x'.repeat(32) },
    expect: [{ path: 'authenticators.hs.algorithms', messageIncludes: 'do not mix HS* with public-key algorithms in one authenticator (key confusion)' }],
  },
  {
    name: 'HS256 mixed with RS256, with a JWKS: one message',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256, HS256] }'),
    expect: [{ path: 'authenticators.staff-jwt.algorithms', messageIncludes: 'do not mix HS* with public-key algorithms' }],
  },
  {
    name: 'HS256 with a JWKS and no secret',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [HS256] }'),
    expect: [{ path: 'authenticators.staff-jwt.algorithms', messageIncludes: 'HS* algorithms need `secret`' }],
  },
  {
    name: 'a secret with a public-key algorithm',
    yaml: withAuth('  hs: { type: jwt, secret: "${JWT_SECRET}", algorithms: [RS256] }'),
    env: { JWT_SECRET: 'x'.repeat(32) },
    expect: [{ path: 'authenticators.hs.algorithms', messageIncludes: 'a shared secret works only with HS256, HS384 or HS512' }],
  },
  {
    name: 'discovery with a list of issuers',
    yaml: withAuth('  oidc: { type: jwt, issuer: ["https://a.example.com/", "https://b.example.com/"], discovery: "https://a.example.com/.well-known/openid-configuration", algorithms: [RS256] }'),
    expect: [{ path: 'authenticators.oidc.issuer', messageIncludes: 'discovery needs the expected issuer (one string)' }],
  },
  {
    name: 'discovery without an issuer',
    yaml: withAuth('  oidc: { type: jwt, discovery: "https://a.example.com/.well-known/openid-configuration", algorithms: [RS256] }'),
    expect: [{ path: 'authenticators.oidc.issuer', messageIncludes: 'discovery needs the expected issuer (one string)' }],
  },
  {
    name: 'a jwksUri that is not a URL',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://", algorithms: [RS256] }'),
    expect: [{ path: 'authenticators.staff-jwt.jwksUri', messageIncludes: '"https://" is not a URL' }],
  },
  {
    name: 'an unreadable keys file',
    yaml: withAuth('  local: { type: jwt, keys: missing.jwks.json, algorithms: [ES256] }'),
    expect: [{ path: 'authenticators.local.keys', messageIncludes: 'cannot read missing.jwks.json: ENOENT' }],
  },
  {
    name: 'a keys file that is neither JWKS nor PEM',
    yaml: withAuth('  local: { type: jwt, keys: garbage.txt, algorithms: [ES256] }'),
    expect: [{ path: 'authenticators.local.keys', messageIncludes: 'garbage.txt: expected a JWKS (JSON) or a PEM public key or certificate' }],
  },
  {
    name: 'a keys file that is JSON but not a JWKS',
    yaml: withAuth('  local: { type: jwt, keys: not-jwks.json, algorithms: [ES256] }'),
    expect: [{ path: 'authenticators.local.keys', messageIncludes: 'not-jwks.json: not a JWKS: no "keys" array' }],
  },
  {
    name: 'a keys file with private key material',
    yaml: withAuth('  local: { type: jwt, keys: private.jwks.json, algorithms: [ES256] }'),
    expect: [{ path: 'authenticators.local.keys', messageIncludes: 'holds private or secret key material' }],
  },
  {
    name: 'a PEM private key as keys',
    yaml: withAuth('  local: { type: jwt, keys: api-key.pem, algorithms: [ES256] }'),
    expect: [{ path: 'authenticators.local.keys', messageIncludes: 'api-key.pem: is a private key' }],
  },
  {
    name: 'keys that fit none of the algorithms',
    yaml: withAuth('  a: { type: jwt, keys: es256.jwks.json, algorithms: [RS256] }\n  b: { type: jwt, keys: api.pem, algorithms: [RS256, PS256] }'),
    expect: [
      { path: 'authenticators.a.keys', messageIncludes: 'es256.jwks.json: has no public signing key for RS256' },
      { path: 'authenticators.b.keys', messageIncludes: 'api.pem: the key fits none of the algorithms RS256, PS256' },
    ],
  },
  {
    name: 'build errors of an authenticator whose name is not a plain word',
    yaml: withAuth('  staff.jwt: { type: jwt, keys: missing.jwks.json, algorithms: [ES256] }\n  9hs: { type: jwt, secret: "${JWT_SECRET}", algorithms: [HS256] }', '    auth: [staff.jwt, 9hs]'),
    env: { JWT_SECRET: 'short' },
    expect: [
      { path: 'authenticators["staff.jwt"].keys', messageIncludes: 'cannot read missing.jwks.json' },
      { path: 'authenticators["9hs"].secret', messageIncludes: 'is 5 bytes' },
    ],
  },
  {
    name: 'a token read from a header and a cookie',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256], token: { header: authorization, cookie: session } }'),
    expect: [{ path: 'authenticators.staff-jwt.token', messageIncludes: 'name either a header or a cookie, not both' }],
  },
  {
    name: 'a misspelt jwt key, with a suggestion',
    yaml: withAuth('  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256], audiance: orders-api }'),
    expect: [{ path: 'authenticators.staff-jwt.audiance', messageIncludes: 'unknown key (did you mean "audience"?)' }],
  },
  {
    name: 'introspection clientSecret written in the file',
    yaml: withAuth('  intro: { type: introspection, endpoint: "https://id.example.com/oauth2/introspect", clientId: gateway, clientSecret: hunter2 }'),
    expect: [{ path: 'authenticators.intro.clientSecret', messageIncludes: 'clientSecret must come from an environment variable' }],
  },
  {
    name: 'introspection endpoint that is not http(s)',
    yaml: withAuth('  intro: { type: introspection, endpoint: "ftp://id.example.com/introspect", clientId: gateway, clientSecret: "${INTROSPECTION_SECRET}" }'),
    env: { INTROSPECTION_SECRET: 's3cret' },
    expect: [{ path: 'authenticators.intro.endpoint', messageIncludes: 'must be an http:// or https:// URL, got "ftp://id.example.com/introspect"' }],
  },
  {
    name: 'introspection endpoint that is not a URL, or carries credentials',
    yaml: withAuth([
      '  a: { type: introspection, endpoint: "https://id example.com/introspect", clientId: gateway, clientSecret: "${INTROSPECTION_SECRET}" }',
      '  b: { type: introspection, endpoint: "https://gw:pw@id.example.com/introspect", clientId: gateway, clientSecret: "${INTROSPECTION_SECRET}" }',
    ].join('\n')),
    env: { INTROSPECTION_SECRET: 's3cret' },
    expect: [
      { path: 'authenticators.a.endpoint', messageIncludes: 'is not a URL' },
      { path: 'authenticators.b.endpoint', messageIncludes: 'must not carry credentials' },
    ],
  },
  {
    name: 'introspection without clientId',
    yaml: withAuth('  intro: { type: introspection, endpoint: "https://id.example.com/oauth2/introspect", clientSecret: "${INTROSPECTION_SECRET}" }'),
    env: { INTROSPECTION_SECRET: 's3cret' },
    expect: [{ path: 'authenticators.intro.clientId', messageIncludes: 'is required' }],
  },
  {
    name: 'apiKey with a malformed keyHash',
    yaml: withAuth('  keys: { type: apiKey, consumers: [{ id: acme, keyHash: "md5:0cc175b9c0f1b6a831c399e269772661" }] }'),
    expect: [{
      path: 'authenticators.keys.consumers[0].keyHash',
      messageIncludes: 'must be "sha256:" or "hmac-sha256:" and 64 lower-case hex digits, as `portcullis keys new` prints it, got "md5:',
    }],
  },
  {
    name: 'apiKey with upper-case hex in the keyHash',
    yaml: withAuth(`  keys: { type: apiKey, consumers: [{ id: acme, keyHash: "sha256:${'A'.repeat(64)}" }] }`),
    expect: [{ path: 'authenticators.keys.consumers[0].keyHash', messageIncludes: 'must be "sha256:" or "hmac-sha256:"' }],
  },
  {
    name: 'duplicate consumer ids, and one key given to two consumers',
    yaml: withAuth(`  keys:
    type: apiKey
    consumers:
      - { id: acme, keyHash: "${hash('a')}" }
      - { id: acme, keyHash: "${hash('b')}" }
      - { id: globex, keyHash: "${hash('a')}" }`),
    expect: [
      { path: 'authenticators.keys.consumers[1].id', messageIncludes: '"acme" is listed twice' },
      { path: 'authenticators.keys.consumers[2].keyHash', messageIncludes: 'the same key is given to two consumers' },
    ],
  },
  {
    name: 'an hmac-sha256 hash without a pepper',
    yaml: withAuth(`  keys: { type: apiKey, consumers: [{ id: acme, keyHash: "hmac-sha256:${'c'.repeat(64)}" }] }`),
    expect: [{ path: 'authenticators.keys.consumers[0].keyHash', messageIncludes: 'hmac-sha256 hashes need `pepper`' }],
  },
  {
    name: 'a sha256 hash next to a pepper',
    yaml: withAuth(`  keys: { type: apiKey, pepper: "\${API_KEY_PEPPER}", consumers: [{ id: acme, keyHash: "${hash('a')}" }] }`),
    env: { API_KEY_PEPPER: 'p'.repeat(32) },
    expect: [{ path: 'authenticators.keys.consumers[0].keyHash', messageIncludes: 'with a pepper every keyHash must be hmac-sha256:' }],
  },
  {
    name: 'a pepper written in the file',
    yaml: withAuth(`  keys: { type: apiKey, pepper: "a-pepper-in-the-config-file", consumers: [{ id: acme, keyHash: "hmac-sha256:${'c'.repeat(64)}" }] }`),
    expect: [{ path: 'authenticators.keys.pepper', messageIncludes: 'pepper must come from an environment variable' }],
  },
  {
    name: 'mtls without server.https.clientCertificates',
    yaml: withAuth('  internal-mtls: { type: mtls, subjects: ["CN=billing-service"] }'),
    expect: [{ path: 'authenticators.internal-mtls', messageIncludes: 'needs server.https.clientCertificates' }],
  },
  {
    name: 'mtls with neither subjects nor sans',
    yaml: withAuth('  internal-mtls: { type: mtls, subjects: [] }', undefined, MTLS_SERVER),
    expect: [{ path: 'authenticators.internal-mtls', messageIncludes: 'list the allowed subjects or sans' }],
  },
  {
    name: 'an mtls subject that is not a distinguished name',
    yaml: withAuth('  internal-mtls: { type: mtls, subjects: [billing-service] }', undefined, MTLS_SERVER),
    expect: [{ path: 'authenticators.internal-mtls.subjects[0]', messageIncludes: 'must look like "CN=name"' }],
  },
  {
    name: 'an unreadable clientCertificates.ca',
    yaml: withAuth('  internal-mtls: { type: mtls, subjects: ["CN=billing-service"] }', undefined, MTLS_SERVER.replace('ca: ca.pem', 'ca: missing-ca.pem')),
    expect: [{ path: 'server.https.clientCertificates.ca', messageIncludes: 'cannot use missing-ca.pem: ENOENT' }],
  },
  {
    name: 'a clientCertificates.ca that holds no certificate',
    yaml: config({ server: MTLS_SERVER.replace('ca: ca.pem', 'ca: garbage.txt') }),
    expect: [{ path: 'server.https.clientCertificates.ca', messageIncludes: 'cannot use garbage.txt: no PEM certificate in it' }],
  },
  {
    name: 'an unknown clientCertificates mode',
    yaml: config({ server: MTLS_SERVER.replace('ca: ca.pem', 'ca: ca.pem, mode: require') }),
    expect: [{ path: 'server.https.clientCertificates.mode', messageIncludes: 'must be one of "optional", "required", got the string "require" (did you mean "required"?)' }],
  },
  {
    name: 'an authenticator named public',
    yaml: withAuth('  public: { type: mtls, subjects: ["CN=billing-service"] }', undefined, MTLS_SERVER),
    expect: [{ path: 'authenticators.public', messageIncludes: '"public" is reserved' }],
  },
  {
    name: 'an authenticator name that is not a valid name',
    yaml: withAuth('  "staff jwt": { type: mtls, subjects: ["CN=billing-service"] }', undefined, MTLS_SERVER),
    expect: [{ path: 'authenticators["staff jwt"]', messageIncludes: '"staff jwt" is not a valid name' }],
  },
  {
    name: 'type: signature without components, with a key file that is not there',
    yaml: withAuth('  partner-signatures: { type: signature, keys: keys/partners.jwks.json, maxAge: 5m }'),
    expect: [{ path: 'authenticators.partner-signatures.components', messageIncludes: 'is required' }],
  },
  {
    name: 'type: signature with a key file that cannot be read',
    yaml: withAuth('  partner-signatures: { type: signature, keys: keys/none.jwks.json, components: ["@method"] }'),
    expect: [{ path: 'authenticators.partner-signatures.keys', messageIncludes: 'cannot read keys/none.jwks.json: ENOENT' }],
  },
  {
    name: 'type: signature with an HMAC secret written in the file',
    yaml: withAuth('  partner-signatures: { type: signature, secrets: { partner-a: "0123456789abcdef0123456789abcdef" }, components: ["@method"] }'),
    expect: [{ path: 'authenticators.partner-signatures.secrets.partner-a', messageIncludes: 'must come from an environment variable' }],
  },
  {
    name: 'type: signature with an HMAC secret from the environment that is too short',
    yaml: withAuth('  partner-signatures: { type: signature, secrets: { partner-a: "${PARTNER_A_SECRET}" }, components: ["@method"] }'),
    env: { PARTNER_A_SECRET: 'too-short' },
    expect: [{ path: 'authenticators.partner-signatures.secrets.partner-a', messageIncludes: 'is 9 bytes; hmac-sha256 needs at least 32' }],
  },
  {
    name: 'type: signature with neither keys nor secrets, a bad nonce mode and a bad component',
    yaml: withAuth('  partner-signatures: { type: signature, components: ["@method", "Content-Digest"], nonce: always }'),
    expect: [
      { path: 'authenticators.partner-signatures.components[1]', messageIncludes: 'must match' },
      { path: 'authenticators.partner-signatures.nonce', messageIncludes: '"optional", "required"' },
    ],
  },
  {
    name: 'an unknown authenticator type: one message, at type',
    yaml: withAuth('  x: { type: oauth2, endpoint: "https://id.example.com/" }'),
    expect: [{ path: 'authenticators.x.type', messageIncludes: 'must be one of "jwt", "introspection", "apiKey", "mtls", "signature", got the string "oauth2"' }],
  },
  {
    name: 'a misspelt authenticator type, with a suggestion',
    yaml: withAuth('  x: { type: apikey, consumers: [] }'),
    expect: [{ path: 'authenticators.x.type', messageIncludes: 'got the string "apikey" (did you mean "apiKey"?)' }],
  },
  {
    name: 'an authenticator without a type',
    yaml: withAuth('  x: { jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256] }'),
    expect: [{ path: 'authenticators.x.type', messageIncludes: 'is required: one of "jwt", "introspection", "apiKey", "mtls", "signature"' }],
  },
  {
    name: 'an authenticator that is not a mapping',
    yaml: withAuth('  x: jwt'),
    expect: [{ path: 'authenticators.x', messageIncludes: 'must be a mapping with a type (one of "jwt", "introspection", "apiKey", "mtls", "signature"), got the string "jwt"' }],
  },
  {
    name: 'errors in two authenticators of different types, each at its own path',
    yaml: withAuth([
      '  staff-jwt: { type: jwt, jwksUri: "https://id.example.com/jwks.json", algorithms: [RS256], clockTolerance: 30 }',
      '  keys: { type: apiKey, in: cookie, consumers: [] }',
    ].join('\n')),
    expect: [
      { path: 'authenticators.staff-jwt.clockTolerance', messageIncludes: 'must be a duration string such as "30s", got number 30' },
      { path: 'authenticators.keys.in', messageIncludes: 'must be one of "header", "query", got the string "cookie"' },
    ],
  },

  // --- route auth, authorize and transform ---
  {
    name: 'an unknown authenticator in a route, with a suggestion',
    yaml: withAuth(JWT, '    auth: [staff-jtw]'),
    expect: [{ path: 'routes[0].auth[0]', messageIncludes: 'unknown authenticator "staff-jtw" (did you mean "staff-jwt"?)' }],
  },
  {
    name: 'public combined with an authenticator',
    yaml: withAuth(JWT, '    auth: [staff-jwt, public]'),
    expect: [{ path: 'routes[0].auth[1]', messageIncludes: '"public" cannot be combined with authenticators' }],
  },
  {
    name: 'the same authenticator twice',
    yaml: withAuth(JWT, '    auth: [staff-jwt, staff-jwt]'),
    expect: [{ path: 'routes[0].auth[1]', messageIncludes: '"staff-jwt" is listed twice' }],
  },
  {
    name: 'a broken authenticator is reported once, at its own path',
    yaml: withAuth('  staff-jwt: { type: jwt, algorithms: [RS256] }', '    auth: staff-jwt'),
    expect: [{ path: 'authenticators.staff-jwt', messageIncludes: 'needs exactly one key source' }],
  },
  {
    name: 'authorize on a public route',
    yaml: withAuth(JWT, '    auth: public\n    authorize: { scopes: [orders:read] }'),
    expect: [{ path: 'routes[0].authorize', messageIncludes: 'needs authentication: a route with auth: public has no identity to authorize' }],
  },
  {
    name: 'authorize with an unknown key and a bad claim value',
    yaml: withAuth(JWT, '    auth: staff-jwt\n    authorize: { scope: [orders:read], claims: { tenant: { name: acme } } }'),
    expect: [
      { path: 'routes[0].authorize.scope', messageIncludes: 'unknown key (did you mean "scopes"?)' },
      { path: 'routes[0].authorize.claims.tenant', messageIncludes: 'must be a string, a number, true or false or a list' },
    ],
  },
  {
    name: 'an unknown template variable, with a suggestion',
    yaml: withAuth(JWT, '    auth: staff-jwt\n    transform: { request: { setHeaders: { x-consumer-id: "${consumr.id}" } } }'),
    expect: [{
      path: 'routes[0].transform.request.setHeaders.x-consumer-id',
      messageIncludes: 'unknown template variable ${consumr.id} (did you mean "consumer.id"?); use consumer.id, consumer.subject',
    }],
  },
  {
    name: 'a malformed template',
    yaml: withAuth(JWT, '    auth: staff-jwt\n    transform: { response: { setHeaders: { x-user: "${claims.sub" } } }'),
    expect: [{ path: 'routes[0].transform.response.setHeaders.x-user', messageIncludes: 'has a malformed ${...} template' }],
  },
  {
    name: 'headers the gateway manages cannot be set or removed',
    yaml: withAuth(JWT, `    auth: staff-jwt
    transform:
      request:
        setHeaders: { host: backend.internal, Content-Length: "0", x-forwarded-for: "\${client.ip}" }
        removeHeaders: [x-request-id, transfer-encoding, cookie]
      response:
        setHeaders: { x-request-id: "\${request.id}" }
        removeHeaders: [server, connection]`),
    expect: [
      { path: 'routes[0].transform.request.setHeaders.host', messageIncludes: '"host" is managed by the gateway' },
      { path: 'routes[0].transform.request.setHeaders.Content-Length', messageIncludes: '"Content-Length" is managed by the gateway' },
      { path: 'routes[0].transform.request.setHeaders.x-forwarded-for', messageIncludes: 'is managed by the gateway' },
      { path: 'routes[0].transform.request.removeHeaders[0]', messageIncludes: '"x-request-id" is managed by the gateway' },
      { path: 'routes[0].transform.request.removeHeaders[1]', messageIncludes: '"transfer-encoding" is managed by the gateway' },
      { path: 'routes[0].transform.response.setHeaders.x-request-id', messageIncludes: 'is managed by the gateway' },
      { path: 'routes[0].transform.response.removeHeaders[1]', messageIncludes: '"connection" is managed by the gateway' },
    ],
  },
  {
    name: 'a header set twice in different letter case',
    yaml: withAuth(JWT, '    auth: staff-jwt\n    transform: { request: { setHeaders: { X-Tenant: a, x-tenant: b } } }'),
    expect: [{ path: 'routes[0].transform.request.setHeaders.x-tenant', messageIncludes: '"X-Tenant" is already set (header names are case-insensitive)' }],
  },
  {
    name: 'header names that are not tokens',
    yaml: withAuth(JWT, '    auth: staff-jwt\n    transform: { request: { setHeaders: { "x tenant": a }, removeHeaders: ["x:y"] } }'),
    expect: [
      { path: 'routes[0].transform.request.setHeaders["x tenant"]', messageIncludes: '"x tenant" is not a valid header name' },
      { path: 'routes[0].transform.request.removeHeaders[0]', messageIncludes: 'is not a valid header name' },
    ],
  },
  {
    name: 'an unknown transform key',
    yaml: withAuth(JWT, '    auth: staff-jwt\n    transform: { request: { addHeaders: { x-a: b } } }'),
    expect: [{ path: 'routes[0].transform.request.addHeaders', messageIncludes: 'unknown key' }],
  },

  // --- environment variables ---
  {
    name: 'a missing variable is an error, never an empty string',
    yaml: config({ server: 'server:\n  http:\n    host: ${BIND_HOST}\n    port: 0\n    redirectToHttps: false' }),
    expect: [{ path: 'server.http.host', messageIncludes: 'environment variable BIND_HOST is not set' }],
  },
  {
    name: 'missing variables in a list and inside a string',
    yaml: config({
      upstreams: 'upstreams:\n  orders-v1: { targets: ["http://${ORDERS_HOST}:9001"] }\n  orders-v2: { targets: ["http://127.0.0.1:9002"] }',
      server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  trustedProxies: ["${LB_CIDR}"]',
    }),
    expect: [
      { path: 'upstreams.orders-v1.targets[0]', messageIncludes: 'environment variable ORDERS_HOST is not set' },
      { path: 'server.trustedProxies[0]', messageIncludes: 'environment variable LB_CIDR is not set' },
    ],
  },
  {
    name: 'an environment value that is not a number where one is required',
    yaml: config({ server: 'server:\n  http:\n    host: 127.0.0.1\n    port: ${PORT}\n    redirectToHttps: false' }),
    env: { PORT: 'http' },
    expect: [{ path: 'server.http.port', messageIncludes: 'must be an integer, got the string "http" from the environment' }],
  },
  {
    name: 'an unquoted ${...} inside a flow mapping',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: ${PORT}, redirectToHttps: false }' }),
    env: { PORT: '8081' },
    expect: [{ path: '', messageIncludes: 'quote a value that uses ${...}' }],
  },

  // --- several problems in one file: all of them, each at its path ---
  {
    name: 'several schema errors at once',
    yaml: `
server:
  http: { host: 127.0.0.1, port: 99999, redirectToHttps: false }
  limits: { maxBodyBytes: lots }
loging: {}
upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9001"], timeout: 5 }
routes:
  - name: a
    match: { path: /a }
    upstream: orders-v1
  - name: b
    match: { path: /b }
    auth: public
    upstream: orders-v1
    rateLimit: []
`,
    expect: [
      { path: 'server.http.port', messageIncludes: 'must be at most 65535' },
      { path: 'server.limits.maxBodyBytes', messageIncludes: 'must be a size' },
      { path: 'loging', messageIncludes: 'did you mean "logging"' },
      { path: 'upstreams.orders-v1.timeout', messageIncludes: 'must be a duration' },
      { path: 'routes[0].auth', messageIncludes: 'is required' },
      { path: 'routes[1].rateLimit', messageIncludes: 'must have at least 1 item' },
    ],
  },
  {
    name: 'several semantic errors at once',
    yaml: `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  trustedProxies: [10.0.0.0/8, 10.0.0.0/33]
upstreams:
  orders-v1: { targets: ["http://127.0.0.1:9001", "ftp://127.0.0.1", "http://127.0.0.1:9003/api"] }
routes:
  - name: a
    match: { path: /a/*/b }
    auth: public
    upstream: orders-v1
  - name: a
    match: { path: /b }
    auth: jwt
    upstream: order-v1
`,
    expect: [
      { path: 'server.trustedProxies[1]', messageIncludes: '"10.0.0.0/33" has an invalid prefix length' },
      { path: 'upstreams.orders-v1.targets[1]', messageIncludes: 'must use http:// or https://' },
      { path: 'upstreams.orders-v1.targets[2]', messageIncludes: 'must be an origin (scheme://host:port) without a path' },
      { path: 'routes[0].match.path', messageIncludes: '"*" is allowed only as a final "/*"' },
      { path: 'routes[1].name', messageIncludes: 'already the name of routes[0]' },
      { path: 'routes[1].auth', messageIncludes: 'unknown authenticator "jwt"' },
      { path: 'routes[1].upstream', messageIncludes: 'unknown upstream "order-v1" (did you mean "orders-v1"?)' },
    ],
  },
  {
    name: 'a missing variable next to schema errors',
    yaml: config({ server: 'server:\n  http:\n    host: ${BIND_HOST}\n    port: -1\n    redirectToHttps: false' }),
    expect: [
      { path: 'server.http.host', messageIncludes: 'environment variable BIND_HOST is not set' },
      { path: 'server.http.port', messageIncludes: 'must be at least 0' },
    ],
  },

  // --- trusted proxies ---
  {
    name: 'invalid trustedProxies entries',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }\n  trustedProxies: [10.0.0.0/8, "::1/129", proxy.internal, 10.0.0.0/x]' }),
    expect: [
      { path: 'server.trustedProxies[1]', messageIncludes: '"::1/129" has an invalid prefix length' },
      { path: 'server.trustedProxies[2]', messageIncludes: '"proxy.internal" is not an IP address or CIDR' },
      { path: 'server.trustedProxies[3]', messageIncludes: '"10.0.0.0/x" has an invalid prefix length' },
    ],
  },

  // --- listeners ---
  {
    name: 'no listener',
    yaml: config({ server: 'server:\n  trustedProxies: []' }),
    expect: [{ path: 'server', messageIncludes: 'needs at least one listener: server.https or server.http' }],
  },
  {
    name: 'redirect to https without https',
    yaml: config({ server: 'server:\n  http: { host: 127.0.0.1, port: 0 }' }),
    expect: [{ path: 'server.http.redirectToHttps', messageIncludes: 'server.https is not configured; set redirectToHttps: false' }],
  },
  {
    name: 'unreadable certificate files',
    yaml: config({
      server: `server:
  https:
    port: 0
    certificates:
      - { cert: missing/api.pem, key: missing/api-key.pem }`,
    }),
    expect: [{ path: 'server.https.certificates[0].cert', messageIncludes: 'cannot read missing/api.pem: ENOENT' }],
  },
  {
    name: 'an empty certificate list',
    yaml: config({ server: 'server:\n  https: { port: 0, certificates: [] }' }),
    expect: [{ path: 'server.https.certificates', messageIncludes: 'must have at least 1 item' }],
  },

  // --- YAML itself ---
  {
    name: 'a YAML syntax error: one message, not a cascade',
    yaml: 'server:\n  http: { host: 127.0.0.1, port: 0\nupstreams: {}\nroutes: []\n',
    expect: [{ path: '', messageIncludes: 'YAML syntax error at line 3, column 1' }],
  },
  {
    name: 'duplicate keys: every one, named',
    yaml: config({ extra: 'logging: { level: info }\nlogging: { level: debug }\ntracing: { otlpEndpoint: "", otlpEndpoint: "" }' }),
    expect: [
      { path: '', messageIncludes: 'YAML error at line 20, column 1: duplicate key "logging"' },
      { path: '', messageIncludes: 'line 21, column 30: duplicate key "otlpEndpoint"' },
    ],
  },
  {
    name: 'a document that is not a mapping',
    yaml: '- server\n- routes\n',
    expect: [{ path: '', messageIncludes: 'the config must be a YAML mapping' }],
  },
  {
    name: 'an empty document',
    yaml: '# nothing here\n',
    expect: [{ path: '', messageIncludes: 'the config must be a YAML mapping' }],
  },
];

/**
 * The directory every case is built in (relative paths resolve against it): a CA (ca.pem), a server
 * certificate (api.pem, api-key.pem: EC P-256), an ES256 JWKS, and files that are no key at all.
 */
async function makeFixtures(): Promise<CertFiles> {
  const certs = await makeCerts({ api: ['api.example.com'] });
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
  const priv = { ...privateKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' };
  await writeFile(path.join(certs.dir, 'es256.jwks.json'), JSON.stringify({ keys: [pub] }));
  await writeFile(path.join(certs.dir, 'private.jwks.json'), JSON.stringify({ keys: [priv] }));
  await writeFile(path.join(certs.dir, 'not-jwks.json'), JSON.stringify({ issuer: 'https://id.example.com/' }));
  await writeFile(path.join(certs.dir, 'garbage.txt'), 'not a key\n');
  return certs;
}

describe('config errors name their exact path', () => {
  let fixtures: CertFiles;
  before(async () => {
    fixtures = await makeFixtures();
  });
  after(() => fixtures.cleanup());

  for (const c of cases) {
    it(c.name, async () => {
      check(await issuesOf(c.yaml, c.env, fixtures.dir), c.expect);
    });
  }

  it('the base config of this table is valid', async () => {
    check(await issuesOf(config()), []);
  });

  it('the valid forms of every authenticator, route auth, authorize and transform build', async () => {
    const yaml = withAuth(
      [
        JWT,
        '  hs: { type: jwt, secret: "${JWT_SECRET}", algorithms: [HS256, HS384], token: { cookie: session } }',
        '  local-jwks: { type: jwt, keys: es256.jwks.json, algorithms: [ES256], cache: false }',
        '  local-pem: { type: jwt, keys: api.pem, algorithms: [ES256, RS256], cache: { ttl: 1m, maxEntries: 10 } }',
        '  oidc: { type: jwt, issuer: "https://id.example.com/", discovery: "https://id.example.com/.well-known/openid-configuration", algorithms: [RS256] }',
        '  intro: { type: introspection, endpoint: "https://id.example.com/oauth2/introspect", clientId: gateway, clientSecret: "${INTROSPECTION_SECRET}", clientAuth: post, onError: unauthorized }',
        `  keys: { type: apiKey, in: query, name: key, pepper: "\${API_KEY_PEPPER}", consumers: [{ id: acme, keyHash: "hmac-sha256:${'c'.repeat(64)}", scopes: [orders:read], metadata: { tier: gold } }] }`,
        '  internal-mtls: { type: mtls, sans: ["DNS:billing.internal"] }',
      ].join('\n'),
      `    auth: [staff-jwt, hs, local-jwks, local-pem, oidc, intro, keys, internal-mtls]
    authorize: { scopes: [orders:read], roles: [admin], groups: [partners], claims: { tenant: acme, tier: [gold, silver], level: 3 } }
    transform:
      request:
        setHeaders: { x-consumer-id: "\${consumer.id}", x-tier: "\${claims.tier}", x-route: "route \${route.name} for \${client.ip}" }
        removeHeaders: [cookie]
      response:
        setHeaders: { x-served-by: portcullis }
        removeHeaders: [server, x-powered-by]`,
      MTLS_SERVER,
    );
    const env = { JWT_SECRET: 'x'.repeat(48), INTROSPECTION_SECRET: 's3cret', API_KEY_PEPPER: 'p'.repeat(32) };
    check(await issuesOf(yaml, env, fixtures.dir), []);
    const gw = await buildGatewayFromText(yaml, { env, baseDir: fixtures.dir });
    try {
      const route = gw.routes[0];
      assert.deepEqual(route?.stages.map((st) => st.name), ['authenticate', 'authorize']);
      assert.deepEqual(route?.transform?.requestSet.map(([name]) => name), ['x-consumer-id', 'x-tier', 'x-route']);
      assert.deepEqual([...(route?.transform?.requestDrop ?? [])].sort(), ['cookie', 'x-consumer-id', 'x-route', 'x-tier']);
      assert.equal(gw.settings.https?.clientCertificates?.required, false);
    } finally {
      await gw.close();
    }
  });

  it('the valid forms of rate limits, brute force and the store build, in the fixed stage order', async () => {
    const keyHash = hash('a');
    const yaml = config({
      routes: `routes:
  - name: keyed
    match: { path: /keyed }
    auth: keys
    upstream: orders-v1
  - name: own-identity
    match: { path: /own }
    auth: keys
    upstream: orders-v1
    rateLimit:
      - { by: [consumer, route], limit: 10, per: 1m, name: per-route }
      - { by: "claim:tier", limit: 5, per: 1s, algorithm: sliding-window }
  - name: own-ip
    match: { path: /own-ip }
    auth: keys
    upstream: orders-v1
    rateLimit: [{ by: ip, limit: 5, per: 1s, burst: 5 }]
  - name: open
    match: { path: /open }
    auth: public
    upstream: orders-v1
    mode: shadow`,
      extra: `authenticators:
  keys: { type: apiKey, consumers: [{ id: acme, keyHash: "${keyHash}" }] }
store:
  type: redis
  redis: { url: "redis://127.0.0.1:1", timeout: 20ms, onError: closed, instances: 3, keyPrefix: "edge:" }
defaults:
  rateLimit:
    - { by: ip, limit: 50, per: 1s }
    - { by: [apiKey, "header:x-tenant"], limit: 1000, per: 1h, burst: 100, name: tenant }
  bruteForce: { maxFailures: 20, per: 1m, ban: 10m }`,
    });
    check(await issuesOf(yaml, {}, fixtures.dir), []);
    const gw = await buildGatewayFromText(yaml, { env: {} });
    try {
      assert.equal(gw.store.kind, 'redis');
      const stages = (name: string) => gw.routes.find((r) => r.name === name)?.stages ?? [];
      const policies = (name: string, stage: string) =>
        (stages(name).find((s) => s.name === stage) as unknown as { policyHeader: string } | undefined)?.policyHeader;
      // Defaults' ip-only entries guard every route before authentication; their other entries apply after it.
      assert.deepEqual(stages('keyed').map((s) => s.name), ['abuse-guard', 'pre-auth-limit', 'authenticate', 'rate-limit']);
      assert.equal(policies('keyed', 'pre-auth-limit'), '"default-0";q=50;w=1');
      assert.equal(policies('keyed', 'rate-limit'), '"tenant";q=1000;w=3600');
      // A route's own rateLimit replaces the defaults' identity entries; the ip guard stays.
      assert.deepEqual(stages('own-identity').map((s) => s.name), ['abuse-guard', 'pre-auth-limit', 'authenticate', 'rate-limit']);
      assert.equal(policies('own-identity', 'pre-auth-limit'), '"default-0";q=50;w=1');
      assert.equal(policies('own-identity', 'rate-limit'), '"per-route";q=10;w=60, "own-identity-1";q=5;w=1');
      // A route's own ip-only entries replace the guard; having its own rateLimit, it has no identity limits.
      assert.deepEqual(stages('own-ip').map((s) => s.name), ['abuse-guard', 'pre-auth-limit', 'authenticate']);
      assert.equal(policies('own-ip', 'pre-auth-limit'), '"own-ip-0";q=5;w=1');
      assert.deepEqual(stages('open').map((s) => s.name), ['abuse-guard', 'pre-auth-limit', 'rate-limit']);
      assert.deepEqual(stages('open').map((s) => s.mode), ['shadow', 'shadow', 'shadow']);
    } finally {
      await gw.close();
    }
  });

  it('store.maxKeys sets the memory store cap (default 100,000)', async () => {
    for (const [extra, cap] of [['store: { type: memory, maxKeys: 5000 }', 5000], ['', 100_000]] as const) {
      const gw = await buildGatewayFromText(config({ extra }), { env: {} });
      try {
        assert.equal((gw.store as unknown as { maxKeys: number }).maxKeys, cap);
      } finally {
        await gw.close();
      }
    }
  });

  it('reports every error in the thrown message, one per line, under the source name', async () => {
    try {
      await buildGatewayFromText(oneRoute('\n    match: { path: a }\n    auth: jwt\n    upstream: orders-v1'), { env: {}, source: 'gw.yaml' });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(
        err.message,
        'invalid config gw.yaml:\n' +
          '  routes[0].auth: unknown authenticator "jwt"\n' +
          '  routes[0].match.path: must start with "/"',
      );
    }
  });
});

describe('certificate files', () => {
  let certs: CertFiles;
  before(async () => {
    certs = await makeCerts({ api: ['api.example.com'] });
    await writeFile(path.join(certs.dir, 'garbage.pem'), 'not a certificate\n');
  });
  after(() => certs.cleanup());

  const https = (cert: string, key: string): string =>
    config({ server: `server:\n  https:\n    port: 0\n    certificates:\n      - { cert: "${cert}", key: "${key}" }` });

  it('names the key when only the key is unreadable', async () => {
    check(await issuesOf(https('api.pem', 'nope-key.pem'), {}, certs.dir), [
      { path: 'server.https.certificates[0].key', messageIncludes: 'cannot read nope-key.pem: ENOENT' },
    ]);
  });

  it('names the certificate when it is not PEM', async () => {
    check(await issuesOf(https('garbage.pem', 'api-key.pem'), {}, certs.dir), [
      { path: 'server.https.certificates[0].cert', messageIncludes: 'not a PEM certificate' },
    ]);
  });

  it('resolves relative paths against the config directory', async () => {
    check(await issuesOf(https('api.pem', 'api-key.pem'), {}, certs.dir), []);
  });
});
