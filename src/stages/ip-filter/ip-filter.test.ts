import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { BlockList } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { ConfigIssue } from '../../config/errors.ts';
import { isGatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import { AddressTable, parseCidr, parseClient, findClient } from './addresses.ts';
import { buildIpFilters } from './build.ts';
import { bundledDatabase, CountryDatabase } from './geo.ts';
import { parseListText } from './lists.ts';
import type { RawIpFilter } from './schema.ts';

const BUNDLED_DATABASE = bundledDatabase();

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-ipfilter-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Builds `raw` as defaults.ipFilter; throws with the issues when it does not build. */
async function filterOf(raw: RawIpFilter): Promise<(ip: string) => string> {
  const issues: ConfigIssue[] = [];
  const filters = await buildIpFilters(raw, [], dir, issues);
  assert.deepEqual(issues, []);
  const stage = filters.unrouted[0];
  assert.ok(stage);
  return (ip) => {
    try {
      stage.run({ clientIp: ip } as RequestContext);
      return 'allow';
    } catch (err) {
      assert.ok(isGatewayError(err));
      return `${err.code}: ${err.message}`;
    }
  };
}

async function issuesOf(raw: RawIpFilter): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  await buildIpFilters(raw, [], dir, issues);
  return issues;
}

const verdict = (decide: (ip: string) => string, ip: string): string => decide(ip).split(':')[0] as string;

describe('address rules', () => {
  const table = [
    { name: 'v4 first address', rule: '203.0.113.0/24', ip: '203.0.113.0', hit: true },
    { name: 'v4 last address', rule: '203.0.113.0/24', ip: '203.0.113.255', hit: true },
    { name: 'v4 one below', rule: '203.0.113.0/24', ip: '203.0.112.255', hit: false },
    { name: 'v4 one above', rule: '203.0.113.0/24', ip: '203.0.114.0', hit: false },
    { name: 'v4 single address', rule: '198.51.100.7', ip: '198.51.100.7', hit: true },
    { name: 'v4 single address, neighbour', rule: '198.51.100.7', ip: '198.51.100.8', hit: false },
    { name: 'v4 /0', rule: '0.0.0.0/0', ip: '255.255.255.255', hit: true },
    { name: 'v4 host bits are cleared', rule: '203.0.113.77/24', ip: '203.0.113.1', hit: true },
    { name: 'v6 first address', rule: '2001:db8:dead::/48', ip: '2001:db8:dead::', hit: true },
    { name: 'v6 last address', rule: '2001:db8:dead::/48', ip: '2001:db8:dead:ffff:ffff:ffff:ffff:ffff', hit: true },
    { name: 'v6 one below', rule: '2001:db8:dead::/48', ip: '2001:db8:deac:ffff:ffff:ffff:ffff:ffff', hit: false },
    { name: 'v6 one above', rule: '2001:db8:dead::/48', ip: '2001:db8:deae::', hit: false },
    { name: 'v6 non-nibble prefix, last', rule: '2001:db8::/35', ip: '2001:db8:1fff:ffff:ffff:ffff:ffff:ffff', hit: true },
    { name: 'v6 non-nibble prefix, outside', rule: '2001:db8::/35', ip: '2001:db8:2000::', hit: false },
    { name: 'v6 written in full', rule: '2001:0db8:0000:0000:0000:0000:0000:0001', ip: '2001:db8::1', hit: true },
    { name: 'v6 zone of a client is ignored', rule: 'fe80::/10', ip: 'fe80::1%eth0', hit: true },
    { name: 'mapped client vs v4 rule', rule: '203.0.113.0/24', ip: '::ffff:203.0.113.7', hit: true },
    { name: 'hex-mapped client vs v4 rule', rule: '203.0.113.0/24', ip: '::ffff:cb00:7107', hit: true },
    { name: 'mapped client outside v4 rule', rule: '203.0.113.0/24', ip: '::ffff:203.0.114.7', hit: false },
    { name: 'v4 client vs mapped rule', rule: '::ffff:203.0.113.0/120', ip: '203.0.113.7', hit: true },
    { name: 'v4 client vs ::ffff:0:0/96 (all of IPv4)', rule: '::ffff:0:0/96', ip: '8.8.8.8', hit: true },
    { name: 'v6 client vs ::ffff:0:0/96', rule: '::ffff:0:0/96', ip: '2001:db8::1', hit: false },
    { name: 'v4 client vs ::/0 (contains the mapped block)', rule: '::/0', ip: '8.8.8.8', hit: true },
    { name: 'v4 client vs 2000::/3', rule: '2000::/3', ip: '8.8.8.8', hit: false },
    { name: 'v6 client vs v4 /0', rule: '0.0.0.0/0', ip: '2001:db8::1', hit: false },
    { name: 'IPv4-compatible ::a.b.c.d is IPv6', rule: '203.0.113.0/24', ip: '::203.0.113.7', hit: false },
  ];
  for (const t of table) {
    it(`${t.name}: ${t.rule} ${t.hit ? 'covers' : 'does not cover'} ${t.ip}`, async () => {
      const decide = await filterOf({ deny: [t.rule] });
      assert.equal(verdict(decide, t.ip), t.hit ? 'PCL_IP_DENIED' : 'allow');
    });
  }

  it('agrees with node:net BlockList on random rules and addresses (v4, v6, mapped)', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const v4 = (): string => `${rnd(4) + 10}.${rnd(4)}.${rnd(256)}.${rnd(256)}`;
    const v6 = (): string => `2001:db8:${rnd(3).toString(16)}:${rnd(65536).toString(16)}::${rnd(65536).toString(16)}`;
    const rules: string[] = [];
    for (let i = 0; i < 400; i++) {
      rules.push(rnd(2) === 0 ? `${v4()}/${8 + rnd(25)}` : `${v6()}/${32 + rnd(97)}`);
    }
    rules.push(`::ffff:${v4()}/${100 + rnd(29)}`);
    const ours = new AddressTable(rules.map(parseCidr));
    const reference = new BlockList();
    for (const r of rules) {
      const [a, bits] = r.split('/') as [string, string];
      reference.addSubnet(a, Number(bits), a.includes(':') ? 'ipv6' : 'ipv4');
    }
    for (let i = 0; i < 20_000; i++) {
      const kind = rnd(3);
      const ip = kind === 0 ? v4() : kind === 1 ? v6() : `::ffff:${v4()}`;
      const expected = reference.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
      assert.equal(findClient(ours, parseClient(ip)) !== -1, expected, ip);
    }
  });

  it('refuses malformed entries, naming the exact path', async () => {
    const issues = await issuesOf({ deny: ['203.0.113.0/24', '203.0.113.0/33', '2001:db8::/129', 'example.com', '10.0.0.1/', '010.0.0.1', 'fe80::1%eth0'] });
    assert.deepEqual(issues.map((i) => i.path), [1, 2, 3, 4, 5, 6].map((j) => `defaults.ipFilter.deny[${j}]`));
    assert.equal(issues[0]?.message, '"203.0.113.0/33" has an invalid prefix length (0..32)');
    assert.equal(issues[2]?.message, '"example.com" is not an IP address or CIDR');
  });
});

