/**
 * Fast inner loop for tuning the SQLi and XSS detectors against the OWASP CRS regression corpus.
 *
 *   node bench/threats-detectors.ts <path-to>/crs-regression [--family sqli|xss] [--misses] [--fp]
 *                                    [--per-file] [--level N] [--benign <dir of markdown files>]
 *
 * For every stage of the REQUEST-942 (SQLi) and REQUEST-941 (XSS) YAML files it extracts the
 * request's input strings the simple way — query names and values, form-body names and values
 * (JSON bodies: every string leaf and key; other bodies: the whole body), cookie names and values,
 * the path and the other non-standard headers — URL-decodes each (decodeURIComponent repeated at
 * most 3 times, `+` → space, bad escapes left alone) and runs the detector on each at paranoia 1..4.
 * A stage counts as flagged when any of its values is flagged.
 *
 * Reported per family: the share of attack stages (`expect_ids`) flagged at each paranoia level,
 * the share of negative stages (`no_expect_ids` only) flagged, and a timing of the detectors over
 * a mix of typical benign values. This is not the end-to-end replay (that runs through the gateway
 * with its full normalisation); it is the quick loop used to tune the detectors.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { detectSqli } from '../src/threats/sqli.ts';
import { detectXss } from '../src/threats/xss.ts';

type Level = 1 | 2 | 3 | 4;
const LEVELS: readonly Level[] = [1, 2, 3, 4];

/**
 * The paranoia level of the CRS rule each test file belongs to (from the `paranoia-level/N` tags of
 * the CRS rule files), only to break the results down: CRS itself reports a stage of a PL2 rule
 * only at PL2. Unlisted rules count as level 2.
 */
const CRS_LEVEL: Record<string, number> = {
  // REQUEST-942 SQLi
  '942100': 1, '942140': 1, '942151': 1, '942160': 1, '942170': 1, '942190': 1, '942220': 1, '942230': 1, '942240': 1,
  '942250': 1, '942270': 1, '942280': 1, '942290': 1, '942320': 1, '942350': 1, '942360': 1, '942500': 1, '942540': 1,
  '942550': 1, '942560': 1, '942251': 3, '942420': 3, '942431': 3, '942460': 3, '942490': 3, '942511': 3, '942530': 3,
  '942421': 4, '942432': 4,
  // REQUEST-941 XSS
  '941100': 1, '941110': 1, '941130': 1, '941140': 1, '941160': 1, '941170': 1, '941180': 1, '941190': 1, '941200': 1,
  '941210': 1, '941220': 1, '941230': 1, '941240': 1, '941250': 1, '941260': 1, '941270': 1, '941280': 1, '941290': 1,
  '941300': 1, '941310': 1, '941350': 1, '941360': 1, '941370': 1, '941390': 1, '941400': 1, '941181': 3,
};

function crsLevel(file: string): number {
  return CRS_LEVEL[file.slice(0, 6)] ?? 2;
}

interface Stage {
  file: string;
  testId: string;
  attack: boolean;
  values: string[];
}

function decode(s: string): string {
  let cur = s.replace(/\+/g, ' ');
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(cur);
    } catch {
      next = cur.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
    }
    if (next === cur) break;
    cur = next;
  }
  return cur;
}

function splitPairs(s: string, sep: string, out: string[]): void {
  for (const part of s.split(sep)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      out.push(decode(part.trim()));
    } else {
      const k = part.slice(0, eq).trim();
      const v = part.slice(eq + 1);
      if (k !== '') out.push(decode(k));
      if (v !== '') out.push(decode(v));
    }
  }
}

function jsonLeaves(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) jsonLeaves(x, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      jsonLeaves(x, out);
    }
  }
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|lt|gt|quot|apos|amp);/g, (_m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' } as Record<string, string>)[e] ?? '';
  });
}

/** XML bodies: attribute values and text nodes, entity-decoded (what a body parser hands the detectors). */
function xmlValues(xml: string, out: string[]): void {
  for (const m of xml.matchAll(/\s[\w:.-]+\s*=\s*"([^"]*)"|\s[\w:.-]+\s*=\s*'([^']*)'|>([^<]+)</g)) {
    const v = m[1] ?? m[2] ?? m[3];
    if (v !== undefined && v.trim() !== '') out.push(decode(decodeEntities(v)));
  }
}

const SKIP_HEADERS = new Set(['host', 'accept', 'content-type', 'content-length', 'connection', 'accept-encoding', 'cache-control']);

