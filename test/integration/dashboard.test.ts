/**
 * The admin dashboard end to end in a real browser: headless Chromium (Debian's /usr/bin/chromium,
 * installed by .ci/run) driven by playwright-core, against a real gateway with its admin listener,
 * a real upstream and real client traffic over loopback.
 *
 * Screenshots of every page go to test-artifacts/dashboard/ (gitignored); with
 * DASHBOARD_DOCS_SCREENSHOTS=1 they are also copied to docs/images/dashboard-*.png.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { request } from 'undici';
import { AdminServer } from '../../src/admin/admin-server.ts';
import { newApiKey } from '../../src/auth/api-key.ts';
import type { GatewayServer } from '../../src/server/gateway-server.ts';
import { assertDashboardPrerequisites, DASHBOARD_TOKEN, startDashboardGateway, until } from '../helpers/dashboard.ts';
import type { TestUpstream } from '../helpers/harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'dashboard');
const DOCS_IMAGES = path.join(ROOT, 'docs', 'images');
const TOKEN = DASHBOARD_TOKEN;
const key = newApiKey();

describe('admin dashboard in headless Chromium', () => {
  let upstream: TestUpstream;
  let server: GatewayServer;
  let dir: string;
  let file: string;
  let goodConfig: string;
  let port: number;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const requested: { url: string; authorization: string | undefined }[] = [];
  const problems: string[] = [];

  async function get(p: string, headers: Record<string, string> = {}): Promise<number> {
    const res = await request(`http://127.0.0.1:${port}${p}`, { headers });
    await res.body.dump();
    return res.statusCode;
  }

  async function adminGet(p: string, token: string | null = TOKEN) {
    const res = await request(`${base}${p}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  async function shot(name: string, p: Page = page): Promise<void> {
    await mkdir(ARTIFACTS, { recursive: true });
    const out = path.join(ARTIFACTS, `${name}.png`);
    await p.screenshot({ path: out });
    if (process.env.DASHBOARD_DOCS_SCREENSHOTS === '1') {
      await mkdir(DOCS_IMAGES, { recursive: true });
      await copyFile(out, path.join(DOCS_IMAGES, `dashboard-${name}.png`));
    }
  }

  async function go(p: Page, id: string, title: string): Promise<void> {
    await p.getByRole('navigation', { name: 'Dashboard pages' }).getByRole('link', { name: title, exact: true }).click();
    await p.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
    assert.equal(new URL(p.url()).hash, `#/${id}`);
  }

  async function login(p: Page): Promise<void> {
    await p.goto(`${base}/`);
    await p.getByLabel('Admin token').fill(TOKEN);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await p.getByRole('status').filter({ hasText: 'live' }).waitFor();
  }

  function watch(p: Page): void {
    p.on('request', (r) => requested.push({ url: r.url(), authorization: r.headers().authorization }));
    p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|422)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  }

  before(async () => {
    // Fails (never skips) without the browser or the built dashboard: .ci/run and `npm ci` provide both.
    assertDashboardPrerequisites(CHROMIUM, 'apt-get install chromium');
    ({ upstream, server, dir, file, goodConfig, port, base } = await startDashboardGateway(key));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
    watch(page);
  });

  after(async () => {
    await browser?.close();
    await server?.stop(2000);
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('serves the page and its hashed assets without a token, under a strict CSP; data calls need the token', async () => {
    const index = await adminGet('/', null);
    assert.equal(index.status, 200);
    assert.match(index.headers['content-type'] as string, /^text\/html/);
    const csp = index.headers['content-security-policy'] as string;
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) assert.ok(csp.includes(d), `${d} in ${csp}`);
    assert.equal(index.headers['x-content-type-options'], 'nosniff');
    assert.equal(index.headers['referrer-policy'], 'no-referrer');
    assert.ok(!/<script(?![^>]*\ssrc=)[^>]*>/i.test(index.text), 'no inline script');
    assert.ok(!/\sstyle=/i.test(index.text), 'no inline style attribute');
    const assets = [...index.text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), assets.join());
    for (const a of assets) {
      assert.match(a, /-[A-Za-z0-9_-]{6,}\.(js|css)$/, 'hashed name');
      const r = await adminGet(a, null);
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'] as string, a.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      assert.equal(r.headers['content-security-policy'], csp);
      assert.match(r.headers['cache-control'] as string, /immutable/);
    }
    assert.equal((await adminGet('/assets/nope.js', null)).status, 404);
    for (const p of ['/live', '/events', '/config', '/routes', '/upstreams', '/bans']) {
      assert.equal((await adminGet(p, null)).status, 401, p);
      assert.equal((await adminGet(p, 'wrong-token-0123456789abcdefgh')).status, 401, p);
    }
    // Without a built dashboard: a clear 503 problem telling how to build it.
    const empty = await mkdtemp(path.join(os.tmpdir(), 'pcl-nodash-'));
    const bare = await AdminServer.start(server, { host: '127.0.0.1', port: 0 }, { dashboardDir: empty });
    try {
      const r = await request(`http://127.0.0.1:${bare.port()}/`);
      const text = await r.body.text();
      assert.equal(r.statusCode, 503);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.match(text, /npm run build:dashboard/);
    } finally {
      await bare.close();
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('login: a wrong token is refused; the right one opens the Overview, kept in sessionStorage only', async () => {
    await page.goto(`${base}/`);
    const input = page.getByLabel('Admin token');
    assert.equal(await input.getAttribute('type'), 'password');
    await shot('login');
    await input.fill('not-the-token-0123456789abcdef');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong token' }).waitFor();
    await input.fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    // (Page code as strings: the test's tsconfig has no DOM types.)
    const storage = await page.evaluate<{ session: string; local: string; cookie: string }>('({ session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), cookie: document.cookie })');
    assert.ok(storage.session.includes(TOKEN));
    assert.ok(!storage.local.includes(TOKEN) && storage.cookie === '', 'only sessionStorage');
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
  });

  it('Overview: live counters move while a client sends traffic', async () => {
    const total = page.getByTestId('stat-total');
    const before = Number((await total.textContent())?.replace(/[^0-9]/g, '') || '0');
    // ~5 s of traffic at ~40 requests/s, so the charts have a few points.
    const end = Date.now() + 5000;
    let sent = 0;
    while (Date.now() < end) {
      await Promise.all([get('/open/a'), get('/open/b'), get('/keyed', { 'x-api-key': key.key })]);
      sent += 3;
      await sleep(60);
    }
    await get('/shadow'); // shadow mode: passes, recorded as a shadow rejection
    const after = await until('the total to move', async () => {
      const n = Number((await total.textContent())?.replace(/[^0-9]/g, '') || '0');
      return n >= before + sent ? n : 0;
    });
    assert.ok(after >= before + sent);
    assert.notEqual(await page.getByTestId('stat-rps').textContent(), '0');
    assert.match((await page.getByTestId('stat-p50').textContent()) ?? '', /ms|s$/);
    await shot('overview');

    await go(page, 'routes', 'Routes');
    const openCount = page.getByTestId('route-requests-open');
    await until('route counters', async () => Number((await openCount.textContent())?.replace(/[^0-9]/g, '')) >= sent / 3 * 2);
    const shadowRow = page.locator('tr[data-route="shadowed"]');
    await until('a shadow rejection', async () => (await shadowRow.locator('td').last().textContent()) === '1');
    assert.match((await page.locator('tr[data-route="keyed"]').textContent()) ?? '', /GET \| POST \/keyed/);
    await shot('routes');

    await go(page, 'upstreams', 'Upstreams');
    await page.getByRole('heading', { level: 2, name: /backend/ }).waitFor();
    await page.getByText('healthy', { exact: true }).first().waitFor();
    await page.getByText(upstream.url.replace(/\/$/, '')).waitFor();
    await shot('upstreams');
  });

  it('Security: a blocked request appears with its reason and decision record; a ban is lifted with its button', async () => {
    await go(page, 'security', 'Security');
    assert.equal(await get('/keyed', { 'x-forwarded-for': '198.51.100.23', 'x-api-key': 'pcl_wrong_key' }), 401);
    const entry = page.getByTestId('rejections').locator('li').filter({ hasText: 'GET /keyed' }).filter({ hasText: '198.51.100.23' }).first();
    await entry.waitFor({ timeout: 10_000 });
    assert.match((await entry.textContent()) ?? '', /PCL_AUTHN_INVALID_CREDENTIALS/);
    await entry.locator('summary').click();
    const record = entry.locator('table.decisions');
    await record.waitFor();
    assert.match((await record.textContent()) ?? '', /authenticate\s*deny/);
    assert.ok(!((await entry.textContent()) ?? '').includes('pcl_wrong_key'), 'the key never reaches the browser');
    await page.getByTestId('top-ips').filter({ hasText: '198.51.100.23' }).waitFor();

    // Two failures from one address: a brute-force ban, listed with an Unban button.
    const ip = '203.0.113.50';
    assert.equal(await get('/keyed', { 'x-forwarded-for': ip, 'x-api-key': 'pcl_bad1' }), 401);
    assert.equal(await get('/keyed', { 'x-forwarded-for': ip, 'x-api-key': 'pcl_bad2' }), 401);
    assert.equal(await get('/keyed', { 'x-forwarded-for': ip, 'x-api-key': key.key }), 429, 'banned');
    const row = page.locator(`tr[data-ban="${ip}"]`);
    await row.waitFor({ timeout: 10_000 });
    await shot('security');
    await row.getByRole('button', { name: `Unban ip ${ip}` }).click();
    await row.waitFor({ state: 'detached' });
    const bans = JSON.parse((await adminGet('/bans')).text) as { id: string }[];
    assert.ok(!bans.some((b) => b.id === ip), JSON.stringify(bans));
    assert.equal(await get('/keyed', { 'x-forwarded-for': ip, 'x-api-key': key.key }), 200, 'passes again');
  });

  it('Explain: a described request shows its decision record', async () => {
    await go(page, 'explain', 'Explain');
    await page.getByLabel('Path and query').fill('/keyed');
    await page.getByLabel(/^Headers/).fill('x-api-key: pcl_not_a_key');
    await page.getByRole('button', { name: 'Explain' }).click();
    const result = page.getByTestId('explain-result');
    await result.waitFor();
    const text = (await result.textContent()) ?? '';
    assert.match(text, /rejected/);
    assert.match(text, /401/);
    assert.match(text, /PCL_AUTHN_INVALID_CREDENTIALS/);
    assert.match(text, /authenticate/);
    await shot('explain');
  });

  it('Config: the config in effect (redacted) and a rejected reload with its errors', async () => {
    await go(page, 'config', 'Config');
    const hash = page.getByTestId('config-hash');
    await until('the hash', async () => /^[0-9a-f]{64}$/.test((await hash.textContent()) ?? ''));
    const shown = (await page.locator('pre.config').textContent()) ?? '';
    assert.ok(shown.includes('[redacted]') && !shown.includes(TOKEN), 'secrets redacted');
    await writeFile(file, goodConfig.replace('timeout: 5s', 'timeout: five seconds').replace('ban: 60s', 'ban: forever'));
    try {
      await page.getByRole('button', { name: 'Reload from file' }).click();
      const errors = page.getByTestId('reload-errors');
      await errors.waitFor();
      const text = (await errors.textContent()) ?? '';
      assert.match(text, /upstreams\.backend\.timeout/);
      assert.match(text, /defaults\.bruteForce\.ban/);
      assert.equal(await errors.locator('li').count(), 2);
      assert.match((await page.getByTestId('last-reload').textContent()) ?? '', /rejected/);
      await shot('config');
    } finally {
      await writeFile(file, goodConfig);
    }
  });

  it('keyboard: Tab reaches the navigation and Enter switches pages', async () => {
    await page.goto(`${base}/#/overview`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate<boolean>("document.activeElement?.textContent === 'Security' && document.activeElement.closest('nav') !== null");
    }
    assert.ok(reached, 'Tab reaches the Security link in the navigation');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Security' }).waitFor();
    assert.equal(new URL(page.url()).hash, '#/security');
  });

  it('phone size (390×844): every page fits the width', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    try {
      const p = await phone.newPage();
      watch(p);
      await login(p);
      for (const [id, title] of [['overview', 'Overview'], ['routes', 'Routes'], ['upstreams', 'Upstreams'], ['security', 'Security'], ['config', 'Config'], ['explain', 'Explain']] as const) {
        if (id !== 'overview') await go(p, id, title);
        await sleep(300);
        const { scroll, width } = await p.evaluate<{ scroll: number; width: number }>('({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })');
        assert.ok(scroll <= width, `${id}: the body is ${scroll}px wide in a ${width}px viewport`);
        if (id === 'overview' || id === 'security') await shot(`phone-${id}`, p);
      }
    } finally {
      await phone.close();
    }
  });

  it('the token never appears in a URL; every data call carries it; no CSP violation or script error', () => {
    assert.ok(requested.length > 10);
    for (const r of requested) assert.ok(!r.url.includes(TOKEN) && !r.url.includes(encodeURIComponent(TOKEN)), r.url);
    const data = requested.filter((r) => /\/(live|events|config|routes|upstreams|bans|explain)(\?|\/|$)/.test(new URL(r.url).pathname + new URL(r.url).search));
    assert.ok(data.length > 5);
    for (const r of data) assert.match(r.authorization ?? '', /^Bearer /, r.url);
    assert.deepEqual(problems, []);
  });
});