describe('allow and deny', () => {
  it('deny wins over allow', async () => {
    const decide = await filterOf({ allow: ['203.0.113.0/24'], deny: ['203.0.113.7'] });
    assert.equal(decide('203.0.113.7'), 'PCL_IP_DENIED: deny 203.0.113.7 (defaults.ipFilter.deny[0])');
    assert.equal(decide('203.0.113.8'), 'allow');
  });

  it('an allow list means default deny', async () => {
    const decide = await filterOf({ allow: ['203.0.113.0/24', '2001:db8::/32'] });
    assert.equal(decide('203.0.113.200'), 'allow');
    assert.equal(decide('::ffff:203.0.113.200'), 'allow');
    assert.equal(decide('2001:db8::5'), 'allow');
    assert.equal(decide('198.51.100.1'), 'PCL_IP_DENIED: not in the allow list (defaults.ipFilter.allow)');
    assert.equal(verdict(decide, '2001:db9::5'), 'PCL_IP_DENIED');
  });

  it('reports the rule that matched, the widest of nested ones', async () => {
    const decide = await filterOf({ deny: ['192.0.2.0/28', '192.0.2.0/24', '2001:db8::/32'] });
    assert.equal(decide('192.0.2.1'), 'PCL_IP_DENIED: deny 192.0.2.0/24 (defaults.ipFilter.deny[1])');
    assert.equal(decide('2001:db8::1'), 'PCL_IP_DENIED: deny 2001:db8::/32 (defaults.ipFilter.deny[2])');
  });

  it('denies a client address that is not an IP address (fail closed)', async () => {
    const decide = await filterOf({ deny: ['192.0.2.0/24'] });
    assert.equal(verdict(decide, ''), 'PCL_IP_DENIED');
    assert.equal(verdict(decide, 'not-an-ip'), 'PCL_IP_DENIED');
  });
});