function extract(input: Record<string, unknown>): string[] {
  const out: string[] = [];
  const headers = (input['headers'] ?? {}) as Record<string, unknown>;
  let contentType = '';
  for (const [name, raw] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    const value = String(raw);
    if (lower === 'content-type') contentType = value.toLowerCase();
    if (SKIP_HEADERS.has(lower)) continue;
    if (lower === 'user-agent' && value === 'OWASP CRS test agent') continue;
    if (lower === 'cookie') splitPairs(value, ';', out);
    else out.push(decode(value));
  }
  const uri = typeof input['uri'] === 'string' ? input['uri'] : '';
  const q = uri.indexOf('?');
  const path = q < 0 ? uri : uri.slice(0, q);
  if (path !== '/' && path !== '' && path !== '/post' && path !== '/get') out.push(decode(path));
  if (q >= 0) splitPairs(uri.slice(q + 1), '&', out);
  const data = input['data'];
  if (typeof data === 'string' && data !== '') {
    if (contentType.includes('json')) {
      try {
        jsonLeaves(JSON.parse(data), out);
      } catch {
        out.push(data);
      }
    } else if (contentType === '' || contentType.includes('x-www-form-urlencoded')) {
      splitPairs(data, '&', out);
    } else if (contentType.includes('xml')) {
      xmlValues(data, out);
    } else {
      out.push(data);
    }
  }
  return out;
}

function loadStages(dir: string): Stage[] {
  const stages: Stage[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const doc = parse(readFileSync(join(dir, file), 'utf8')) as { tests?: Array<Record<string, unknown>> };
    for (const test of doc.tests ?? []) {
      const list = (test['stages'] ?? []) as Array<Record<string, unknown>>;
      for (const st of list) {
        const s = (st['stage'] ?? st) as Record<string, unknown>;
        const input = (s['input'] ?? {}) as Record<string, unknown>;
        const output = (s['output'] ?? {}) as Record<string, unknown>;
        const log = (output['log'] ?? {}) as Record<string, unknown>;
        const expect = log['expect_ids'];
        const attack = Array.isArray(expect) && expect.length > 0;
        stages.push({ file, testId: String(test['test_id']), attack, values: extract(input) });
      }
    }
  }
  return stages;
}

type Detector = (value: string, paranoia: Level) => unknown;

function flaggedAt(detector: Detector, stage: Stage, level: Level): boolean {
  for (const v of stage.values) if (detector(v, level) !== null) return true;
  return false;
}

function pct(n: number, d: number, digits = 1): string {
  return d === 0 ? '   -  ' : `${((100 * n) / d).toFixed(digits).padStart(4 + digits)}%`;
}

function report(name: string, detector: Detector, stages: Stage[], opts: Options): void {
  const attacks = stages.filter((s) => s.attack);
  const negatives = stages.filter((s) => !s.attack);
  console.log(`\n== ${name}: ${attacks.length} attack stages, ${negatives.length} negative stages`);
  for (const level of LEVELS) {
    const hit = attacks.filter((s) => flaggedAt(detector, s, level)).length;
    const fp = negatives.filter((s) => flaggedAt(detector, s, level)).length;
    console.log(`paranoia ${level}: attacks flagged ${pct(hit, attacks.length)} (${hit}/${attacks.length})   negatives flagged ${pct(fp, negatives.length)} (${fp}/${negatives.length})`);
  }
  for (const crs of [1, 2, 3, 4]) {
    const list = attacks.filter((s) => crsLevel(s.file) === crs);
    if (list.length === 0) continue;
    const cells = LEVELS.map((l) => pct(list.filter((s) => flaggedAt(detector, s, l)).length, list.length)).join(' ');
    console.log(`  stages of CRS paranoia-${crs} rules: n=${String(list.length).padStart(3)}  flagged at our paranoia 1..4: ${cells}`);
  }
  if (opts.perFile) {
    const byFile = new Map<string, Stage[]>();
    for (const s of attacks) byFile.set(s.file, [...(byFile.get(s.file) ?? []), s]);
    for (const [file, list] of byFile) {
      const cells = LEVELS.map((l) => pct(list.filter((s) => flaggedAt(detector, s, l)).length, list.length)).join(' ');
      console.log(`  ${file.padEnd(12)} n=${String(list.length).padStart(3)}  ${cells}`);
    }
  }
  if (opts.misses) {
    for (const s of attacks) {
      if (!flaggedAt(detector, s, opts.level)) console.log(`  MISS ${s.file}#${s.testId}: ${JSON.stringify(s.values).slice(0, 400)}`);
    }
  }
  if (opts.fp) {
    for (const s of negatives) {
      if (!flaggedAt(detector, s, opts.level)) continue;
      const which = s.values.filter((v) => detector(v, opts.level) !== null);
      console.log(`  FP ${s.file}#${s.testId}: ${JSON.stringify(which).slice(0, 300)} -> ${JSON.stringify(detector(which[0] ?? '', opts.level))}`);
    }
  }
}

const BENIGN_MIX: readonly string[] = [
  '42',
  'john.doe@example.com',
  'O\'Brien',
  'I\'d like to select a plan and drop me a line',
  'https://example.com/search?q=union+station&page=2',
  'Hello world, this is a fairly normal comment with some words in it.',
  'en-US,en;q=0.9',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  '2024-05-01T12:00:00Z',
  'a1b2c3d4e5f6',
  '{"name":"widget","qty":3}',
  '**bold** and _italic_ in markdown, see [link](https://example.com)',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9',
  'price < 100 and rating > 4',
  'ord_0123456789',
  'Don\'t forget: it\'s 5 o\'clock somewhere & we\'re "fine".',
];

