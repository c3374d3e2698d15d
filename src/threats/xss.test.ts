import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectXss } from './xss.ts';

/** Attacks flagged at paranoia 1 (already decoded, as the engine hands them over). */
const ATTACKS: readonly string[] = [
  // script and dangerous tags
  '<script>alert(1)</script>',
  '<SCRIPT SRC=//evil.example/x.js></SCRIPT>',
  '<script >alert(1)',
  '<ScRiPt>prompt(1)</sCrIpT>',
  '<iframe src="https://evil.example"></iframe>',
  '<object data="javascript:alert(1)">',
  '<embed src="x.swf">',
  '<applet code="x.class">',
  '<base href="//evil.example/">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<link rel=import href=//evil.example>',
  '<style>@import "//evil.example/x.css";</style>',
  '<frameset onload=alert(1)>',
  // event handlers on any tag
  '<img src=x onerror=alert(1)>',
  '<img/src="x"/onerror="alert(1)">',
  '<body onload=alert(document.cookie)>',
  '<svg/onload=alert(1)>',
  '<svg><animate onbegin=alert(1) attributeName=x dur=1s>',
  '<details open ontoggle=alert(1)>',
  '<video><source onerror="alert(1)">',
  '<audio src=x onerror=alert(1)>',
  '<marquee onstart=alert(1)>',
  '<input autofocus onfocus=alert(1)>',
  '<xss onbeforehellfreezes=alerw(1)>',
  '<div onpointerover="alert(1)">x</div>',
  '<a href=# onclick="alert(1)">x</a>',
  // URL schemes
  '<a href="javascript:alert(1)">x</a>',
  '<a href="  JaVaScRiPt:alert(1)">x</a>',
  '<a href="java\tscript:alert(1)">x</a>',
  '<a href="java\nscript:alert(1)">x</a>',
  '<a href="vbscript:msgbox(1)">x</a>',
  '<iframe src="data:text/html,<script>alert(1)</script>">',
  '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
  'javascript:alert(document.domain)',
  'javascript://%0aalert(1)',
  ' javascript:void(0)',
  'data:text/html,<svg onload=alert(1)>',
  '<form action="javascript:alert(1)"><button>x</button></form>',
  '<button formaction=javascript:alert(1)>x</button>',
  '<svg><a xlink:href="javascript:alert(1)"><text y=20>x</text></a></svg>',
  '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
  // encodings already decoded once, residual layers
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '&#60;script&#62;alert(1)&#60;/script&#62;',
  '<a href="jav&#x09;ascript:alert(1)">x</a>',
  '<a href="javascript&colon;alert(1)">x</a>',
  'ja&tab;vascript:alert(1)',
  '\\x3cscript\\x3ealert(1)\\x3c/script\\x3e',
  '\\u003cimg src=x onerror=alert(1)\\u003e',
  '＜script＞alert(1)＜/script＞',
  '+ADw-script+AD4-alert(1)+ADw-/script+AD4-',
  // attribute breakouts
  '"><script>alert(1)</script>',
  "'><img src=x onerror=alert(1)>",
  '" onmouseover="alert(1)',
  "' onfocus=alert(1) autofocus '",
  '" autofocus onfocus=alert(1) x="',
  "x' onclick='alert(1)",
  // JS contexts
  '";alert(1)//',
  "';alert(String.fromCharCode(88,83,83))//",
  "'-alert(1)-'",
  '\\";alert(1);//',
  '</script><script>alert(1)</script>',
  'alert(1)',
  'eval(atob("YWxlcnQoMSk="))',
  'setTimeout("alert(1)",0)',
  "window['alert'](document['cookie'])",
  'self["alert"](1)',
  'document/**/.cookie',
  '(document)["cookie"]',
  '[].sort.call`${alert}1337`',
  '!![]+[]',
  '${alert(1)}',
  // CSS
  '<div style="width:expression(alert(1))">',
  '<p style="background:url(javascript:alert(1))">',
  'style=background:url(javascript:alert(1))',
  '-moz-binding:url(http://evil.example/x.xml#xss)',
  // templates (AngularJS sandbox escapes)
  "{{constructor.constructor('alert(1)')()}}",
  "{{$on.constructor('alert(1)')()}}",
  // XML
  '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
  '<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
  '<xi:include href="http://evil.example/x"/>',
  '<!--#exec cmd="ls"-->',
];

