/**
 * In-process cost of threat inspection (`node bench/threats-engine.ts`): the engine alone on a typical
 * API request — a 1 KiB JSON body (the proxy bench's POST body, plus a comment in prose), 10 query
 * parameters, browser headers with a cookie — at each paranoia level. Reports the median and p99 of
 * the per-request time over batches (after a warm-up), and the time for a 1 MB text body.
 * Target (issue 6): < 50 µs median at paranoia 1.
 */
import { performance } from 'node:perf_hooks';
import { ThreatEngine, type InspectInput } from '../src/threats/engine.ts';
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
  console.log(`paranoia 1 without the SQLi and XSS detectors: median ${w.median.toFixed(1)} µs`);
}
const big = { ...input, rawHeaders: [...input.rawHeaders.slice(0, 10), 'Content-Type', 'text/plain'], body: Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(23302)), target: '/upload' };
const engine = new ThreatEngine({ paranoia: 4, threshold: 1e9, headers: [], inspectBody: true, maxTextBytes: 1 << 20, exclusions: [], rules: [] });
const t0 = performance.now();
engine.inspect(big);
console.log(`1 MB text body at paranoia 4: ${(performance.now() - t0).toFixed(1)} ms`);
