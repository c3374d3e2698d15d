/**
 * Differential check of two builds of the threat engine (`node bench/threats-differential.ts
 * --baseline DIR [--corpus <crs-regression dir>] [--benign N]`): every benign-corpus request and every
 * CRS regression stage is inspected by one engine of this build and one of the build in DIR (another
 * checkout, e.g. the previous commit in a scratch folder), three times in a row each (the second and
 * third see the engines' memos filled), at paranoia 1–4. Verdicts, scores and findings (detector,
 * rule, field, score, reason, excerpt) must be identical; the differences are printed and the exit
 * code is 1 when there is any.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ThreatEngine, type EngineOptions, type InspectInput, type Verdict } from '../src/threats/engine.ts';
import type { Paranoia } from '../src/threats/types.ts';
import { generateBenignRequests } from './benign-corpus.ts';
import { rawRequest, type CorpusInput } from './crs-corpus.ts';

const args = parseArgs({ options: { baseline: { type: 'string' }, corpus: { type: 'string' }, benign: { type: 'string', default: '50000' } } }).values;
if (args.baseline === undefined) {
  console.error('usage: node bench/threats-differential.ts --baseline DIR [--corpus <crs-regression dir>] [--benign N]');
  process.exit(2);
}

interface Engine {
  inspect(i: InspectInput): Verdict;
}

/** A raw HTTP/1.1 request (as the replay sends it) as the engine's input. */
function fromRaw(raw: Buffer): InspectInput {
  let end = raw.indexOf('\r\n\r\n');
  if (end === -1) end = raw.length;
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const body = raw.subarray(Math.min(raw.length, end + 4));
  const [method = 'GET', target = '/'] = (head[0] ?? '').split(' ');
  const rawHeaders: string[] = [];
  let host = '';
  for (const line of head.slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    const name = line.slice(0, c).trim();
    const value = line.slice(c + 1).trim();
    rawHeaders.push(name, value);
    if (name.toLowerCase() === 'host' && host === '') host = value.toLowerCase();
  }
  return { method, host, target, rawHeaders, body: body.length > 0 ? Buffer.from(body) : undefined, parsedBody: undefined, hasBody: body.length > 0 };
}


/** The request bytes of every CRS stage with an input (bench/crs-corpus.ts, as `bench/threats.ts` sends them). */
function crsRequests(dir: string): { id: string; input: InspectInput }[] {
  const out: { id: string; input: InspectInput }[] = [];
  for (const folder of readdirSync(dir).sort()) {
    if (!folder.startsWith('REQUEST-')) continue;
    for (const file of readdirSync(path.join(dir, folder)).sort()) {
      if (!file.endsWith('.yaml')) continue;
      let doc: { tests?: { test_id?: number; stages?: { input?: CorpusInput }[] }[] } | null;
      try {
        doc = parseYaml(readFileSync(path.join(dir, folder, file), 'utf8')) as typeof doc;
      } catch {
        continue;
      }
      for (const t of doc?.tests ?? []) {
        (t.stages ?? []).forEach((s, i) => {
          if (s.input === undefined) return;
          out.push({ id: `${file}#${t.test_id ?? '?'}.${i + 1}`, input: fromRaw(rawRequest(s.input)) });
        });
      }
    }
  }
  return out;
}


const requests: { id: string; input: InspectInput }[] = [];
generateBenignRequests(Number(args.benign)).forEach((r, i) => {
  const body = r.body === undefined ? undefined : Buffer.from(r.body, 'utf8');
  const rawHeaders = ['Host', 'localhost'];
  for (const [k, v] of Object.entries(r.headers)) rawHeaders.push(k, v);
  if (body !== undefined) rawHeaders.push('Content-Length', String(body.length));
  requests.push({ id: `benign#${i}`, input: { method: r.method, host: 'localhost', target: r.target, rawHeaders, body, parsedBody: undefined, hasBody: body !== undefined } });
});
const benignCount = requests.length;
if (args.corpus !== undefined) requests.push(...crsRequests(path.resolve(args.corpus)));

const mod = (await import(path.resolve(args.baseline, 'src/threats/engine.ts'))) as { ThreatEngine: new (o: EngineOptions) => Engine };
let inspected = 0;
let differences = 0;
for (const pl of [1, 2, 3, 4] as Paranoia[]) {
  const options: EngineOptions = { paranoia: pl, threshold: 5, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [], rules: [] };
  const base = new mod.ThreatEngine(options);
  const mine = new ThreatEngine(options);
  for (const { id, input } of requests) {
    for (let round = 0; round < 3; round++) {
      const a = JSON.stringify(base.inspect(input));
      const b = JSON.stringify(mine.inspect(input));
      inspected++;
      if (a !== b) {
        differences++;
        if (differences <= 20) console.log(`DIFF paranoia ${pl} ${id} round ${round + 1}\n  baseline:   ${a}\n  this build: ${b}`);
      }
    }
  }
}
console.log(`${requests.length} requests (${benignCount} benign, ${requests.length - benignCount} CRS stages) × paranoia 1–4 × 3 rounds = ${inspected} paired inspections; ${differences} differences`);
process.exit(differences === 0 ? 0 : 1);