/** Benign values that must not be flagged at paranoia 1. */
const BENIGN: readonly string[] = [
  '**bold** and _italic_ in markdown, see [link](https://example.com)',
  '![screenshot](https://example.com/a.png) and ![](b.png)',
  '# Title\n\n- one\n- two\n\n> quote',
  '`inline code` and ```\nconst x = 1;\n```',
  'I <3 this product',
  'a<b and c>d',
  'if (a < b && c > d) return;',
  'x -> y => z',
  'Use <b>bold</b> and <i>italics</i> sparingly',
  '<p>Hello</p><br><em>world</em>',
  '<div class="note">hi</div>',
  '<span style="color:red">red</span>',
  '<a href="https://example.com/page?x=1&y=2">link</a>',
  'https://example.com/search?q=javascript+tutorial&page=2',
  'https://example.com/path/to/file.js?v=1.2.3#anchor',
  'mailto:someone@example.com',
  'john.doe@example.com',
  'I love JavaScript: it is fun',
  'Data: 5 items, metadata: none',
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'The online=true flag and once=1',
  '?onion=3&ongoing=yes',
  'My favourite alert is a quiet one (really).',
  'Click the button to confirm (or cancel) your order.',
  'He said "hello" and left.',
  "It's O'Brien's car, isn't it?",
  'Price: $5 (approx.)',
  'The document.pdf file is attached',
  'see document. Cookies are tasty',
  'window.location is how you redirect in JS',
  'use eval(x) carefully in your code',
  'call alert(msg) to show a message',
  'function onload() { init(); }',
  'const el = document.getElementById("x")',
  '{"name":"widget","tags":["a","b"],"onSale":true}',
  '{"html":"<b>hi</b>"}',
  'Hello {{name}}, your order {{order.id}} shipped',
  '${HOME}/bin and ${PATH}',
  'C:\\Users\\me\\Documents',
  '\\n and \\t are escapes',
  'AT&T and Q&A',
  '&copy; 2024 Example &amp; Co.',
  'Tom & Jerry',
  '3 > 2 and 1 < 2',
  '<-- arrow and --> arrow',
  'Use the <Enter> key',
  '[1, 2, 3]',
  '!important',
  'Hello! [link]',
  'x = y == z',
  'time: 10:30, ratio 1:2',
  'http://localhost:8080/api',
  'javascript',
  'vbscript is old',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'en-US,en;q=0.9',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.abc-def_ghi',
  '¼ cup of sugar',
  'expression (regular expressions are fun)',
  'style=bold',
  'Call me at +1 (555) 123-4567',
  '5 < 10 > 3',
  'onboarding=done',
  'a=1&b=2&onfoo',
  // documentation and code snippets
  "Old browsers don't support `Function.prototype.bind`.",
  '- `options`: `<Object>` the settings',
  '### In the browser via `<script>`',
  'setTimeout(function () { done(); }, 100)',
  'setInterval(() => tick(), 1000)',
  'ioredis supports `EVAL` and `EVALSHA`',
  'use self instead of window [`#267`](https://github.com/x/y/pull/267)',
  'I like java script: cool',
];

describe('detectXss', () => {
  it('flags the attack table at paranoia 1', () => {
    const missed = ATTACKS.filter((v) => detectXss(v, 1) === null);
    assert.deepEqual(missed, []);
  });

  it('leaves the benign table alone at paranoia 1', () => {
    const flagged = BENIGN.filter((v) => detectXss(v, 1) !== null).map((v) => [v, detectXss(v, 1)]);
    assert.deepEqual(flagged, []);
  });

  it('flags harmless markup only at paranoia 3', () => {
    for (const v of ['<b>bold</b>', '<p>text</p>', 'a<b and c>d']) {
      assert.equal(detectXss(v, 2), null, v);
      assert.equal(detectXss(v, 3)?.paranoia, 3, v);
    }
  });

  it('flags active markup without a payload at paranoia 2', () => {
    for (const v of ['<img src="cat.png">', '<svg width="10"></svg>', 'onabcdefgh=1']) {
      assert.equal(detectXss(v, 1), null, v);
      assert.equal(detectXss(v, 2)?.paranoia, 2, v);
    }
  });

  it('reports the context', () => {
    assert.equal(detectXss('<script>alert(1)</script>', 1)?.context, 'html');
    assert.equal(detectXss('javascript:alert(1)', 1)?.context, 'url');
    assert.equal(detectXss('";alert(1)//', 1)?.context, 'js');
    assert.equal(detectXss('" onmouseover="alert(1)', 1)?.context, 'attribute');
    assert.equal(detectXss('<p style="width:expression(alert(1))">', 1)?.context, 'css');
    assert.equal(detectXss("{{constructor.constructor('alert(1)')()}}", 1)?.context, 'template');
  });

  it('inspects only the first maxLength characters', () => {
    const v = 'a'.repeat(100) + '<script>alert(1)</script>';
    assert.notEqual(detectXss(v, 1), null);
    assert.equal(detectXss(v, 1, 50), null);
  });

  it('returns null fast for plain text', () => {
    assert.equal(detectXss('', 4), null);
    assert.equal(detectXss('hello world 123', 4), null);
  });
});

