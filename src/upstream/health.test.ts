import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusMatcher, TargetHealth } from './health.ts';

describe('target health', () => {
  it('active: unhealthyAfter failures take it out, healthyAfter successes bring it back', () => {
    const h = new TargetHealth({ path: '/', interval: 1000, timeout: 100, unhealthyAfter: 2, healthyAfter: 3, expect: () => true }, undefined);
    h.checked(false);
    assert.equal(h.available(0), true);
    h.checked(false);
    assert.equal(h.available(0), false);
    h.checked(true);
    h.checked(true);
    assert.equal(h.available(0), false);
    h.checked(true);
    assert.equal(h.available(0), true);
  });
  it('passive: consecutive failures eject for a while', () => {
    const h = new TargetHealth(undefined, { failures: 2, ejectFor: 5000 });
    h.report(false, 0);
    h.report(true, 0);
    h.report(false, 0);
    assert.equal(h.available(0), true);
    h.report(false, 100);
    assert.equal(h.available(100), false);
    assert.equal(h.available(5099), false);
    assert.equal(h.available(5100), true);
  });
  it('expected statuses', () => {
    const d = statusMatcher(undefined);
    assert.deepEqual([199, 200, 302, 399, 400].map(d), [false, true, true, true, false]);
    const m = statusMatcher([204, '2xx', '401-403']);
    assert.deepEqual([200, 299, 204, 401, 403, 404, 500].map(m), [true, true, true, true, true, false, false]);
  });
});
