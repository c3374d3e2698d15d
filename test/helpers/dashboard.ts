/**
 * Shared setup of the dashboard browser tests (dashboard.test.ts in Chromium, dashboard-firefox.test.ts
 * in Firefox): a real gateway with its admin listener, a real upstream, an API key, and a config file
 * the tests may rewrite to exercise a rejected reload.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { request } from 'undici';
import { DASHBOARD_DIST } from '../../src/admin/dashboard-assets.ts';
import type { newApiKey } from '../../src/auth/api-key.ts';
import { buildGateway } from '../../src/config/gateway.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import { GatewayServer } from '../../src/server/gateway-server.ts';
import { startUpstream, type TestUpstream } from './harness.ts';

export const DASHBOARD_TOKEN = 'dashboard-admin-token-0123456789abcdef';

type ApiKey = ReturnType<typeof newApiKey>;

export function dashboardConfig(upstreamUrl: string, keyHash: string): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  admin: { host: 127.0.0.1, port: 0, token: "\${DASHBOARD_ADMIN_TOKEN}" }
  trustedProxies: [127.0.0.1]
logging: { level: info, accessLog: "off" }
metrics: { prometheus: true }
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${keyHash}" }]
defaults:
  bruteForce: { maxFailures: 2, per: 10s, ban: 60s, by: [ip] }
upstreams:
  backend: { targets: [${upstreamUrl}], timeout: 5s }
routes:
  - name: open
    match: { path: /open/* }
    auth: public
    upstream: backend
  - name: keyed
    match: { path: /keyed, methods: [GET, POST] }
    auth: keys
    upstream: backend
  - name: shadowed
    match: { path: /shadow }
    auth: keys
    mode: shadow
    upstream: backend
`;
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export async function until<T>(what: string, fn: () => Promise<T> | T, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await sleep(100);
  }
}

/** Fails (never skips) when the browser or the built dashboard is missing. */
export function assertDashboardPrerequisites(browserPath: string, install: string): void {
  if (!existsSync(browserPath)) throw new Error(`${browserPath} is missing: ${install} (.ci/run does)`);
  if (!existsSync(path.join(DASHBOARD_DIST, 'index.html'))) throw new Error('the dashboard is not built: npm run build:dashboard');
}

export interface DashboardGateway {
  upstream: TestUpstream;
  server: GatewayServer;
  /** Temporary folder holding the config file. */
  dir: string;
  /** The config file the gateway was loaded from (a reload reads it again). */
  file: string;
  goodConfig: string;
  /** The port of the plain-HTTP traffic listener. */
  port: number;
  /** The admin listener's base URL (the dashboard is at `${base}/`). */
  base: string;
  /** GET on the traffic listener; resolves to the status code. */
  get(p: string, headers?: Record<string, string>): Promise<number>;
  /** GET on the admin listener, with the admin token unless `token` is null. */
  adminGet(p: string, token?: string | null): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>;
  close(): Promise<void>;
}

/** Starts the upstream and the gateway with its admin listener (token DASHBOARD_TOKEN); cleans up itself if a step fails. */
export async function startDashboardGateway(key: ApiKey, prefix = 'pcl-dashboard-'): Promise<DashboardGateway> {
  process.env.DASHBOARD_ADMIN_TOKEN = DASHBOARD_TOKEN;
  let upstream: TestUpstream | undefined;
  let server: GatewayServer | undefined;
  let dir: string | undefined;
  const close = async (): Promise<void> => {
    await server?.stop(2000);
    await upstream?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  };
  try {
    upstream = await startUpstream();
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    const file = path.join(dir, 'portcullis.yaml');
    const goodConfig = dashboardConfig(upstream.url, key.keyHash);
    await writeFile(file, goodConfig);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    server = await GatewayServer.start(await buildGateway(await loadConfigFile(file)), { logger: pino({ level: 'info' }, sink), accessLog: { write() {}, flush: async () => {} } });
    const port = server.addresses().find((a) => a.name === 'http')?.port ?? 0;
    const base = `http://127.0.0.1:${server.admin!.port()}`;
    return {
      upstream,
      server,
      dir,
      file,
      goodConfig,
      port,
      base,
      async get(p, headers = {}) {
        const res = await request(`http://127.0.0.1:${port}${p}`, { headers });
        await res.body.dump();
        return res.statusCode;
      },
      async adminGet(p, token = DASHBOARD_TOKEN) {
        const res = await request(`${base}${p}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
