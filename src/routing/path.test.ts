import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors/gateway-error.ts';
import { parseTarget } from './path.ts';

describe('request target normalisation', () => {
  const ok: [string, string, string?][] = [
    ['/a/b', '/a/b'],
    ['/a/b?x=1&y=%20', '/a/b', 'x=1&y=%20'],
    ['/a//b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/public/..%2fadmin'.replace('%2f', '/'), '/admin'],
    ['/%2e%2e/admin', '/admin'],
    ['/%2E%2e/%2e/admin', '/admin'],
    ['/%61dmin', '/admin'],
    ['/a%7eb', '/a~b'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a/b/', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/', '/'],
    ['/a;x=1/b', '/a;x=1/b'],
  ];
  for (const [input, path, query] of ok) {
    it(`${input} → ${path}`, () => {
      const t = parseTarget(input);
      assert.equal(t.path, path);
      assert.equal(t.query, query ?? '');
    });
  }

  const bad = [
    '/a%2fb', '/a%2Fb', '/a%5cb', '/a%00b', '/a%0ab', '/a%zz', '/a%4', '*', 'http://evil/x', 'a/b', '/a\\b', '/a b', '/a\u0000', '/é', '/a?b#c', '/a?b c',
  ];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)} with 400 PCL_REQUEST_BAD_PATH`, () => {
      assert.throws(() => parseTarget(input), (err: unknown) => err instanceof GatewayError && err.code === 'PCL_REQUEST_BAD_PATH' && err.status === 400);
    });
  }
});
