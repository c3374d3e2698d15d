import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectSqli, sqliPlain } from './sqli.ts';

/** Attacks flagged at paranoia 1 (already decoded, as the engine hands them over). */
const ATTACKS: readonly string[] = [
  // classic tautologies after a closed quote
  "' or 1=1--",
  "' OR '1'='1",
  "admin' or 'a'='a",
  '" or ""="',
  '-1839" or "1"="2',
  "x' or 1=1#",
  "') or ('1'='1",
  "')) or (('x'='x",
  "1' or '1'='1' -- ",
  "a'or'a",
  "' or true--",
  "'or 1 --",
  "'''or 1",
  "admin'--",
  "admin'#",
  "admin')--",
  "' or ''='",
  "EmptyValue' and 526=527",
  "x' or username like 'a%' --",
  "admin@juice-sh.op' and email = all (select email)--",
  // numeric context
  '1234 OR 1=1',
  '1 or 1=1',
  '-1 OR 2>1',
  '1) or (1=1',
  '1 AND 2771=1709',
  'or 1=1--',
  '1=1',
  '1 and sleep(5)',
  '1)) and sleep(5)#',
  // UNION based
  '1 union select 1,2,3',
  "foo') UNION ALL select NULL --",
  "-1' union select username, password from users--",
  '1 UNION ALL SELECT NULL,NULL,NULL--',
  ') union select @@version',
  "' union select table_name from information_schema.tables--",
  '0 union distinctrow select 1',
  'union select',
  // stacked queries
  "'; drop table users--",
  '1; DROP TABLE users',
  "x'; exec master..xp_cmdshell 'dir'--",
  "1;declare @q varchar(99);set @q='x'; exec(@q)",
  "';shutdown--",
  "'; insert into users (name) values ('x')--",
  "1; update users set admin=1 where id=2",
  // blind and time-based
  "1' and sleep(12) --",
  "foo')waitfor delay'5:0:20'--",
  "1; waitfor delay '0:0:5'--",
  'sleep(20)',
  'pg_sleep(5)',
  "1 and (select*from(select(sleep(5)))x)",
  "1' and (select count(*) from users) > 0 --",
  "1 and ascii(substring((select password from users limit 1),1,1))>64",
  'BENCHMARK(5000000,MD5(0x48416166))',
  "1 or if(1=1,sleep(5),0)",
  "' and 1=(select 1 from dual where 1=1)--",
  "1 AND EXISTS(SELECT * FROM users)",
  // error based
  "1 and extractvalue(1,concat(0x7e,version()))",
  "1 and updatexml(1,concat(0x7e,(select user())),1)",
  "' and 1=convert(int,(select @@version))--",
  // comment obfuscation, mixed case, whitespace alternatives
  '1/**/UnIoN/**/SeLeCt/**/1,2',
  '0/**/union/*!50000select*/table_name/**/from/**/x',
  "' /*!50000or*/1='1",
  'SELECT/*avoid-spaces*/password/**/FROM/**/Members',
  "1'\tor\t1=1--",
  "1'\nor\n1=1--",
  "1'\u000bor\u000b1=1--",
  '1 uNiOn\u000bsElEcT 1,2',
  // hex literals and char() encoding
  'select 0x616263',
  "1 union select char(117,115,101,114)",
  "' or char(65)||char(66)='AB'--",
  "concat(0x223e3c62723e,version(),0x3c696d67207372633d22)",
  // string concatenation
  "foo'||(select extractvalue(xmltype('<x/>'),'/l') from dual)||'",
  "x' + (select top 1 name from sysobjects) + '",
  // misc catalogs and probes
  'information_schema.tables',
  'xp_cmdshell',
  "1 order by 5--",
  "1' order by 3#",
  "' having 1=1--",
  "1' into outfile '/tmp/x'--",
  "1 procedure analyse()",
  'u_id[$ne]',
  "1' and json_search(json_array(password),0b1101,'t%')#",
  "encode(lo_get(16400),'base64')::int",
];