describe('list files', () => {
  it('parses FireHOL and Spamhaus DROP lines: # and ; comments, blank lines, CRLF', () => {
    const text = [
      '#',
      '# firehol_level1',
      '',
      '1.10.16.0/20 ; SBL256894',
      '  203.0.113.7   # a single address',
      '2001:db8:dead::/48\r',
      '\t',
      '; Spamhaus header',
    ].join('\n');
    const list = parseListText(text, 'drop.txt');
    assert.deepEqual(list.problems, []);
    assert.deepEqual(list.texts, ['1.10.16.0/20', '203.0.113.7', '2001:db8:dead::/48']);
    assert.deepEqual([...list.lines], [4, 5, 6]);
  });

  it('a bad line is a config error naming the file and the line', async () => {
    await writeFile(path.join(dir, 'bad.txt'), '# feed\n1.10.16.0/20\n1.10.16.0/20 SBL1\n\n999.1.1.1\n');
    const issues = await issuesOf({ denyFile: 'bad.txt' });
    assert.deepEqual(issues, [
      { path: 'defaults.ipFilter.denyFile', message: 'bad.txt line 3: "1.10.16.0/20 SBL1" is not an IP address or CIDR' },
      { path: 'defaults.ipFilter.denyFile', message: 'bad.txt line 5: "999.1.1.1" is not an IP address or CIDR' },
    ]);
  });

  it('a file of the wrong format reports five lines and a count, not thousands', async () => {
    await writeFile(path.join(dir, 'html.txt'), '<html>\n'.repeat(1000));
    const issues = await issuesOf({ denyFile: 'html.txt' });
    assert.equal(issues.length, 6);
    assert.equal(issues[5]?.message, 'html.txt: 995 more bad lines');
  });

  it('a missing file is a config error naming it, relative to the config directory', async () => {
    const issues = await issuesOf({ denyFile: ['feeds/none.txt'] });
    assert.deepEqual(issues, [
      { path: 'defaults.ipFilter.denyFile[0]', message: `cannot read feeds/none.txt (${path.join(dir, 'feeds/none.txt')}): ENOENT` },
    ]);
  });

  it('combines inline entries and files, and names the file and line of the matched rule', async () => {
    await writeFile(path.join(dir, 'drop.txt'), '; Spamhaus DROP\n1.10.16.0/20 ; SBL256894\n');
    const decide = await filterOf({ deny: ['203.0.113.0/24'], denyFile: 'drop.txt' });
    assert.equal(decide('1.10.31.255'), 'PCL_IP_DENIED: deny 1.10.16.0/20 (defaults.ipFilter.denyFile drop.txt line 2)');
    assert.equal(decide('203.0.113.1'), 'PCL_IP_DENIED: deny 203.0.113.0/24 (defaults.ipFilter.deny[0])');
    assert.equal(decide('1.10.32.0'), 'allow');
  });

  it('an allow list with no entries at all is refused (it would deny every client)', async () => {
    await writeFile(path.join(dir, 'empty.txt'), '# nothing yet\n');
    const issues = await issuesOf({ allowFile: 'empty.txt' });
    assert.deepEqual(issues.map((i) => i.path), ['defaults.ipFilter.allowFile']);
  });

  it('loads 100,000 entries in under a second, and looks them up in microseconds', async () => {
    const lines: string[] = ['# generated'];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 95_000; i++) {
      const bits = 16 + rnd(17);
      lines.push(`${1 + rnd(126)}.${rnd(256)}.${rnd(256)}.${rnd(256)}/${bits} ; SBL${i}`);
    }
    for (let i = 0; i < 5_000; i++) lines.push(`2001:db8:${rnd(65536).toString(16)}:${rnd(65536).toString(16)}::/64`);
    await writeFile(path.join(dir, 'big.txt'), `${lines.join('\n')}\n`);
    // CPU time of this process, not wall time: on a loaded CI machine (tests run two at a time on two
    // cores) the wall clock also counts the time other processes held the CPU.
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const decide = await filterOf({ denyFile: 'big.txt' });
    const c1 = process.cpuUsage(c0);
    const loadMs = (c1.user + c1.system) / 1000;
    const wallMs = performance.now() - t0;
    const t1 = performance.now();
    const n = 200_000;
    let denied = 0;
    for (let i = 0; i < n; i++) if (decide(`${128 + (i & 63)}.${(i >> 6) & 255}.${i & 255}.1`) !== 'allow') denied++;
    const lookupUs = ((performance.now() - t1) * 1000) / n;
    process.stdout.write(`# 100,000-entry deny file: built in ${loadMs.toFixed(0)} ms of CPU (${wallMs.toFixed(0)} ms wall); ${lookupUs.toFixed(2)} µs per check\n`);
    assert.equal(denied, 0, 'nothing above 127.x is in the list');
    assert.equal(verdict(decide, '127.0.0.1'), 'allow');
    assert.ok(loadMs < 1000, `loaded in ${loadMs.toFixed(0)} ms of CPU`);
    assert.ok(lookupUs < 20, `${lookupUs.toFixed(2)} µs per check`);
  });
});

