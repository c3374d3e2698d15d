/**
 * The admin dashboard end to end in Firefox: Debian's firefox-esr (/usr/bin/firefox-esr, installed by
 * .ci/run) in headless mode, driven by puppeteer-core over WebDriver BiDi (playwright-core can only
 * drive its own patched Firefox build), against a real gateway with its admin listener, a real
 * upstream and real client traffic over loopback. dashboard.test.ts covers the same pages, and more
 * of their behaviour, in Chromium.
 *
 * Screenshots go to test-artifacts/dashboard-firefox/ (gitignored).
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { newApiKey } from '../../src/auth/api-key.ts';
import { assertDashboardPrerequisites, DASHBOARD_TOKEN as TOKEN, startDashboardGateway, until, type DashboardGateway } from '../helpers/dashboard.ts';

const FIREFOX = '/usr/bin/firefox-esr';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'dashboard-firefox');
/** Waits on page conditions: generous, for a loaded 2-core machine; they end as soon as the condition holds. */
const WAIT = 20_000;
const key = newApiKey();

const PAGES = [
  // id, title, what shows the page's main content is there (a page expression)
  ['overview', 'Overview', `document.querySelector('[data-testid="stat-total"]') !== null && document.querySelectorAll('.charts canvas').length >= 4`],
  ['routes', 'Routes', `['open', 'keyed', 'shadowed'].every((r) => document.querySelector('tr[data-route="' + r + '"]') !== null)`],
  ['upstreams', 'Upstreams', `document.querySelector('#up-backend') !== null && /healthy/.test(document.querySelector('main')?.textContent ?? '')`],
  ['security', 'Security', `document.querySelector('[data-testid="no-bans"], tr[data-ban]') !== null && document.querySelector('[data-testid="rejections"] li') !== null`],
  ['config', 'Config', `/^[0-9a-f]{64}$/.test(document.querySelector('[data-testid="config-hash"]')?.textContent ?? '') && (document.querySelector('pre.config')?.textContent ?? '').includes('[redacted]')`],
  ['explain', 'Explain', `document.querySelector('form.explain input[name="path"]') !== null && document.querySelector('form.explain textarea[name="headers"]') !== null`],
] as const;

/** Registered in every document before its own scripts: reports CSP violations as console errors. */
const CSP_WATCH = `addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber), true);`;

