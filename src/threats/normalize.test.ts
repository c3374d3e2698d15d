import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  F_BAD_ESCAPE,
  F_COMMENT,
  F_COMPAT_CHARS,
  F_CRLF,
  F_HTML_ENTITY,
  F_MULTI_ENCODED,
  F_NUL,
  F_OVERLONG_UTF8,
  F_PERCENT_U,
  F_UNICODE_ESCAPE,
  normalize,
  pathView,
} from './normalize.ts';

describe('normalize: each evasion yields the canonical form', () => {
  const cases: { name: string; input: string; value: string; flags?: number }[] = [
    { name: 'plain text is only lower-cased', input: 'Hello World', value: 'hello world' },
    { name: 'URL encoding', input: '%3Cscript%3E', value: '<script>' },
    { name: 'double URL encoding', input: '%253Cscript%253E', value: '<script>', flags: F_MULTI_ENCODED },
    { name: 'triple URL encoding', input: '%25253C', value: '<', flags: F_MULTI_ENCODED },
    { name: 'IIS %u encoding', input: '%u003cscript%u003e', value: '<script>', flags: F_PERCENT_U },
    { name: 'overlong UTF-8 dot and slash', input: '%c0%ae%c0%ae%c0%afetc', value: '../etc', flags: F_OVERLONG_UTF8 },
    { name: 'three-byte overlong dot', input: '%e0%80%ae%e0%80%ae/', value: '../', flags: F_OVERLONG_UTF8 },
    { name: 'HTML named entities', input: '&lt;img src=x&gt;', value: '<img src=x>', flags: F_HTML_ENTITY },
    { name: 'HTML numeric entities without ;', input: '&#60&#x3c;', value: '<<', flags: F_HTML_ENTITY },
    { name: 'entity hiding a URL escape', input: '&#37;3c', value: '<' },
    { name: 'JavaScript escapes', input: '\\u003cb\\x3e', value: '<b>', flags: F_UNICODE_ESCAPE },
    { name: 'full-width characters (NFKC)', input: '＜ＳＣＲＩＰＴ＞', value: '<script>', flags: F_COMPAT_CHARS },
    { name: 'circled digits (NFKC)', input: '①⑥⑨', value: '169', flags: F_COMPAT_CHARS },
    { name: 'NUL bytes removed', input: 'sel%00ect', value: 'select', flags: F_NUL },
    { name: 'SQL comment as whitespace', input: 'UNION/**/SELECT', value: 'union select', flags: F_COMMENT },
    { name: 'MySQL executable comment keeps its content', input: '/*!50000UNION*/SELECT', value: 'union select', flags: F_COMMENT },
    { name: 'tabs, NBSP and runs of spaces', input: 'a\t\u00a0 b', value: 'a b' },
    { name: 'CR LF become one newline', input: 'a\r\n\r\nb', value: 'a\nb', flags: F_CRLF },
    { name: 'leading and trailing space trimmed', input: '  x  ', value: 'x' },
    { name: 'a malformed escape stays and is flagged', input: 'a%1Gb', value: 'a%1gb', flags: F_BAD_ESCAPE },
    { name: 'a decoded percent is not a malformed escape', input: '100%25', value: '100%' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const n = normalize(c.input);
      assert.equal(n.value, c.value);
      if (c.flags !== undefined) assert.equal(n.flags & c.flags, c.flags, `flags ${n.flags.toString(2)}`);
    });
  }
  it('100%25 is not flagged as a bad escape', () => {
    assert.equal(normalize('100%25').flags & F_BAD_ESCAPE, 0);
  });
  it('decoding is bounded: four layers leave the last one encoded', () => {
    assert.equal(normalize('%2525252F').value, '%2f');
  });
});

describe('pathView: path tricks', () => {
  const cases: [string, string][] = [
    ['..\\..\\windows\\win.ini', '../../windows/win.ini'],
    ['/..;/..;/etc', '/../../etc'],
    ['0x2e0x2e0x2f', '../'],
    ['a//b///c', 'a/b/c'],
  ];
  for (const [input, expected] of cases) it(input, () => assert.equal(pathView(input), expected));
});
