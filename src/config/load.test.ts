/**
 * Loading: ${ENV} substitution, defaults, escaping and env-typed values, on the parsed config.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from './errors.ts';
import { buildGatewayFromFile, buildGatewayFromText } from './gateway.ts';
import { loadConfigFile, parseConfigText } from './load.ts';

const rest = `
upstreams:
  orders-v1:
    targets: ["http://\${ORDERS_HOST:-127.0.0.1}:9001"]
routes:
  - name: orders
    match: { path: /orders/* }
    auth: public
    upstream: orders-v1
`;

function withHttp(lines: string): string {
  return `server:\n  http:\n${lines}\n${rest}`;
}

describe('environment variables', () => {
  it('replaces ${NAME} and types a whole-value reference where the schema wants a number or boolean', () => {
    const { raw } = parseConfigText(
      withHttp('    host: ${BIND}\n    port: ${PORT}\n    redirectToHttps: ${REDIRECT}'),
      { env: { BIND: '127.0.0.1', PORT: '8081', REDIRECT: 'false' } },
    );
    assert.equal(raw.server.http?.host, '127.0.0.1');
    assert.equal(raw.server.http?.port, 8081);
    assert.equal(raw.server.http?.redirectToHttps, false);
  });

  it('types a quoted reference the same way: only literal text stays a string', () => {
    const { raw } = parseConfigText(withHttp('    port: "${PORT}"\n    redirectToHttps: false'), { env: { PORT: '8081' } });
    assert.equal(raw.server.http?.port, 8081);
  });

  it('leaves a numeric value a string where the schema wants a string', () => {
    const { raw } = parseConfigText(
      `${withHttp('    port: 0\n    redirectToHttps: false')}    stripPrefix: \${STRIP}\n`.replace(
        'upstream: orders-v1',
        'upstream: { version: { header: api-version, default: "${V}", map: { "1": orders-v1 } } }',
      ),
      { env: { V: '1', STRIP: 'true' } },
    );
    const upstream = raw.routes[0]?.upstream;
    assert.ok(typeof upstream === 'object' && 'version' in upstream);
    assert.equal(upstream.version.default, '1');
    assert.equal(raw.routes[0]?.stripPrefix, true);
  });

  it('types a reference to a union of a boolean and an object (hsts: ${HSTS})', () => {
    const text = `server:\n  https:\n    certificates: [{ cert: a.pem, key: b.pem }]\n    hsts: \${HSTS}\n${rest}`;
    assert.equal(parseConfigText(text, { env: { HSTS: 'false' } }).raw.server.https?.hsts, false);
  });

  it('uses the default of ${NAME:-default} when the variable is unset or empty', () => {
    const text = withHttp('    host: ${BIND:-127.0.0.1}\n    port: ${PORT:-8080}\n    redirectToHttps: false');
    for (const env of [{}, { BIND: '', PORT: '' }]) {
      const { raw } = parseConfigText(text, { env });
      assert.equal(raw.server.http?.host, '127.0.0.1');
      assert.equal(raw.server.http?.port, 8080);
      assert.deepEqual(raw.upstreams['orders-v1']?.targets, ['http://127.0.0.1:9001']);
    }
    const { raw } = parseConfigText(text, { env: { BIND: '0.0.0.0', PORT: '9000', ORDERS_HOST: 'orders.internal' } });
    assert.equal(raw.server.http?.host, '0.0.0.0');
    assert.equal(raw.server.http?.port, 9000);
    assert.deepEqual(raw.upstreams['orders-v1']?.targets, ['http://orders.internal:9001']);
  });

  it('substitutes inside a longer string and keeps it a string', () => {
    const { raw } = parseConfigText(withHttp('    port: 0\n    redirectToHttps: false'), { env: { ORDERS_HOST: '10.1.2.3' } });
    assert.deepEqual(raw.upstreams['orders-v1']?.targets, ['http://10.1.2.3:9001']);
  });

  it('writes $${NAME} as a literal ${NAME}, without looking the variable up', () => {
    const text = withHttp('    port: 0\n    redirectToHttps: false') + 'logging:\n  accessLog: "/var/log/$${HOSTNAME}.log"\n';
    const { raw } = parseConfigText(text, { env: { HOSTNAME: 'gw-1' } });
    assert.equal(raw.logging?.accessLog, '/var/log/${HOSTNAME}.log');
  });

  it('an empty variable without a default is an empty string (it is set), checked by the schema', () => {
    assert.throws(
      () => parseConfigText(withHttp('    host: ${BIND}\n    port: 0\n    redirectToHttps: false'), { env: { BIND: '' } }),
      (err: unknown) => err instanceof ConfigError && err.issues.length === 1 && err.issues[0]?.path === 'server.http.host' && err.issues[0].message === 'must not be empty',
    );
  });

  it('leaves request templates with dots (${claims.sub}) alone', () => {
    const { raw } = parseConfigText(withHttp('    port: 0\n    redirectToHttps: false') + 'logging:\n  accessLog: "x-${claims.sub}.log"\n', { env: {} });
    assert.equal(raw.logging?.accessLog, 'x-${claims.sub}.log');
  });

  it('reads process.env when no env is given', () => {
    const name = `PCL_TEST_PORT_${process.pid}`;
    process.env[name] = '8082';
    try {
      const { raw } = parseConfigText(withHttp(`    port: \${${name}}\n    redirectToHttps: false`));
      assert.equal(raw.server.http?.port, 8082);
    } finally {
      delete process.env[name];
    }
  });
});

describe('config files', () => {
  it('resolves relative paths against the directory of the config file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-load-'));
    try {
      const file = path.join(dir, 'gw.yaml');
      await writeFile(file, withHttp('    port: 0\n    redirectToHttps: false'));
      const loaded = await loadConfigFile(file, {});
      assert.equal(loaded.baseDir, dir);
      assert.equal(loaded.source, file);
      const gw = await buildGatewayFromFile(file, {});
      assert.equal(gw.source, file);
      await gw.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resolves a relative access log path against the config directory; stdout and off stay', async () => {
    const base = withHttp('    port: 0\n    redirectToHttps: false');
    const cases: [string, string][] = [
      ['logs/access.log', path.join('/srv/gw', 'logs/access.log')],
      ['/var/log/gw.log', '/var/log/gw.log'],
      ['stdout', 'stdout'],
      ['"off"', 'off'],
    ];
    for (const [value, expected] of cases) {
      const gw = await buildGatewayFromText(`${base}logging:\n  accessLog: ${value}\n`, { env: {}, baseDir: '/srv/gw' });
      assert.equal(gw.settings.accessLog, expected);
      await gw.close();
    }
  });

  it('an unreadable file is a ConfigError naming the file', async () => {
    await assert.rejects(loadConfigFile('/nonexistent/portcullis.yaml', {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.issues[0]?.message ?? '', /^cannot read \/nonexistent\/portcullis\.yaml: ENOENT/);
      return true;
    });
  });
});