describe('countries (bundled database)', () => {
  let db: CountryDatabase;
  /** Addresses whose country the bundled database states (checked first, below). */
  const KNOWN: Record<string, string> = {
    '175.45.176.1': 'KP',
    '8.8.8.8': 'US',
    '77.88.8.8': 'RU',
    '81.2.69.142': 'GB',
    '2001:4860:4860::8888': 'US',
  };
  before(async () => {
    db = new CountryDatabase(BUNDLED_DATABASE, await readFile(BUNDLED_DATABASE));
  });

  it('the bundled database states these countries (the assertions below rely on them)', () => {
    for (const [ip, code] of Object.entries(KNOWN)) assert.equal(db.country(ip), code, ip);
    assert.equal(db.country('10.0.0.1'), undefined);
    assert.equal(db.country('127.0.0.1'), undefined);
  });

  it('denies listed countries, by the client address in any notation', async () => {
    const decide = await filterOf({ countries: { deny: ['KP', 'RU'] } });
    assert.equal(decide('175.45.176.1'), 'PCL_COUNTRY_DENIED: country KP denied (defaults.ipFilter.countries.deny)');
    assert.equal(verdict(decide, '::ffff:175.45.176.1'), 'PCL_COUNTRY_DENIED');
    assert.equal(verdict(decide, '::ffff:af2d:b001'), 'PCL_COUNTRY_DENIED');
    assert.equal(verdict(decide, '77.88.8.8'), 'PCL_COUNTRY_DENIED');
    assert.equal(decide('8.8.8.8'), 'allow');
    assert.equal(decide('2001:4860:4860::8888'), 'allow');
  });

  it('an allow list of countries denies the others', async () => {
    const decide = await filterOf({ countries: { allow: ['US', 'GB'] } });
    assert.equal(decide('8.8.8.8'), 'allow');
    assert.equal(decide('81.2.69.142'), 'allow');
    assert.equal(decide('2001:4860:4860::8888'), 'allow');
    assert.equal(decide('77.88.8.8'), 'PCL_COUNTRY_DENIED: country RU not in the allow list (defaults.ipFilter.countries.allow)');
  });

  it('an unknown country is allowed by default, denied with unknown: deny', async () => {
    assert.equal((await filterOf({ countries: { deny: ['KP'] } }))('10.0.0.1'), 'allow');
    assert.equal((await filterOf({ countries: { allow: ['US'] } }))('10.0.0.1'), 'allow');
    const strict = await filterOf({ countries: { deny: ['KP'], unknown: 'deny' } });
    assert.equal(strict('10.0.0.1'), 'PCL_COUNTRY_DENIED: unknown country denied (defaults.ipFilter.countries.unknown)');
    assert.equal(strict('8.8.8.8'), 'allow');
  });

  it('address rules and country rules must both pass', async () => {
    const decide = await filterOf({ allow: ['175.45.176.0/22', '8.8.8.0/24'], countries: { deny: ['KP'] } });
    assert.equal(verdict(decide, '175.45.176.1'), 'PCL_COUNTRY_DENIED');
    assert.equal(decide('8.8.8.8'), 'allow');
    assert.equal(verdict(decide, '77.88.8.8'), 'PCL_IP_DENIED');
  });

  it('refuses country codes that are not ISO 3166-1 alpha-2, with the right one for aliases', async () => {
    const issues = await issuesOf({ countries: { deny: ['KP', 'UK', 'QQ'], allow: ['kp' as string] } });
    assert.deepEqual(issues, [
      { path: 'defaults.ipFilter.countries.allow[0]', message: '"kp" is not an ISO 3166-1 alpha-2 country code; use "KP"' },
      { path: 'defaults.ipFilter.countries.deny[1]', message: '"UK" is not an ISO 3166-1 alpha-2 country code; use "GB"' },
      { path: 'defaults.ipFilter.countries.deny[2]', message: '"QQ" is not an assigned ISO 3166-1 alpha-2 country code' },
    ]);
  });
});