/** Benign values that must not be flagged at paranoia 1. */
const BENIGN: readonly string[] = [
  "O'Brien",
  "O'Brien and I select a plan",
  "don't drop the table, it's union made",
  '1 or 2 items',
  'select a plan',
  'drop me a line',
  'Union Station',
  'Meet me at union station at 5',
  "It's 5 o'clock and we're late; update me later",
  "Please select one from the menu and I'll drop it off",
  "I'd like to order by phone",
  'Where is the table? Let me know if you want to delete it from the list.',
  "We'll update the set list for Saturday",
  'The union selected a new leader',
  "Rock 'n' roll or jazz?",
  "the parents' and the teachers' committee",
  "Jones' or Smith's proposal",
  'john.doe@example.com',
  "o'connor@example.ie",
  'https://example.com/search?q=union+station&page=2&sort=desc',
  'https://example.com/a/b?x=1&y=2#section',
  '/api/v1/users/42/orders?status=open',
  'use SELECT * FROM users to list them',
  'Try `SELECT name FROM users WHERE id = 1` in the console',
  'In SQL, `DROP TABLE` removes a table; be careful.',
  "He said 'hello' and left",
  "She said \"hi\" or waved",
  'a<b and c>d',
  'x = 5 and y = 6',
  'rating >= 4 and price < 100',
  '5 > 3',
  '2 + 2 = 4',
  '**bold** and _italic_ in markdown, see [link](https://example.com)',
  '# Heading\n\n- item one\n- item two',
  '> quoted text -- with a dash',
  'Call me -- or not',
  'Price: $20 (or less)',
  'C# and F# are languages',
  'issue #42 and #43',
  '{"name":"widget","qty":3,"tags":["a","b"]}',
  '["select","drop","union"]',
  'function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }',
  'await sleep(1000)',
  'time.sleep(5)',
  'if (a && b || c) { return x; }',
  'for (let i = 0; i < n; i++) total += i;',
  'x == y && y != z',
  'The likelihood of rain is low (about 20%).',
  'I need sleep (8 hours at least)',
  'Mr. Smith & Sons Ltd.',
  'AT&T',
  'Q&A session',
  "Let's meet at 10:30; bring the docs",
  'ord_0123456789',
  '2024-05-01T12:00:00Z',
  '+1 (555) 123-4567',
  'en-US,en;q=0.9',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.abc-def_ghi',
  'a1b2c3d4e5f6',
  'user_name',
  'version 2.1 (beta)',
  'count(*) is a SQL aggregate',
  'The 1=1 trick is a classic',
  'north wind',
  'Happy hour: 5-7pm, drinks & snacks',
  "don't know, won't tell; can't stop",
  'Order #12345 -- shipped',
  'He scored 10/10 -- amazing!',
  '100% natural, 0% sugar',
  'set @john as reviewer',
  'ping @alice and @bob',
  'SELECT',
  'from A to B',
  'Exec summary: all good',
  // quoted words, CLI flags, arrows, markdown: not query-ending comments
  "the 'or' operator",
  "use 'and' or 'or'",
  "'yes' or 'no'",
  "Dave's #1 fan",
  "that's all -- thanks",
  'Best regards,\n-- \nJohn',
  "run it with '--force' or `--dry-run`",
  "opts['--'] holds the rest",
  "channel: '#general'",
  'state A --> state B',
  "It's done.\n# Next steps",
  '- Fix the parser [`#16`](https://github.com/x/y/pull/16)',
  '`/orders/*` matches every order',
];

/** Prose containing SQL: flagged only at higher paranoia. */
const PROSE_SQL: readonly string[] = ['use SELECT * FROM users to list them', 'select * from users'];