/** Median over 15 rounds of the mean time per value of the benign mix, in µs. */
function timeMix(): void {
  const rounds = 1500;
  for (const [name, det] of [['sqli', detectSqli], ['xss', detectXss]] as const) {
    for (const level of [1, 4] as const) {
      for (let i = 0; i < 2000; i++) for (const v of BENIGN_MIX) det(v, level);
      const samples: number[] = [];
      for (let r = 0; r < 15; r++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < rounds; i++) for (const v of BENIGN_MIX) det(v, level);
        samples.push(Number(process.hrtime.bigint() - t0) / 1000 / (rounds * BENIGN_MIX.length));
      }
      samples.sort((a, b) => a - b);
      console.log(`${name}: median ${samples[7]!.toFixed(3)} µs per value (benign mix of ${BENIGN_MIX.length} values, paranoia ${level})`);
    }
  }
}

/** The values of one typical request: a path segment, query values, headers, cookies, a small JSON body. */
const REQUEST: readonly string[] = [
  'items', '42', 'desc', 'union station', 'john.doe@example.com',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'https://shop.example.com/products?category=shoes&page=2', 'en-US,en;q=0.9,de;q=0.8', 'a1b2c3d4e5f6g7h8',
  'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'Widget Pro', '3', "Please deliver after 5pm, I'm not home before. Thanks!",
  "O'Brien", '12 Main St.',
];

/** Median over 21 rounds of the time of both detectors over all values of REQUEST, in µs. */
function timeRequest(): void {
  for (let w = 0; w < 20000; w++) for (const v of REQUEST) detectSqli(v, 1) ?? detectXss(v, 1);
  const samples: number[] = [];
  for (let r = 0; r < 21; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 2000; k++) {
      for (const v of REQUEST) {
        detectSqli(v, 1);
        detectXss(v, 1);
      }
    }
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / 2000);
  }
  samples.sort((a, b) => a - b);
  console.log(`typical request (${REQUEST.length} values): median ${samples[10]!.toFixed(2)} µs for SQLi + XSS together at paranoia 1`);
}

/**
 * `--benign <dir>`: every markdown file under dir, as paragraphs (a comment field) and as lines (short
 * fields) — prose with code snippets, URLs and markup — and the share flagged at each paranoia level.
 */
function benignCorpus(dir: string, examples: boolean): void {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) files.push(p);
    }
  };
  walk(dir);
  const values: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const para of text.split(/\n\s*\n/)) if (para.trim() !== '' && para.length < 4000) values.push(para);
    for (const line of text.split('\n')) if (line.trim().length > 2) values.push(line);
  }
  console.log(`\n== benign corpus: ${files.length} markdown files, ${values.length} values (paragraphs and lines)`);
  for (const [name, det] of [['sqli', detectSqli], ['xss', detectXss]] as const) {
    const cells = LEVELS.map((l) => {
      const n = values.filter((v) => det(v, l) !== null).length;
      return `${pct(n, values.length, 3)} (${n})`;
    });
    console.log(`${name}: flagged at paranoia 1..4: ${cells.join('  ')}`);
    if (examples) {
      for (const v of values) {
        const r = det(v, 1);
        if (r !== null) console.log(`  ${JSON.stringify(v).slice(0, 160)} -> ${r.reason}`);
      }
    }
  }
}

interface Options {
  family: string;
  misses: boolean;
  fp: boolean;
  perFile: boolean;
  level: Level;
}

function main(): void {
  const args = process.argv.slice(2);
  const bi0 = args.indexOf('--benign');
  const root = args.find((a, k) => !a.startsWith('--') && (bi0 < 0 || k !== bi0 + 1) && (k === 0 || !['--level', '--family'].includes(args[k - 1]!)));
  if (root === undefined) {
    console.error('usage: node bench/threats-detectors.ts <crs-regression dir> [--family sqli|xss] [--misses] [--fp] [--per-file] [--level N] [--benign <dir>]');
    process.exit(2);
  }
  const li = args.indexOf('--level');
  const fi = args.indexOf('--family');
  const opts: Options = {
    family: fi >= 0 ? (args[fi + 1] ?? '') : '',
    misses: args.includes('--misses'),
    fp: args.includes('--fp'),
    perFile: args.includes('--per-file'),
    level: (li >= 0 ? Number(args[li + 1]) : 1) as Level,
  };
  if (opts.family === '' || opts.family === 'sqli') {
    report('SQLi (REQUEST-942)', detectSqli, loadStages(join(root, 'REQUEST-942-APPLICATION-ATTACK-SQLI')), opts);
  }
  if (opts.family === '' || opts.family === 'xss') {
    report('XSS (REQUEST-941)', detectXss, loadStages(join(root, 'REQUEST-941-APPLICATION-ATTACK-XSS')), opts);
  }
  const bi = args.indexOf('--benign');
  if (bi >= 0 && args[bi + 1] !== undefined) benignCorpus(args[bi + 1]!, opts.fp);
  console.log('\n== timing');
  timeMix();
  timeRequest();
}

main();