describe('country database errors fail the config, never allow all', () => {
  it('a missing database names the path', async () => {
    const issues = await issuesOf({ countries: { deny: ['KP'] }, geoip: { database: 'GeoLite2-Country.mmdb' } });
    assert.deepEqual(issues, [
      {
        path: 'defaults.ipFilter.geoip.database',
        message: `cannot read GeoLite2-Country.mmdb (${path.join(dir, 'GeoLite2-Country.mmdb')}): ENOENT`,
      },
    ]);
  });

  const corrupt: { name: string; bytes: () => Promise<Buffer> }[] = [
    { name: 'empty file', bytes: async () => Buffer.alloc(0) },
    { name: 'text file', bytes: async () => Buffer.from('1.2.3.4 US\n'.repeat(100)) },
    { name: 'random bytes', bytes: async () => Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) & 255)) },
    { name: 'truncated database', bytes: async () => (await readFile(BUNDLED_DATABASE)).subarray(0, 1_000_000) },
    {
      name: 'database with a zeroed search tree',
      bytes: async () => {
        const b = Buffer.from(await readFile(BUNDLED_DATABASE));
        b.fill(0xff, 0, 4_000_000);
        return b;
      },
    },
  ];
  for (const c of corrupt) {
    it(`a corrupt database (${c.name}) names the path`, async () => {
      const file = path.join(dir, `corrupt-${c.name.replace(/ /g, '-')}.mmdb`);
      await writeFile(file, await c.bytes());
      const issues = await issuesOf({ countries: { deny: ['KP'] }, geoip: { database: file } });
      assert.equal(issues.length, 1);
      assert.equal(issues[0]?.path, 'defaults.ipFilter.geoip.database');
      assert.ok(issues[0]?.message.startsWith(`${file} is not a usable MaxMind DB file`), issues[0]?.message);
    });
  }

  it('geoip without countries is refused, and so is an empty ipFilter', async () => {
    assert.deepEqual((await issuesOf({ deny: ['192.0.2.1'], geoip: { database: BUNDLED_DATABASE } })).map((i) => i.path), ['defaults.ipFilter.geoip']);
    assert.deepEqual((await issuesOf({})).map((i) => i.path), ['defaults.ipFilter']);
  });
});

describe('which filter a route runs, in which mode', () => {
  it("a route's own filter replaces the defaults'; false turns filtering off; mode follows the route unless set", async () => {
    const issues: ConfigIssue[] = [];
    const f = await buildIpFilters({ deny: ['192.0.2.0/24'] }, [undefined, { deny: ['198.51.100.0/24'], mode: 'enforce' }, false], dir, issues);
    assert.deepEqual(issues, []);
    const denies = (stages: readonly { run(ctx: RequestContext): unknown }[], ip: string): boolean => {
      try {
        for (const s of stages) s.run({ clientIp: ip } as RequestContext);
        return false;
      } catch {
        return true;
      }
    };
    assert.equal(denies(f.forRoute(0, 'enforce'), '192.0.2.1'), true);
    assert.equal(f.forRoute(0, 'shadow')[0]?.mode, 'shadow');
    assert.equal(denies(f.forRoute(1, 'enforce'), '192.0.2.1'), false);
    assert.equal(denies(f.forRoute(1, 'enforce'), '198.51.100.1'), true);
    assert.equal(f.forRoute(1, 'shadow')[0]?.mode, 'enforce');
    assert.deepEqual(f.forRoute(2, 'enforce'), []);
    assert.equal(f.unrouted[0]?.mode, 'enforce');
  });
});