describe('detectSqli', () => {
  it('flags the attack table at paranoia 1', () => {
    const missed = ATTACKS.filter((v) => detectSqli(v, 1) === null);
    assert.deepEqual(missed, []);
  });

  it('leaves the benign table alone at paranoia 1', () => {
    const flagged = BENIGN.filter((v) => detectSqli(v, 1) !== null).map((v) => [v, detectSqli(v, 1)]);
    assert.deepEqual(flagged, []);
  });

  it('flags SQL statements in prose only from paranoia 2', () => {
    for (const v of PROSE_SQL) {
      assert.equal(detectSqli(v, 1), null, v);
      assert.notEqual(detectSqli(v, 2), null, v);
    }
  });

  it('reports the context of the parse that matched', () => {
    assert.equal(detectSqli("x' or '1'='1", 1)?.context, 'single-quote');
    assert.equal(detectSqli('x" or "1"="1', 1)?.context, 'double-quote');
    assert.equal(detectSqli('1 or 1=1', 1)?.context, 'number');
    assert.equal(detectSqli('1; drop table users', 1)?.paranoia, 1);
  });

  it('reports a fingerprint and a reason', () => {
    const r = detectSqli("' or 1=1--", 1);
    assert.ok(r);
    assert.match(r.fingerprint, /^s&1=1/);
    assert.ok(r.reason.length > 0);
  });

  it('reports the lowest paranoia level of a finding, and honours the requested level', () => {
    const r = detectSqli('rand(', 4);
    assert.ok(r);
    assert.ok(r.paranoia >= 1 && r.paranoia <= 4);
    assert.equal(detectSqli('!=', 1), null);
    assert.notEqual(detectSqli('!=', 3), null);
  });

  it('inspects only the first maxLength characters', () => {
    const v = 'a'.repeat(100) + "' or 1=1--";
    assert.notEqual(detectSqli(v, 1), null);
    assert.equal(detectSqli(v, 1, 50), null);
  });

  it('returns null fast for empty and alphanumeric values', () => {
    assert.equal(detectSqli('', 4), null);
    assert.equal(detectSqli('abc123', 1), null);
  });
});

