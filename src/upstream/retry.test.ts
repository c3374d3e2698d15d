import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget, safeToRetry, type RetryQuestion } from './retry.ts';

const q = (over: Partial<RetryQuestion>): RetryQuestion => ({
  failure: 'sent', method: 'GET', nonIdempotentOptIn: false, hasIdempotencyKey: false, replayableBody: true, bodyUntouched: false,
  responseStarted: false, ...over,
});

describe('safeToRetry', () => {
  const table: { name: string; q: RetryQuestion; expect: boolean }[] = [
    { name: 'GET after a reset', q: q({}), expect: true },
    { name: 'PUT / DELETE / OPTIONS / HEAD', q: q({ method: 'PUT' }), expect: true },
    { name: 'POST after a reset', q: q({ method: 'POST' }), expect: false },
    { name: 'PATCH with a key but no opt-in', q: q({ method: 'PATCH', hasIdempotencyKey: true }), expect: false },
    { name: 'POST with opt-in but no key', q: q({ method: 'POST', nonIdempotentOptIn: true }), expect: false },
    { name: 'POST with opt-in and key', q: q({ method: 'POST', nonIdempotentOptIn: true, hasIdempotencyKey: true }), expect: true },
    { name: 'POST whose connection failed before sending', q: q({ method: 'POST', failure: 'not-sent' }), expect: true },
    { name: 'streamed body, connection failed before sending', q: q({ failure: 'not-sent', replayableBody: false, bodyUntouched: true }), expect: true },
    { name: 'streamed PUT body after sending', q: q({ method: 'PUT', replayableBody: false }), expect: false },
    { name: 'response already started', q: q({ responseStarted: true }), expect: false },
  ];
  for (const t of table) it(t.name, () => assert.equal(safeToRetry(t.q), t.expect));
});

describe('retry budget', () => {
  it('allows minRetries plus ratio × requests over the window, and refills as the window slides', () => {
    let now = 0;
    const b = new RetryBudget({ ratio: 0.2, minRetries: 1, window: 10_000 }, () => now);
    for (let i = 0; i < 10; i++) b.request();
    assert.equal(b.tryRetry(), true);
    assert.equal(b.tryRetry(), true);
    assert.equal(b.tryRetry(), true);
    assert.equal(b.tryRetry(), false, '1 + 0.2 × 10 = 3');
    now = 11_000;
    assert.equal(b.tryRetry(), true, 'the old retries left the window');
    assert.equal(b.tryRetry(), false);
  });
});
