/** Config of `routes[].websocket` and `upstreams.<name>.protocol`: defaults, and errors at their exact path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../config/errors.ts';
import { buildGatewayFromText } from '../config/gateway.ts';

function config(upstream: string, route: string): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: ${upstream}
routes:
  - name: ws
    match: { path: /ws }
    auth: public
    upstream: backend
${route}
`;
}

async function issues(yaml: string): Promise<{ path: string; message: string }[]> {
  try {
    const gw = await buildGatewayFromText(yaml);
    await gw.close();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => ({ path: i.path, message: i.message }));
    throw err;
  }
}

describe('websocket and protocol config', () => {
  const cases: { name: string; upstream: string; route: string; expect: { path: string; includes: string }[] }[] = [
    { name: 'websocket: true', upstream: '{ targets: [http://127.0.0.1:9] }', route: '    websocket: true', expect: [] },
    {
      name: 'websocket limits',
      upstream: '{ targets: [http://127.0.0.1:9] }',
      route: '    websocket: { idleTimeout: 30s, maxMessageBytes: 64kb, allowedOrigins: [https://app.example.com] }',
      expect: [],
    },
    {
      name: 'idle timeout too short',
      upstream: '{ targets: [http://127.0.0.1:9] }',
      route: '    websocket: { idleTimeout: 10ms }',
      expect: [{ path: 'routes[0].websocket.idleTimeout', includes: 'at least 100ms' }],
    },
    {
      name: 'unknown websocket key',
      upstream: '{ targets: [http://127.0.0.1:9] }',
      route: '    websocket: { maxFrameBytes: 1kb }',
      expect: [{ path: 'routes[0].websocket', includes: '' }],
    },
    {
      name: 'websocket route on an h2c upstream',
      upstream: '{ targets: [http://127.0.0.1:9], protocol: h2c }',
      route: '    websocket: true',
      expect: [{ path: 'routes[0].websocket', includes: 'HTTP/1.1 upstream' }],
    },
    {
      name: 'h2 needs https targets',
      upstream: '{ targets: [http://127.0.0.1:9], protocol: h2 }',
      route: '',
      expect: [{ path: 'upstreams.backend.protocol', includes: 'https://' }],
    },
    {
      name: 'h2c needs http targets',
      upstream: '{ targets: [https://127.0.0.1:9], protocol: h2c }',
      route: '',
      expect: [{ path: 'upstreams.backend.protocol', includes: 'http://' }],
    },
    { name: 'h2c upstream', upstream: '{ targets: [http://127.0.0.1:9], protocol: h2c }', route: '', expect: [] },
    { name: 'h2 upstream', upstream: '{ targets: [https://127.0.0.1:9], protocol: h2 }', route: '', expect: [] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const got = await issues(config(c.upstream, c.route));
      assert.equal(got.length, c.expect.length, JSON.stringify(got));
      c.expect.forEach((e, i) => {
        assert.ok(got[i]?.path.startsWith(e.path), JSON.stringify(got));
        assert.ok(got[i]?.message.includes(e.includes), JSON.stringify(got));
      });
    });
  }
});