describe('detectSqli performance', () => {
  const shapes: Record<string, (n: number) => string> = {
    quotes: (n) => "'".repeat(n),
    doubleQuotes: (n) => '"'.repeat(n),
    parens: (n) => '('.repeat(n),
    comments: (n) => '/*'.repeat(n / 2),
    dashes: (n) => '-'.repeat(n),
    alternating: (n) => "' or 1=1 union select ".repeat(Math.ceil(n / 22)).slice(0, n),
    words: (n) => 'select from where and or '.repeat(Math.ceil(n / 25)).slice(0, n),
    closingParens: (n) => ')'.repeat(n),
    backslashQuotes: (n) => "\\'".repeat(n / 2),
  };

  /** CPU ms of one call (not wall time: test files run two at a time, beside other processes). */
  function once(v: string, maxLength: number): number {
    const t0 = process.cpuUsage();
    detectSqli(v, 4, maxLength);
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / 1000;
  }

  for (const [name, make] of Object.entries(shapes)) {
    it(`1 MB of ${name}: bounded and linear`, () => {
      const big = make(1 << 20);
      // default bound: only the first 8192 characters are inspected
      assert.ok(Math.min(once(big, 8192), once(big, 8192)) < 200);
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

describe('plain pre-filter (sqliPlain): values that tokenise into words, numbers, one-character operators and commas only', () => {
  // Attacks one step past the pre-filter's boundary: a keyword, a looked-up name, a number with
  // letters, a dotted or `$` word, a comment, a doubled operator. The pre-filter must leave each to the parse.
  const boundary: readonly string[] = [
    'xp_cmdshell', 'information_schema', 'pg_sleep', 'sysobjects', 'msysobjects', 'tempdb', 'msdb', 'master..sysdatabases',
    '1e5 union select 1', '1 union select 1,2', '1/**/union/**/select/**/1,2', 'waitfor delay', '1 order by 1--', 'select pg_sleep',
    '@@version', '2.2250738585072011e-308', '1.e(ascii',
  ];
  for (const s of boundary) {
    it(`left to the parse and flagged: ${JSON.stringify(s)}`, () => {
      assert.equal(sqliPlain(s, s.length), false);
      assert.notEqual(detectSqli(s, 1), null);
    });
  }
  it('refuses every character class the tokeniser reads as more than a word, number or one-character operator', () => {
    for (const s of ["a'b", 'a"b', 'a`b', 'a;b', 'a(b', 'a)b', 'a=b', 'a<b', 'a>b', 'a!b', 'a|b', 'a.b', 'a@b', 'a#b', 'a$b', 'a:b', 'a*b', 'a?b', 'a\\b', 'a{b', 'a}b', 'a--b', 'a&&b', '1a', '0x41', '1_0', 'é', 'a\rb', 'union', 'SELECT', 'Or', 'northwind', 'nvarchar']) {
      assert.equal(sqliPlain(s, s.length), false, s);
    }
  });
  it('accepts prose without punctuation, paths and lists — and the full parse agrees (no finding below paranoia 3)', () => {
    const words = ['coffee', 'beans', 'kg', 'a5', 'usb', 'c', 'hub', 'api', 'v1', 'orders', 'ord_42', 'items', 'id', 'name', 'price', 'rock', 'roll', 'x', '_', '1', '42', '2025', '4294967296', 'Desk', 'LAMP'];
    const seps = [' ', ',', '-', '/', '&', '+', '%', '^', '~', '\n', '\t', ', ', ' - '];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed % n;
    };
    let plain = 0;
    for (let k = 0; k < 3000; k++) {
      let s = rnd(4) === 0 ? seps[rnd(seps.length)]! : '';
      for (let i = 1 + rnd(6); i > 0; i--) s += words[rnd(words.length)]! + (i > 1 || rnd(3) === 0 ? seps[rnd(seps.length)]! : '');
      if (!sqliPlain(s, s.length)) continue;
      plain++;
      // paranoia 3 runs the full parse (the pre-filter is for paranoia 1 and 2)
      const full = detectSqli(s, 3);
      assert.ok(full === null || full.paranoia >= 3, `${JSON.stringify(s)}: ${JSON.stringify(full)}`);
      assert.equal(detectSqli(s, 1), null);
      assert.equal(detectSqli(s, 2), null);
    }
    assert.ok(plain > 1000, `${plain} plain samples`);
    for (const s of ['Coffee beans 1 kg', '/api/v1/orders/ord_42/items', 'id,name,price', 'rock & roll t-shirt', 'USB-C hub']) assert.equal(sqliPlain(s, s.length), true, s);
  });
});

describe('statement fragments (sqlFragment): continuations of a statement the application builds', () => {
  const attacks: readonly string[] = [
    '&&(l=!0)', '||(c===', '|| c == \'', '&& setPath !=', 'AND uid!=(', 'oR pmw==', 'AND deleted = 0)',
    '; insert into', ';update users', ';drop', '; select',
    'name=(select', '@.= ( SELECT', 'x, (select 1)',
    'LIKE NULL', 'is not null', 'in (0,1)', ' IN (815914, 815913)\n', 'not in (2147483647,-1)',
    "'alter a", '" UNION A', "' union/",
    ') as cc FROM', ') AS `carrier_id` from', '6 As" from', ';  As  not  from',
    'HAVING 1=', ' HAVING COUNT(CustomerID) > 5', 'from `db_miwf`.`sys_refindex` limit', 'FROM termine GROUP BY tag1',
    'FROM ack_variable WHERE name="cron_last";', "VALUES ('192.168.0.1', 'test')", 'except values(1,2)', ') when 234 then',
    'length||(', 'month=(', 'IN (', 'quarter. (', 'password?(', 'left\')?$(',
    '>SET @OLD_SQL_NOTES', 'ORder by',
    "' or abc!", "'  or 3,4,2@!", 'xor 5-', "' or aaaaaaaaaaaaaaaaaaaaaaaaa<",
    " 'abc', 0x1a", " 'item', (5)", "product = 'item', (5)", '` REGEXP ',
  ];
  const nearMisses: readonly string[] = [
    'and so on', 'or less', 'and I = happy?', 'or maybe later', '&& then some', 'Tom && Jerry',
    '; update: shipped today', 'semicolon; select the best', '(select one)', 'choose (select all that apply)',
    'is null a valid answer?', 'like nothing else', 'in (2024)', 'in (see above)', 'in 2024 (q1, q2)',
    "'Alter' is a verb", "'union' is a word", '(see above) as well from the store', 'as far from home as possible',
    'having fun', 'having 2 kids', 'from home where we met', 'from Paris', 'values (see table)', 'values matter',
    ') when done then call me', 'call me on Monday', 'length (cm)', 'order by phone', 'group by size please',
    "'Or else!'", "'or what'", 'xor gate', "'red', 'blue' and green", "'hello', she said",
    'smile :-(', 'the day (', "I'd like 'the blue one'", 'looks like "', "x = 'a', b", "'regexp' is a word",
  ];
  it('finds each at paranoia 1', () => {
    const missed = attacks.filter((v) => detectSqli(v, 1) === null);
    assert.deepEqual(missed, []);
  });
  it('leaves the near misses alone at paranoia 1', () => {
    const flagged = nearMisses.filter((v) => detectSqli(v, 1) !== null).map((v) => [v, detectSqli(v, 1)?.reason]);
    assert.deepEqual(flagged, []);
  });
});
