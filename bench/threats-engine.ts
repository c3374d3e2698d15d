/**
 * In-process cost of threat inspection (`node bench/threats-engine.ts`): the engine alone on a typical
 * API request — a 1 KiB JSON body (the proxy bench's POST body, plus a comment in prose), 10 query
 * parameters, browser headers with a cookie — at each paranoia level. Reports the median and p99 of
 * the per-request time over batches (after a warm-up), and the time for a 1 MB text body.
 * Target (issue 6): < 50 µs median at paranoia 1.
 *
 * `--cpu` instead measures CPU time (`process.cpuUsage`, less sensitive to other work on the machine
 * than wall time) at paranoia 1 in three shapes of traffic: `same` (the typical request repeated),
 * `ua` (a different User-Agent on every request), `fresh` (every body and query value different on
 * every request — nothing to remember across requests; names unchanged). With `--baseline DIR` (another
 * checkout of the repository, e.g. the previous commit) both engines run in the same process, batches
 * alternating, and the median of the per-pair ratios is reported — the way to compare two builds on a
 * busy machine. Flags: --cpu  --baseline DIR  --samples N (batches of 100 requests, default 150)
 * --mode same,ua,fresh  --paranoia N.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ThreatEngine, type InspectInput, type Verdict } from '../src/threats/engine.ts';
import type { Paranoia } from '../src/threats/types.ts';

const note = "Hi! I'd like to change the delivery address on my order — it's 12 O'Brien St., Apt. 3. Please don't ship it before Friday; thanks a lot & have a nice day.";
const body = {
  orderId: 'ord_0123456789',
  customer: { id: 'cus_42', name: "Seán O'Brien", email: 'sean.obrien@example.com', tier: 'gold' },
  items: Array.from({ length: 6 }, (_, i) => ({ sku: `SKU-${1000 + i}`, name: ['Ergonomic chair', 'USB-C hub', 'Desk lamp', 'Notebook A5', 'Coffee beans 1 kg', 'Mouse pad'][i], qty: i + 1, price: 9.99 + i })),
  note,
  coupon: 'SPRING-20',
  pad: '',
};
let text = JSON.stringify(body);
body.pad = 'x'.repeat(Math.max(0, 1024 - Buffer.byteLength(text)));
text = JSON.stringify(body);
const payload = Buffer.from(text);
const query = 'page=2&per_page=20&sort=-created_at&q=rock+%26+roll+t-shirt&filter%5Bstatus%5D=open&fields=id%2Cname%2Cprice&from=2025-05-01&to=2025-05-31&lang=en&utm_source=newsletter';

const input: InspectInput = {
  method: 'POST',
  host: 'api.example.com',
  target: `/api/v1/orders/ord_0123456789/items?${query}`,
  rawHeaders: [
    'Host', 'api.example.com',
    'User-Agent', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    'Accept', 'application/json',
    'Accept-Language', 'en-US,en;q=0.9',
    'Accept-Encoding', 'gzip, deflate, br',
    'Content-Type', 'application/json',
    'Content-Length', String(payload.length),
    'Referer', 'https://shop.example.com/cart',
    'Cookie', 'sid=9f8e7d6c5b4a39281706f5e4d3c2b1a0; theme=dark; lang=en',
    'Authorization', 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl',
    'X-Client-Version', '3.14.2',
  ],
  body: payload,
  parsedBody: undefined,
  hasBody: true,
};

function measure(engine: ThreatEngine, inp: InspectInput, batches: number, perBatch: number): { median: number; p99: number } {
  for (let i = 0; i < 2000; i++) engine.inspect(inp);
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBatch; i++) engine.inspect(inp);
    samples.push(((performance.now() - t0) * 1000) / perBatch);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] as number, p99: samples[Math.floor(samples.length * 0.99)] as number };
}

const args = parseArgs({
  options: {
    cpu: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    samples: { type: 'string', default: '150' },
    mode: { type: 'string', default: 'same,ua,fresh' },
    paranoia: { type: 'string', default: '1' },
  },
}).values;

if (args.cpu || args.baseline !== undefined) {
  await cpuComparison();
  process.exit(0);
}

/** Typical requests of the three shapes, and per-request CPU time (one engine, or alternating with a baseline). */
async function cpuComparison(): Promise<void> {
  const pl = Number(args.paranoia) as Paranoia;
  const samples = Number(args.samples);
  const PER = 100;
  const withUa = (ua: string): InspectInput => {
    const raw = [...input.rawHeaders];
    raw[3] = ua;
    return { ...input, rawHeaders: raw };
  };
  const letters = (i: number): string => {
    let t = '';
    do {
      t += String.fromCharCode(97 + (i % 26));
      i = Math.floor(i / 26);
    } while (i > 0);
    return t;
  };
  const q = input.target.indexOf('?');
  const shapes: Record<string, InspectInput[]> = {
    same: [input],
    ua: Array.from({ length: 5000 }, (_, i) => withUa((input.rawHeaders[3] as string).replace('17.5', `17.${i}`))),
    fresh: Array.from({ length: 5000 }, (_, i) => {
      const suffix = letters(i);
      const b = Buffer.from(JSON.stringify(JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' ? v + suffix : v))));
      const raw = [...input.rawHeaders];
      raw[13] = String(b.length);
      const query2 = input.target.slice(q + 1).split('&').map((kv) => kv + suffix).join('&');
      return { ...input, rawHeaders: raw, body: b, target: `${input.target.slice(0, q)}?${query2}` };
    }),
  };
  const options = { paranoia: pl, threshold: 5, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [], rules: [] };
  const engines: { inspect(i: InspectInput): Verdict }[] = [new ThreatEngine(options)];
  if (args.baseline !== undefined) {
    const mod = (await import(path.resolve(args.baseline, 'src/threats/engine.ts'))) as { ThreatEngine: new (o: typeof options) => { inspect(i: InspectInput): Verdict } };
    engines.unshift(new mod.ThreatEngine(options));
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
  for (const mode of (args.mode as string).split(',')) {
    const reqs = shapes[mode];
    if (reqs === undefined) throw new Error(`unknown mode ${mode}`);
    const next = engines.map(() => 0);
    const batch = (w: number): number => {
      const e = engines[w]!;
      const c0 = process.cpuUsage();
      for (let i = 0; i < PER; i++) e.inspect(reqs[next[w]!++ % reqs.length]!);
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / PER;
    };
    for (let i = 0; i < 30; i++) for (let w = 0; w < engines.length; w++) batch(w);
    const times: number[][] = engines.map(() => []);
    const ratios: number[] = [];
    for (let b = 0; b < samples; b++) {
      // alternate the order within a pair so that neither build always runs first
      const order = engines.length === 2 && b % 2 === 1 ? [1, 0] : engines.map((_, w) => w);
      for (const w of order) times[w]!.push(batch(w));
      if (engines.length === 2) ratios.push(times[1]![b]! / times[0]![b]!);
    }
    const label = { same: 'the same request repeated', ua: 'a different User-Agent on every request', fresh: 'every value different on every request' }[mode];
    if (engines.length === 2) {
      console.log(`paranoia ${pl}, ${label}: baseline ${median(times[0]!).toFixed(1)} µs, this build ${median(times[1]!).toFixed(1)} µs CPU per request (median of ${samples} batches; median ratio ${median(ratios).toFixed(3)})`);
    } else console.log(`paranoia ${pl}, ${label}: ${median(times[0]!).toFixed(1)} µs CPU per request (median of ${samples} batches)`);
  }
}

console.log(`typical request: ${payload.length}-byte JSON body, 10 query parameters, ${input.rawHeaders.length / 2} headers`);
for (const pl of [1, 2, 3, 4] as Paranoia[]) {
  const engine = new ThreatEngine({ paranoia: pl, threshold: 5, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [], rules: [] });
  const v = engine.inspect(input);
  if (v.findings.length > 0) console.log(`  (paranoia ${pl} finds: ${v.findings.map((f) => `${f.rule}@${f.field}`).join(', ')})`);
  const parsed = { ...input, parsedBody: JSON.parse(text) as unknown };
  const a = measure(engine, input, 200, 50);
  const b = measure(engine, parsed, 200, 50);
  console.log(`paranoia ${pl}: median ${a.median.toFixed(1)} µs (p99 of batches ${a.p99.toFixed(1)} µs); with the body already parsed by validate: ${b.median.toFixed(1)} µs`);
}
{
  // The share of the SQLi and XSS detectors (a separate module): the same request without them.
  const without = new ThreatEngine({ paranoia: 1, threshold: 5, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [{ field: undefined, detectors: new Set(['sqli', 'xss']) }], rules: [] });
  const w = measure(without, input, 200, 50);
  // An exclusion also turns off the engine's memo of clean names and short values on the fields it covers.
  console.log(`paranoia 1 without the SQLi and XSS detectors (and so without the memo of clean values): median ${w.median.toFixed(1)} µs`);
}
const big = { ...input, rawHeaders: [...input.rawHeaders.slice(0, 10), 'Content-Type', 'text/plain'], body: Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(23302)), target: '/upload' };
const engine = new ThreatEngine({ paranoia: 4, threshold: 1e9, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [], rules: [] });
const t0 = performance.now();
engine.inspect(big);
console.log(`1 MB text body at paranoia 4: ${(performance.now() - t0).toFixed(1)} ms`);
