import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.ts';
import { isValidBoundary, parseMultipart, parseUrlEncoded, type FormLimits } from './forms.ts';
import { MediaTypeMatcher, parseMediaType } from './media-type.ts';

const LIMITS: FormLimits = { maxParts: 4, maxFieldBytes: 16, maxFileBytes: 64 };

type Outcome = { fields: unknown } | { code: string; pointer: string | undefined };

function run(fn: () => { fields?: unknown } | Record<string, unknown>): Outcome {
  try {
    const r = fn();
    return { fields: 'fields' in r ? r.fields : r };
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    return { code: err.code, pointer: err.errors?.[0]?.pointer };
  }
}

const MALFORMED = 'PCL_REQUEST_MALFORMED_BODY';

describe('parseUrlEncoded', () => {
  const CASES: { name: string; body: string | Buffer; expect: Outcome }[] = [
    { name: 'fields, + as space, percent-decoding as UTF-8', body: 'a=1&b=J%C3%BCrgen+X&c=', expect: { fields: { a: '1', b: 'Jürgen X', c: '' } } },
    { name: 'repeated names become arrays, in order', body: 'tag=a&x=1&tag=b&tag=c', expect: { fields: { tag: ['a', 'b', 'c'], x: '1' } } },
    { name: 'empty sequences are skipped; a name without = has an empty value', body: '&&a&b=2&', expect: { fields: { a: '', b: '2' } } },
    { name: 'names such as toString are plain fields', body: 'toString=1&hasOwnProperty=2', expect: { fields: { toString: '1', hasOwnProperty: '2' } } },
    { name: 'an empty body', body: '', expect: { fields: {} } },
    { name: 'a malformed escape in a value', body: 'a=%zz', expect: { code: MALFORMED, pointer: '/a' } },
    { name: 'an escape that is not UTF-8', body: 'a=%ff', expect: { code: MALFORMED, pointer: '/a' } },
    { name: 'raw bytes that are not UTF-8', body: Buffer.from([0x61, 0x3d, 0xff]), expect: { code: MALFORMED, pointer: '' } },
    { name: '__proto__ as a name', body: '__proto__=1', expect: { code: 'PCL_REQUEST_FORBIDDEN_KEY', pointer: '/__proto__' } },
    { name: 'a bracket path through __proto__ (qs style)', body: 'a[__proto__][admin]=1', expect: { code: 'PCL_REQUEST_FORBIDDEN_KEY', pointer: '/a[__proto__][admin]' } },
    { name: 'a dotted path through constructor.prototype, percent-encoded', body: 'x.%63onstructor.prototype.y=1', expect: { code: 'PCL_REQUEST_FORBIDDEN_KEY', pointer: '/x.constructor.prototype.y' } },
    { name: 'fields at the limit', body: 'a=1&b=2&c=3&d=4', expect: { fields: { a: '1', b: '2', c: '3', d: '4' } } },
    { name: 'one field too many', body: 'a=1&b=2&c=3&d=4&e=5', expect: { code: 'PCL_REQUEST_BODY_TOO_COMPLEX', pointer: '' } },
    { name: 'a value of exactly maxFieldBytes', body: `a=${'v'.repeat(16)}`, expect: { fields: { a: 'v'.repeat(16) } } },
    { name: 'a value over maxFieldBytes', body: `a=${'v'.repeat(17)}`, expect: { code: 'PCL_REQUEST_BODY_TOO_LARGE', pointer: '/a' } },
  ];
  for (const c of CASES) {
    it(c.name, () => assert.deepEqual(run(() => parseUrlEncoded(Buffer.from(c.body), LIMITS)), c.expect));
  }
});

const part = (headers: string, content: string, boundary = 'b0'): string => `--${boundary}\r\n${headers}\r\n\r\n${content}\r\n`;
const field = (name: string, value: string): string => part(`Content-Disposition: form-data; name="${name}"`, value);

