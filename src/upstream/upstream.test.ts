import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '../observability/logger.ts';
import { cookieValue, Upstream, type UpstreamSpec } from './upstream.ts';

const spec = (over: Partial<UpstreamSpec> = {}): UpstreamSpec => ({
  name: 'u',
  targets: [{ url: 'http://127.0.0.1:1', weight: 1 }, { url: 'http://127.0.0.1:2', weight: 1 }],
  timeout: 1000,
  connectTimeout: 1000,
  maxConnections: 1,
  ...over,
});

describe('Upstream.pick', () => {
  it('avoids tried targets when another is left, else reuses one', async () => {
    const u = new Upstream(spec({ retries: 1 }));
    const [a, b] = u.targets;
    assert.equal(u.pick(undefined, new Set([a!])), b);
    assert.ok(u.pick(undefined, new Set([a!, b!])));
    await u.close();
  });

  it('skips ejected targets; none healthy → undefined, or all of them in panic mode', async () => {
    let now = 0;
    const u = new Upstream(spec({ passiveHealth: { failures: 1, ejectFor: 1000 }, clock: () => now }));
    const [a, b] = u.targets;
    u.report(a!, false);
    for (let i = 0; i < 4; i++) assert.equal(u.pick(), b);
    u.report(b!, false);
    assert.equal(u.pick(), undefined);
    now = 1000;
    assert.ok(u.pick());
    await u.close();
    const p = new Upstream(spec({ passiveHealth: { failures: 1, ejectFor: 1000 }, panic: true, clock: () => 0 }));
    for (const t of p.targets) p.report(t, false);
    assert.ok(p.pick());
    await p.close();
  });

  it('warns at start when TLS verification is off', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as Logger;
    const u = new Upstream(spec({ targets: [{ url: 'https://127.0.0.1:1', weight: 1 }], tls: { rejectUnauthorized: false } }));
    u.start(logger);
    assert.match(warnings[0] ?? '', /verification .* is OFF/);
    await u.close();
  });

  it('reads a cookie value', () => {
    assert.equal(cookieValue('a=1; sid=xyz; b=2', 'sid'), 'xyz');
    assert.equal(cookieValue(['a=1', 'sid=q'], 'sid'), 'q');
    assert.equal(cookieValue('asid=1', 'sid'), undefined);
    assert.equal(cookieValue(undefined, 'sid'), undefined);
  });
});
