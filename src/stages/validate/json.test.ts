import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.ts';
import { DEFAULT_JSON_LIMITS, parseJsonBody } from './json.ts';

const LIMITS = { maxDepth: 8, maxKeys: 50 };

function outcome(text: string | Buffer, limits = LIMITS): { ok: unknown } | { code: string; errors: readonly { pointer: string; message: string }[] | undefined } {
  try {
    return { ok: parseJsonBody(typeof text === 'string' ? Buffer.from(text) : text, limits) };
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return { code: err.code, errors: err.errors };
  }
}

const forbidden = (pointer: string, key: string) => ({ code: 'PCL_REQUEST_FORBIDDEN_KEY', errors: [{ pointer, message: `the key "${key}" is not allowed` }] });

describe('parseJsonBody', () => {
  const CASES: { name: string; text: string | Buffer; expect: unknown; limits?: typeof LIMITS }[] = [
    { name: 'an object', text: '{"a":[1,{"b":null}],"c":"x"}', expect: { ok: { a: [1, { b: null }], c: 'x' } } },
    { name: 'a scalar document', text: ' 42 ', expect: { ok: 42 } },
    { name: 'keys that merely contain the words', text: '{"my__proto__x":1,"constructors":2,"prototyped":[3]}', expect: { ok: { my__proto__x: 1, constructors: 2, prototyped: [3] } } },
    { name: 'the words as values', text: '{"a":"__proto__","b":["constructor","prototype"]}', expect: { ok: { a: '__proto__', b: ['constructor', 'prototype'] } } },
    { name: 'escapes that are no forbidden key', text: '{"caf\\u00e9":"\\u00e9"}', expect: { ok: { 'café': 'é' } } },
    { name: '__proto__ at the top', text: '{"__proto__":{"x":1}}', expect: forbidden('/__proto__', '__proto__') },
    { name: '__proto__ nested in arrays', text: '{"a":[{},{"b":[{"__proto__":{}}]}]}', expect: forbidden('/a/1/b/0/__proto__', '__proto__') },
    { name: 'constructor.prototype', text: '{"constructor":{"prototype":{"isAdmin":true}}}', expect: forbidden('/constructor', 'constructor') },
    { name: 'prototype alone', text: '{"x":{"prototype":1}}', expect: forbidden('/x/prototype', 'prototype') },
    { name: 'an escaped __proto__ (\\u005f_proto__)', text: '{"\\u005f_proto__":{"x":1}}', expect: forbidden('/__proto__', '__proto__') },
    { name: 'an escaped key, fully', text: '{"a":{"\\u005f\\u005f\\u0070\\u0072\\u006f\\u0074\\u006f\\u005f\\u005f":1}}', expect: forbidden('/a/__proto__', '__proto__') },
    { name: 'an escaped constructor', text: '{"\\u0063onstructor":{}}', expect: forbidden('/constructor', 'constructor') },
    { name: 'a pointer with ~ and / escaped (RFC 6901)', text: '{"a/b":{"c~d":{"__proto__":1}}}', expect: forbidden('/a~1b/c~0d/__proto__', '__proto__') },
    { name: 'depth at the limit', text: '[[[[[[[[1]]]]]]]]', expect: { ok: [[[[[[[[1]]]]]]]] } },
    { name: 'depth one over the limit', text: '[[[[[[[[[1]]]]]]]]]', expect: { code: 'PCL_REQUEST_BODY_TOO_COMPLEX', errors: [{ pointer: '/0/0/0/0/0/0/0/0', message: 'nests deeper than 8 levels' }] } },
    {
      name: 'a depth bomb of 100,000 levels (parsed without a stack overflow, refused)',
      text: '['.repeat(100_000) + ']'.repeat(100_000),
      limits: DEFAULT_JSON_LIMITS,
      expect: { code: 'PCL_REQUEST_BODY_TOO_COMPLEX', errors: [{ pointer: '/0'.repeat(64), message: 'nests deeper than 64 levels' }] },
    },
    { name: 'keys at the limit', text: JSON.stringify(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]))), expect: { ok: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])) } },
    {
      name: 'a key-count bomb spread over objects',
      text: JSON.stringify(Array.from({ length: 30 }, (_, i) => ({ a: i, b: i }))),
      expect: { code: 'PCL_REQUEST_BODY_TOO_COMPLEX', errors: [{ pointer: '/25/a', message: 'exceeds 50 keys in the document' }] },
    },
    { name: 'invalid JSON', text: '{"a":1,}', expect: { code: 'PCL_REQUEST_MALFORMED_BODY', errors: [{ pointer: '', message: 'is not valid JSON (at character 7)' }] } },
    { name: 'an empty body', text: '', expect: { code: 'PCL_REQUEST_MALFORMED_BODY', errors: [{ pointer: '', message: 'is not valid JSON' }] } },
    { name: 'a byte order mark', text: '\ufeff{}', expect: { code: 'PCL_REQUEST_MALFORMED_BODY', errors: [{ pointer: '', message: 'is not valid JSON' }] } },
    { name: 'invalid UTF-8', text: Buffer.from([0x7b, 0x22, 0x61, 0xff, 0x22, 0x3a, 0x31, 0x7d]), expect: { code: 'PCL_REQUEST_MALFORMED_BODY', errors: [{ pointer: '', message: 'is not valid UTF-8' }] } },
    { name: 'a lone surrogate in raw UTF-8 (CESU)', text: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), expect: { code: 'PCL_REQUEST_MALFORMED_BODY', errors: [{ pointer: '', message: 'is not valid UTF-8' }] } },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const got = outcome(c.text, c.limits);
      if ('code' in got) assert.deepEqual({ code: got.code, errors: got.errors }, c.expect);
      else assert.deepEqual(got, c.expect);
    });
  }

  it('the parsed object has the keys as own properties and Object.prototype untouched', () => {
    const v = parseJsonBody(Buffer.from('{"toString":"x","hasOwnProperty":1}'), LIMITS) as Record<string, unknown>;
    assert.equal(v.toString, 'x');
    assert.equal(({} as Record<string, unknown>).toString, Object.prototype.toString);
  });

  it('is fast on a large ordinary document (the walk costs less than the parse)', () => {
    const doc = Buffer.from(JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => ({ sku: `ABC-${i}`, qty: i, tags: ['a', 'b'] })) }));
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) parseJsonBody(doc, { maxDepth: 64, maxKeys: 100_000 });
    const ms = (performance.now() - t0) / 20;
    assert.ok(ms < 20, `${ms.toFixed(2)}ms per ${doc.length}-byte document`);
  });
});
