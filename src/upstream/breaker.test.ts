import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker } from './breaker.ts';

describe('circuit breaker', () => {
  it('opens after N consecutive failures, lets one probe through after the cooldown, closes on its success', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 3, cooldown: 30_000 }, () => now);
    b.failure();
    b.failure();
    b.success(); // resets the run
    b.failure();
    b.failure();
    assert.equal(b.state, 'closed');
    b.failure();
    assert.equal(b.state, 'open');
    assert.equal(b.allow(), false);
    now = 10_000;
    assert.equal(b.retryAfter(), 20_000);
    assert.equal(b.allow(), false);
    now = 30_000;
    assert.equal(b.allow(), true, 'the probe');
    assert.equal(b.state, 'half-open');
    assert.equal(b.allow(), false, 'only one probe at a time');
    b.success();
    assert.equal(b.state, 'closed');
    assert.equal(b.allow(), true);
  });

  it('a failed probe opens the circuit for another cooldown; a probe without outcome frees the slot', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 1, cooldown: 1000 }, () => now);
    b.failure();
    now = 1000;
    assert.equal(b.allow(), true);
    b.failure();
    assert.equal(b.state, 'open');
    now = 1500;
    assert.equal(b.allow(), false);
    now = 2000;
    assert.equal(b.allow(), true);
    b.release();
    assert.equal(b.allow(), true, 'the next request may probe');
  });

  it('opens on a failure ratio over the window once there are enough calls', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 100, cooldown: 1000, ratio: { threshold: 0.5, window: 10_000, minCalls: 10 } }, () => now);
    for (let i = 0; i < 4; i++) {
      b.success();
      b.failure();
    }
    assert.equal(b.state, 'closed', 'only 8 calls');
    b.success();
    b.failure();
    assert.equal(b.state, 'open');
  });

  it('forgets calls that left the window', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 100, cooldown: 1000, ratio: { threshold: 0.5, window: 10_000, minCalls: 4 } }, () => now);
    b.failure();
    b.failure();
    b.failure();
    now = 20_000;
    b.success();
    b.success();
    b.success();
    b.failure();
    assert.equal(b.state, 'closed', '1 of 4 in the window');
  });
});