describe('admin dashboard in headless Firefox (firefox-esr, WebDriver BiDi)', () => {
  let gw: DashboardGateway;
  let browser: Browser | undefined;
  let page: Page;
  const requested: { url: string; authorization: string | undefined }[] = [];
  const problems: string[] = [];

  /** A page expression's value (page code as strings: the test's tsconfig has no DOM types). */
  async function js<T>(p: Page, expr: string): Promise<T> {
    return (await p.evaluate(expr)) as T;
  }

  async function waitFor(p: Page, what: string, expr: string, timeout = WAIT): Promise<void> {
    try {
      await p.waitForFunction(expr, { polling: 100, timeout });
    } catch (err) {
      throw new Error(`Firefox: timed out waiting for ${what}: ${(err as Error).message}`);
    }
  }

  async function shot(name: string, p: Page = page): Promise<void> {
    await mkdir(ARTIFACTS, { recursive: true });
    await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) as `${string}.png` });
  }

  async function watch(p: Page): Promise<void> {
    p.setDefaultTimeout(WAIT);
    await p.evaluateOnNewDocument(CSP_WATCH);
    p.on('request', (r) => requested.push({ url: r.url(), authorization: r.headers().authorization }));
    p.on('pageerror', (err) => problems.push(`page error: ${err instanceof Error ? err.message : String(err)}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (401|422)/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  }

  /** Waits for the page's h1; with `aria`, also for the heading in Firefox's accessibility tree (slower: once per page is enough). */
  async function heading(p: Page, title: string, aria = false): Promise<void> {
    await waitFor(p, `the h1 "${title}"`, `document.querySelector('main h1')?.textContent === ${JSON.stringify(title)}`);
    if (aria) await p.waitForSelector(`::-p-aria([name=${JSON.stringify(title)}][role="heading"])`);
  }

  async function go(p: Page, id: string, title: string, aria = false): Promise<void> {
    await p.locator(`nav[aria-label="Dashboard pages"] a[href="#/${id}"]`).click();
    await heading(p, title, aria);
    assert.equal(await js<string>(p, 'location.hash'), `#/${id}`);
    assert.equal(await js<string | null>(p, `document.querySelector('nav a[aria-current="page"]')?.textContent ?? null`), title);
  }

  async function login(p: Page, token: string): Promise<void> {
    await p.locator('input#token').fill(token);
    await p.locator('::-p-aria([name="Sign in"][role="button"])').click();
  }

  async function stat(p: Page, id: string): Promise<string> {
    return (await js<string | null>(p, `document.querySelector('[data-testid="${id}"]')?.textContent ?? null`)) ?? '';
  }

  const count = (s: string): number => Number(s.replace(/[^0-9]/g, '') || '0');

  before(async () => {
    // Fails (never skips) without the browser or the built dashboard: .ci/run and `npm ci` provide both.
    assertDashboardPrerequisites(FIREFOX, 'apt-get install firefox-esr');
    gw = await startDashboardGateway(key, 'pcl-dashboard-ff-');
    browser = await puppeteer.launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: FIREFOX,
      headless: true,
      timeout: 60_000,
      protocolTimeout: 60_000,
      // No pop-up or first-run chrome; the profile is a fresh temporary one puppeteer removes.
      extraPrefsFirefox: { 'browser.shell.checkDefaultBrowser': false, 'datareporting.policy.dataSubmissionEnabled': false },
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await watch(page);
  });

  after(async () => {
    if (browser !== undefined) {
      const proc = browser.process();
      await Promise.race([browser.close().catch(() => {}), sleep(15_000, undefined, { ref: false })]);
      if (proc !== null && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    await gw?.close();
  });

  it('login: a wrong token is refused; the right one opens the Overview, kept in sessionStorage only', async () => {
    await page.goto(`${gw.base}/`, { waitUntil: 'load' });
    await page.waitForSelector('::-p-aria([name="Admin token"])');
    assert.equal(await js<string>(page, `document.querySelector('#token').type`), 'password');
    assert.match(await js<string>(page, 'navigator.userAgent'), /Firefox\//, 'this is Firefox');
    await shot('login');
    await login(page, 'not-the-token-0123456789abcdef');
    await waitFor(page, 'the "Wrong token" alert', `document.querySelector('[role="alert"]')?.textContent?.includes('Wrong token') === true`);
    assert.equal(await js<boolean>(page, `document.querySelector('main h1')?.textContent === 'Overview'`), false, 'still on the login form');
    await login(page, TOKEN);
    await heading(page, 'Overview', true);
    const storage = await js<{ session: string; local: string; cookie: string }>(page, '({ session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage), cookie: document.cookie })');
    assert.ok(storage.session.includes(TOKEN));
    assert.ok(!storage.local.includes(TOKEN) && storage.cookie === '', 'only sessionStorage');
    await waitFor(page, 'the live status', `document.querySelector('header [role="status"]')?.textContent === 'live'`);
  });

  it('Overview: the request counter moves while a client sends traffic', async () => {
    await waitFor(page, 'the Overview content', PAGES[0][2]);
    const start = count(await stat(page, 'stat-total'));
    // Traffic until the page has shown the counter moving (a tick is sent once a second), at least
    // ~60 requests and at most 20 s; then every request sent must show up.
    const seen = new Set<number>();
    let sent = 0;
    const end = Date.now() + 20_000;
    while (Date.now() < end && (sent < 60 || ![...seen].some((n) => n > start))) {
      const codes = await Promise.all([gw.get('/open/a'), gw.get('/open/b'), gw.get('/keyed', { 'x-api-key': key.key })]);
      assert.deepEqual(codes, [200, 200, 200]);
      sent += 3;
      seen.add(count(await stat(page, 'stat-total')));
      await sleep(50);
    }
    assert.ok([...seen].some((n) => n > start), `the counter moved while traffic was sent (seen ${[...seen].join(', ')} from ${start})`);
    const total = await until('the total to count every request sent', async () => {
      const n = count(await stat(page, 'stat-total'));
      return n >= start + sent ? n : 0;
    }, WAIT);
    assert.ok(total >= start + sent);
    assert.notEqual(await stat(page, 'stat-rps'), '0');
    assert.match(await stat(page, 'stat-p50'), /ms|s$/);
    await shot('overview');
  });

  it('every page renders its heading and main content, without a script error or CSP violation', async () => {
    // A blocked request, so that Security lists a rejection with its decision record.
    assert.equal(await gw.get('/keyed', { 'x-forwarded-for': '198.51.100.77', 'x-api-key': 'pcl_wrong_key' }), 401);
    for (const [id, title, content] of PAGES) {
      if (id !== 'overview') await go(page, id, title, true);
      await waitFor(page, `the ${title} page content`, content);
      if (id === 'security') {
        const entry = page.locator('[data-testid="rejections"] li ::-p-text(198.51.100.77)');
        await entry.click(); // opens its <details>
        await waitFor(page, 'the rejection decision record', `[...document.querySelectorAll('[data-testid="rejections"] details[open] table.decisions')].some((t) => /authenticate\\s*deny/.test(t.textContent))`);
        assert.match(await js<string>(page, `document.querySelector('[data-testid="rejections"] details[open]').textContent`), /PCL_AUTHN_INVALID_CREDENTIALS/);
      }
      await shot(id);
      assert.deepEqual(problems, [], `${title}: no script error or CSP violation`);
    }
  });

  it('Explain: a described request shows its decision record', async () => {
    await go(page, 'explain', 'Explain');
    await page.locator('form.explain input[name="path"]').fill('/keyed');
    await page.locator('form.explain textarea[name="headers"]').fill('x-api-key: pcl_not_a_key');
    await page.locator('form.explain button[type="submit"]').click();
    await waitFor(page, 'the explain result', `document.querySelector('[data-testid="explain-result"] table.decisions') !== null`);
    const text = await js<string>(page, `document.querySelector('[data-testid="explain-result"]').textContent`);
    assert.match(text, /rejected/);
    assert.match(text, /401/);
    assert.match(text, /PCL_AUTHN_INVALID_CREDENTIALS/);
    assert.match(await js<string>(page, `document.querySelector('[data-testid="explain-result"] table.decisions').textContent`), /authenticate\s*deny/);
    await shot('explain');
  });

  it('phone size (390×844): every page fits the width; the session survives the reload', async () => {
    try {
      // Touch emulation reloads the page (puppeteer does it): the token in sessionStorage keeps the session.
      await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
      await page.reload({ waitUntil: 'load' });
      await heading(page, 'Explain');
      for (const [id, title, content] of PAGES) {
        await go(page, id, title);
        await waitFor(page, `the ${title} page content on a phone`, content);
        const { scroll, width, inner } = await js<{ scroll: number; width: number; inner: number }>(page, '({ scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth, inner: innerWidth })');
        assert.equal(inner, 390, 'a phone-sized viewport');
        assert.ok(scroll <= width, `${id}: the page is ${scroll}px wide in a ${width}px viewport`);
        if (id === 'overview' || id === 'security') await shot(`phone-${id}`);
      }
    } finally {
      await page.setViewport({ width: 1280, height: 800 });
    }
  });

  it('the token never appears in a URL; every data call carries it; no CSP violation or script error', async () => {
    assert.ok(requested.length > 10, `${requested.length} requests seen`);
    for (const r of requested) assert.ok(!r.url.includes(TOKEN) && !r.url.includes(encodeURIComponent(TOKEN)), r.url);
    const data = requested.filter((r) => /\/(live|events|config|routes|upstreams|bans|explain)(\?|\/|$)/.test(new URL(r.url).pathname + new URL(r.url).search));
    assert.ok(data.length > 5, `${data.length} data calls seen`);
    for (const r of data) assert.match(r.authorization ?? '', /^Bearer /, r.url);
    assert.deepEqual(problems, []);
    // The CSP watch itself works in Firefox: an inline style is refused and reported.
    await js(page, `document.head.appendChild(Object.assign(document.createElement('style'), { textContent: 'body { color: red }' })), null`);
    await until('the CSP violation report', () => problems.some((m) => /CSP violation: style-src/.test(m)), WAIT);
  });
});