describe('parseMultipart', () => {
  const CASES: { name: string; body: string; boundary?: string; expect: Outcome }[] = [
    { name: 'fields and a file (represented by its file name)', body: `${field('a', '1')}${part('Content-Disposition: form-data; name="f"; filename="x.txt"\r\nContent-Type: text/plain', 'file body')}--b0--`, expect: { fields: { a: '1', f: 'x.txt' } } },
    { name: 'a preamble and an epilogue are ignored', body: `This is a preamble\r\n${field('a', '1')}--b0--\r\nepilogue\r\n--b0\r\nnot a part`, expect: { fields: { a: '1' } } },
    { name: 'transport padding after a boundary', body: `--b0  \t\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b0--`, expect: { fields: { a: '1' } } },
    { name: 'repeated names become arrays', body: `${field('t', 'x')}${field('t', 'y')}--b0--`, expect: { fields: { t: ['x', 'y'] } } },
    { name: 'an empty value, CRLF inside a value', body: `${field('a', '')}${field('b', 'l1\r\nl2')}--b0--`, expect: { fields: { a: '', b: 'l1\r\nl2' } } },
    { name: 'header names are case-insensitive; quoted name with an escaped quote', body: `${part('content-DISPOSITION: Form-Data; name="a\\"b"', 'v')}--b0--`, expect: { fields: { 'a"b': 'v' } } },
    { name: 'a field in another declared charset', body: `${part('Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain; charset=iso-8859-1', '\xe9')}--b0--`, expect: { fields: { a: 'é' } } },
    { name: 'a boundary with allowed punctuation and a space', boundary: "a'()+_,-./:=? z", body: `--a'()+_,-./:=? z\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--a'()+_,-./:=? z--`, expect: { fields: { a: '1' } } },
    { name: 'the boundary text inside a value, not at a line start', body: `${field('a', 'x--b0y')}--b0--`, expect: { fields: { a: 'x--b0y' } } },
    { name: 'no boundary anywhere', body: 'just text', expect: { code: MALFORMED, pointer: '' } },
    { name: 'truncated: no closing boundary', body: field('a', '1'), expect: { code: MALFORMED, pointer: '/a' } },
    { name: 'truncated inside a part head', body: '--b0\r\nContent-Disposition: form-da', expect: { code: MALFORMED, pointer: '' } },
    { name: 'truncated right after the boundary', body: '--b0', expect: { code: MALFORMED, pointer: '' } },
    { name: 'LF line endings are refused', body: '--b0\nContent-Disposition: form-data; name="a"\n\n1\n--b0--', expect: { code: MALFORMED, pointer: '' } },
    { name: 'a boundary line followed by text', body: `--b0x\r\n${field('a', '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'a part without Content-Disposition', body: `${part('Content-Type: text/plain', '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'a part without a name', body: `${part('Content-Disposition: form-data; filename="x"', '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'an attachment disposition', body: `${part('Content-Disposition: attachment; name="a"', '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'two Content-Disposition fields', body: `${part('Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"', '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'a folded header line', body: `${part('Content-Disposition: form-data;\r\n name="a"', '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'an empty part head', body: `--b0\r\n\r\n1\r\n--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'a base64 Content-Transfer-Encoding', body: `${part('Content-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64', 'MQ==')}--b0--`, expect: { code: MALFORMED, pointer: '/a' } },
    { name: 'a binary Content-Transfer-Encoding is fine', body: `${part('Content-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: binary', '1')}--b0--`, expect: { fields: { a: '1' } } },
    { name: 'a field that is not UTF-8', body: `${field('a', '\xff')}--b0--`, expect: { code: MALFORMED, pointer: '/a' } },
    { name: 'parts at the limit', body: `${field('a', '1')}${field('b', '2')}${field('c', '3')}${field('d', '4')}--b0--`, expect: { fields: { a: '1', b: '2', c: '3', d: '4' } } },
    { name: 'too many parts', body: `${field('a', '1')}${field('b', '2')}${field('c', '3')}${field('d', '4')}${field('e', '5')}--b0--`, expect: { code: 'PCL_REQUEST_BODY_TOO_COMPLEX', pointer: '' } },
    { name: 'a field over maxFieldBytes', body: `${field('a', 'x'.repeat(17))}--b0--`, expect: { code: 'PCL_REQUEST_BODY_TOO_LARGE', pointer: '/a' } },
    { name: 'a file within maxFileBytes (over maxFieldBytes)', body: `${part('Content-Disposition: form-data; name="f"; filename="a"', 'x'.repeat(64))}--b0--`, expect: { fields: { f: 'a' } } },
    { name: 'a file over maxFileBytes', body: `${part('Content-Disposition: form-data; name="f"; filename="a"', 'x'.repeat(65))}--b0--`, expect: { code: 'PCL_REQUEST_BODY_TOO_LARGE', pointer: '/f' } },
    { name: 'a part head over 8 KiB', body: `${part(`Content-Disposition: form-data; name="a"\r\nX-Pad: ${'p'.repeat(9000)}`, '1')}--b0--`, expect: { code: MALFORMED, pointer: '' } },
    { name: 'a __proto__ field name', body: `${field('__proto__', '1')}--b0--`, expect: { code: 'PCL_REQUEST_FORBIDDEN_KEY', pointer: '/__proto__' } },
  ];
  for (const c of CASES) {
    it(c.name, () => assert.deepEqual(run(() => parseMultipart(Buffer.from(c.body, 'latin1'), c.boundary ?? 'b0', LIMITS)), c.expect));
  }

  it('parts are byte ranges of the body (a binary file stays as sent)', () => {
    const file = Buffer.from([0, 1, 2, 0x0d, 0x0a, 0x2d, 0x2d, 0xff]);
    const body = Buffer.concat([
      Buffer.from('--b0\r\nContent-Disposition: form-data; name="f"; filename="bin"\r\nContent-Type: application/octet-stream\r\n\r\n'),
      file,
      Buffer.from('\r\n--b0--'),
    ]);
    const { parts } = parseMultipart(body, 'b0', LIMITS);
    assert.equal(parts.length, 1);
    const p = parts[0];
    assert.ok(p && body.subarray(p.start, p.end).equals(file));
    assert.deepEqual({ name: p?.name, filename: p?.filename, contentType: p?.contentType }, { name: 'f', filename: 'bin', contentType: 'application/octet-stream' });
  });
});

describe('boundaries and media types', () => {
  it('boundary sanity (RFC 2046: 1-70 bchars, no trailing space)', () => {
    for (const ok of ['a', '----WebKitFormBoundary7MA4YWxkTrZu0gW', 'x'.repeat(70), "a'()+_,-./:=? b"]) assert.equal(isValidBoundary(ok), true, ok);
    for (const bad of ['', 'x'.repeat(71), 'ends with space ', 'semi;colon', 'quote"', 'tab\t', 'ünï']) assert.equal(isValidBoundary(bad), false, bad);
  });

  it('parses Content-Type values (RFC 9110 §8.3.1)', () => {
    const CASES: [string, { essence: string; params: Record<string, string> } | null][] = [
      ['application/json', { essence: 'application/json', params: {} }],
      ['Application/JSON ; Charset=UTF-8', { essence: 'application/json', params: { charset: 'UTF-8' } }],
      ['multipart/form-data; boundary="a b;c\\"d"', { essence: 'multipart/form-data', params: { boundary: 'a b;c"d' } }],
      ['text/plain;;charset=utf-8;', { essence: 'text/plain', params: { charset: 'utf-8' } }],
      ['application/json; charset', null],
      ['application/json; charset=', null],
      ['application/json; a=1; A=2', null],
      ['application', null],
      ['/json', null],
      ['application/json x', null],
      ['application/json; a="unterminated', null],
      ['multipart/form-data; boundary=a b', null],
    ];
    for (const [value, expect] of CASES) {
      const m = parseMediaType(value);
      assert.deepEqual(m === null ? null : { essence: m.essence, params: { ...m.params } }, expect, value);
    }
  });

  it('matches allowed media types, with wildcards', () => {
    const m = new MediaTypeMatcher(['application/json', 'application/*+json', 'text/*']);
    const yes = ['application/json', 'APPLICATION/JSON; charset=utf-8', 'application/problem+json', 'application/vnd.a.b+json', 'text/csv'];
    const no = ['application/jsonx', 'application/+json', 'application/xml', 'image/png', 'application/json+xml'];
    for (const v of yes) assert.equal(m.matches(parseMediaType(v) as NonNullable<ReturnType<typeof parseMediaType>>), true, v);
    for (const v of no) assert.equal(m.matches(parseMediaType(v) as NonNullable<ReturnType<typeof parseMediaType>>), false, v);
    assert.equal(new MediaTypeMatcher(['*/*']).matches(parseMediaType('image/png') as NonNullable<ReturnType<typeof parseMediaType>>), true);
  });
});
