import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { didYouMean, formatPath, pointerToSegments } from './errors.ts';
import { parseDuration, parseSize } from './units.ts';

describe('durations and sizes', () => {
  it('parses durations to milliseconds', () => {
    const cases: [string, number][] = [
      ['250ms', 250], ['30s', 30_000], ['1.5s', 1_500], ['5m', 300_000], ['1h', 3_600_000], ['1d', 86_400_000], ['0s', 0],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it('parses sizes to bytes with binary multiples (1kb = 1024 bytes), any letter case', () => {
    const cases: [string, number][] = [
      ['512b', 512], ['16kb', 16_384], ['16KB', 16_384], ['1mb', 1_048_576], ['1.5mb', 1_572_864], ['1gb', 1_073_741_824], ['1Mb', 1_048_576],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
  });

  it('rejects what the schema rejects', () => {
    for (const text of ['10', '10 s', '10sec', '-1s', '1w', '.5s']) assert.throws(() => parseDuration(text), /invalid duration/, text);
    for (const text of ['16', '16k', '16 kb', '16KiB', '1tb']) assert.throws(() => parseSize(text), /invalid size/, text);
  });
});

describe('error paths', () => {
  it('formats paths the way a person writes them', () => {
    assert.equal(formatPath(['routes', 2, 'upstream']), 'routes[2].upstream');
    assert.equal(formatPath(['upstreams', 'orders-v1', 'targets', 0]), 'upstreams.orders-v1.targets[0]');
    assert.equal(formatPath(['upstreams', 'orders v1']), 'upstreams["orders v1"]');
    assert.equal(formatPath(['routes', 0, 'upstream', 'version', 'map', '2']), 'routes[0].upstream.version.map["2"]');
    assert.equal(formatPath([]), '');
  });

  it('turns JSON pointers into segments, numbers only for list indexes', () => {
    const data = { routes: [{ a: 1 }], upstreams: { '0': {}, 'a/b': {} } };
    assert.deepEqual(pointerToSegments('/routes/0/a', data), ['routes', 0, 'a']);
    assert.deepEqual(pointerToSegments('/upstreams/0', data), ['upstreams', '0']);
    assert.deepEqual(pointerToSegments('/upstreams/a~1b', data), ['upstreams', 'a/b']);
  });

  it('suggests the closest candidate, and nothing when none is close', () => {
    assert.equal(didYouMean('ordrs-v1', ['orders-v1', 'orders-v2', 'billing']), ' (did you mean "orders-v1"?)');
    assert.equal(didYouMean('redirectToHTTPS', ['host', 'port', 'redirectToHttps']), ' (did you mean "redirectToHttps"?)');
    assert.equal(didYouMean('plugins', ['server', 'routes', 'upstreams']), '');
  });
});