describe('detectXss performance', () => {
  const shapes: Record<string, (n: number) => string> = {
    lt: (n) => '<'.repeat(n),
    tags: (n) => '<a '.repeat(Math.ceil(n / 3)).slice(0, n),
    openAttr: (n) => ('<a x="' + '<b y=\''.repeat(n)).slice(0, n),
    quotes: (n) => '"'.repeat(n),
    colons: (n) => 'javascript'.repeat(Math.ceil(n / 10)).slice(0, n - 1) + ':',
    parens: (n) => '('.repeat(n),
    equals: (n) => 'onload'.repeat(Math.ceil(n / 6)).slice(0, n - 1) + '=',
    entities: (n) => '&#'.repeat(n / 2),
    comments: (n) => 'document/*'.repeat(Math.ceil(n / 10)).slice(0, n),
    braces: (n) => '{{'.repeat(n / 2),
    dots: (n) => 'document.'.repeat(Math.ceil(n / 9)).slice(0, n),
  };

  /** CPU ms of one call (not wall time: test files run two at a time, beside other processes). */
  function once(v: string, maxLength: number): number {
    const t0 = process.cpuUsage();
    detectXss(v, 4, maxLength);
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / 1000;
  }

  for (const [name, make] of Object.entries(shapes)) {
    it(`1 MB of ${name}: bounded and linear`, () => {
      const big = make(1 << 20);
      // default bound: only the first 65536 characters are inspected
      assert.ok(Math.min(once(big, 65536), once(big, 65536)) < 200);
      // unbounded: linear in length, 256 Ki vs 1 Mi characters: fastest of interleaved runs, and up
      // to three attempts, so that other work on the machine does not count (a quadratic scan gives a
      // ratio of 16 every time)
      const small = make(1 << 18);
      let ratio = Infinity;
      for (let attempt = 0; attempt < 3 && ratio >= 6; attempt++) {
        let tSmall = Infinity;
        let tBig = Infinity;
        for (let r = 0; r < 5; r++) {
          tSmall = Math.min(tSmall, once(small, Infinity));
          tBig = Math.min(tBig, once(big, Infinity));
        }
        assert.ok(tBig < 2000, `${name}: ${tBig} ms`);
        ratio = tBig / Math.max(tSmall, 1);
      }
      assert.ok(ratio < 6, `${name}: ratio ${ratio}`);
    });
  }
});

describe('markup without < and > (after the engine normalisation)', async () => {
  const { normalize } = await import('./normalize.ts');
  const attacks: readonly string[] = [
    '\u00bcscript\u00bealert(\u00a2XSS\u00a2)\u00bc/script\u00be',
    '\u00bctest\u00betest(\u00a2XSS\u00a2)\u00bc/test\u00be',
    '%BCscript%BEalert(1)%BC/script%BE',
    '\u00c2\u00bcscript\u00c2\u00bealert(\u00a2XSS\u00a2)\u00c2\u00bc/script\u00c2\u00be',
    '-->',
    '--!>',
    '--><script>',
  ];
  const nearMisses: readonly string[] = [
    '\u00bc\u00bc', '\u00be\u00be', 'mix \u00bc cup flour and \u00be cup milk, then \u00bc cup water \u00be',
    '\u00d0\u00bcscript\u00d0\u00bealert(\u00a2XSS\u00a2)\u00d0\u00bc/script\u00d0',
    '\u00d0\u00bcscript\u00d0\u00bealert(\u00a2XSS\u00a2)\u00d0/script\u00d0\u00be',
    'a --> b', 'step 1 --> step 2', '-- > not a comment', '--',
  ];
  it('finds each at paranoia 1', () => {
    const missed = attacks.filter((v) => detectXss(normalize(v).value, 1) === null);
    assert.deepEqual(missed, []);
  });
  it('leaves the near misses alone at paranoia 1', () => {
    const flagged = nearMisses.filter((v) => detectXss(normalize(v).value, 1) !== null);
    assert.deepEqual(flagged, []);
  });
});
