/**
 * Threat-detection accuracy (`npm run bench:threats -- --corpus ../shared/corpora/crs-regression`).
 *
 * Starts a recording upstream and one gateway per paranoia level (1–4), each on 127.0.0.1 port 0 with
 * `defaults.threats: { mode: block, paranoia: N }` on a catch-all public route, then replays through
 * them over raw TCP (so requests Node's client refuses to send — odd methods, bare LF, invalid bytes —
 * still go out as written):
 *
 * - the CRS regression corpus (`--corpus`): each stage of the YAML test files is an attack when it
 *   expects its rule to fire (`expect_ids`), benign when it expects it not to (`no_expect_ids`);
 *   reported per attack family (the file prefix: 930 LFI, 942 SQLi, …) and paranoia level as the share
 *   of attacks blocked (403 PCL_THREAT_DETECTED) and of benign stages passed (reached the upstream);
 *   stages rejected earlier (400 by the protocol guard, 404, …) are counted apart;
 * - the generated benign corpus (bench/benign-corpus.ts, fixed seed; `--benign N` requests, 50,000 by
 *   default, 0 to skip): the share blocked is the false-positive rate.
 *
 * Only loopback targets; every loop is bounded (stage count, a 10 s timeout per request).
 * Flags: --paranoia 1,2,3,4  --benign 50000  --benign-paranoia 1  --misses <family>  --out file.json
 */
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { buildGatewayFromText } from '../src/config/gateway.ts';
import type { RequestContext } from '../src/pipeline/context.ts';
import { GatewayServer } from '../src/server/gateway-server.ts';
import { generateBenignRequests, type BenignRequest } from './benign-corpus.ts';
import { rawRequest, type CorpusInput } from './crs-corpus.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const FAMILIES: Record<string, string> = {
  '911': 'method enforcement',
  '913': 'scanners',
  '920': 'protocol enforcement',
  '921': 'protocol attacks',
  '922': 'multipart attacks',
  '930': 'LFI',
  '931': 'RFI',
  '932': 'RCE',
  '933': 'PHP',
  '934': 'generic (Node, SSTI, SSRF…)',
  '941': 'XSS',
  '942': 'SQLi',
  '943': 'session fixation',
  '944': 'Java',
  '949': 'blocking evaluation',
  '999': 'common exceptions',
};

interface Stage {
  family: string;
  id: string;
  kind: 'attack' | 'benign';
  raw: Buffer;
}

interface Outcome {
  status: number;
  code: string | undefined;
}

type Result = 'blocked' | 'passed' | 'rejected' | 'error';

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------


function loadCorpus(dir: string): { stages: Stage[]; skipped: Map<string, number> } {
  const stages: Stage[] = [];
  const skipped = new Map<string, number>();
  const skip = (why: string): void => {
    skipped.set(why, (skipped.get(why) ?? 0) + 1);
  };
  for (const folder of readdirSync(dir).sort()) {
    if (!folder.startsWith('REQUEST-')) continue;
    const family = folder.slice(8, 11);
    for (const file of readdirSync(path.join(dir, folder)).sort()) {
      if (!file.endsWith('.yaml')) continue;
      let doc: { tests?: { test_id?: number; stages?: { input?: CorpusInput; output?: { log?: { expect_ids?: number[]; no_expect_ids?: number[] } } }[] }[] } | null;
      try {
        doc = parseYaml(readFileSync(path.join(dir, folder, file), 'utf8')) as typeof doc;
      } catch {
        skip('YAML file does not parse');
        continue;
      }
      if (doc === null) {
        skip('empty YAML file');
        continue;
      }
      for (const t of doc.tests ?? []) {
        (t.stages ?? []).forEach((s, i) => {
          const log = s.output?.log;
          const kind = log?.expect_ids && log.expect_ids.length > 0 ? 'attack' : log?.no_expect_ids ? 'benign' : undefined;
          if (kind === undefined) {
            skip('no rule expectation (status / error / regex checks only)');
            return;
          }
          if (s.input === undefined) {
            skip('no input');
            return;
          }
          stages.push({ family, id: `${file.replace(/\.yaml$/, '')}#${t.test_id ?? '?'}.${i + 1}`, kind, raw: rawRequest(s.input) });
        });
      }
    }
  }
  return { stages, skipped };
}


function benignRaw(r: BenignRequest): Buffer {
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body, 'utf8');
  const lines = [`${r.method} ${r.target} HTTP/1.1`, 'Host: localhost'];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`);
  if (body.length > 0) lines.push(`Content-Length: ${body.length}`);
  lines.push('Connection: close');
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), body]);
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

async function startUpstream(): Promise<{ port: number; close(): void; count(): number }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 });
      res.end('{"ok":true}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => { server.closeAllConnections(); server.close(); }, count: () => n };
}

interface Decision {
  findings: string | undefined;
}

async function startPortcullis(upstreamPort: number, paranoia: number, decisions: Map<string, Decision>): Promise<{ port: number; stop(): Promise<void> }> {
  const yaml = `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  limits: { maxHeaders: 200, maxUrlBytes: 16kb, maxHeaderBytes: 64kb, requestTimeout: 10s, headersTimeout: 10s, maxConnectionsPerIp: 100000 }
logging: { level: silent, accessLog: "off" }
defaults:
  threats: { mode: block, paranoia: ${paranoia} }
upstreams:
  backend: { targets: ["http://127.0.0.1:${upstreamPort}"], timeout: 10s }
routes:
  - { name: all, match: { path: /* }, auth: public, upstream: backend }
`;
  const gateway = await buildGatewayFromText(yaml, { baseDir: ROOT });
  const server = await GatewayServer.start(gateway, {
    logger: pino({ level: 'silent' }),
    accessLog: {
      write(ctx: RequestContext) {
        const d = ctx.decisions.find((x) => x.stage === 'threats');
        const note = ctx.notes?.find((n) => n.startsWith('threat score'));
        decisions.set(ctx.requestId, { findings: d?.detail ?? note });
      },
      flush: async () => {},
    },
  });
  const port = server.addresses().find((a) => a.name === 'http')?.port ?? 0;
  return { port, stop: () => server.stop(2000) };
}

/** Sends raw bytes, reads the answer until the connection closes (10 s at most). */
function send(port: number, raw: Buffer): Promise<Outcome & { requestId: string | undefined }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const code = /"code"\s*:\s*"([A-Z_]+)"/.exec(text)?.[1];
      const requestId = /x-request-id: ([^\r\n]+)/i.exec(text)?.[1] ?? /"requestId"\s*:\s*"([^"]+)"/.exec(text)?.[1];
      resolve({ status: m ? Number(m[1]) : 0, code, requestId });
    };
    const timer = setTimeout(finish, 10_000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // Connection: close is not always honoured (a stage may ask for keep-alive): stop at a complete answer.
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end !== -1) {
        const len = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
        if (len && text.length >= end + 4 + Number(len[1])) finish();
      }
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(raw);
  });
}

function classify(o: Outcome): Result {
  if (o.status === 403 && o.code === 'PCL_THREAT_DETECTED') return 'blocked';
  if (o.status === 200 && o.code === undefined) return 'passed';
  if (o.status === 0) return 'error';
  return 'rejected';
}

async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface Cell {
  attacks: number;
  blocked: number;
  attacksRejected: number;
  benign: number;
  passed: number;
  benignRejected: number;
  errors: number;
}

const pct = (n: number, d: number): string => (d === 0 ? '—' : `${((100 * n) / d).toFixed(1)}%`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      corpus: { type: 'string' },
      paranoia: { type: 'string', default: '1,2,3,4' },
      benign: { type: 'string', default: '50000' },
      'benign-paranoia': { type: 'string', default: '1' },
      misses: { type: 'string' },
      'false-positives': { type: 'boolean', default: false },
      concurrency: { type: 'string', default: '32' },
      out: { type: 'string' },
    },
  });
  const levels = (values.paranoia ?? '1,2,3,4').split(',').map(Number).filter((n) => n >= 1 && n <= 4);
  const benignCount = Number(values.benign ?? '50000');
  const benignLevels = (values['benign-paranoia'] ?? '1').split(',').map(Number).filter((n) => levels.includes(n) || n >= 1);
  const concurrency = Math.max(1, Math.min(256, Number(values.concurrency ?? '32')));
  const upstream = await startUpstream();
  const decisions = new Map<string, Decision>();
  const gateways = new Map<number, { port: number; stop(): Promise<void> }>();
  for (const pl of new Set([...levels, ...(benignCount > 0 ? benignLevels : [])])) gateways.set(pl, await startPortcullis(upstream.port, pl, decisions));
  const report: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
  try {
    if (values.corpus !== undefined) {
      const t0 = performance.now();
      const { stages, skipped } = loadCorpus(path.resolve(values.corpus));
      const table = new Map<string, Map<number, Cell>>();
      const misses: string[] = [];
      for (const pl of levels) {
        const port = (gateways.get(pl) as { port: number }).port;
        const outcomes = await pool(stages, concurrency, (s) => send(port, s.raw));
        stages.forEach((s, i) => {
          const o = outcomes[i] as Outcome & { requestId: string | undefined };
          const r = classify(o);
          const byPl = table.get(s.family) ?? new Map<number, Cell>();
          table.set(s.family, byPl);
          const c = byPl.get(pl) ?? { attacks: 0, blocked: 0, attacksRejected: 0, benign: 0, passed: 0, benignRejected: 0, errors: 0 };
          byPl.set(pl, c);
          if (r === 'error') c.errors++;
          if (s.kind === 'attack') {
            c.attacks++;
            if (r === 'blocked') c.blocked++;
            else if (r === 'rejected') c.attacksRejected++;
            if (values.misses !== undefined && pl === levels[0] && r !== 'blocked' && (values.misses === 'all' || s.family === values.misses)) {
              misses.push(`MISS ${s.id} [${r} ${o.status}] ${s.raw.toString('latin1').split('\r\n')[0]?.slice(0, 160)}`);
            }
          } else {
            c.benign++;
            if (r === 'passed') c.passed++;
            else if (r === 'rejected') c.benignRejected++;
            if (values['false-positives'] && pl === levels[0] && r === 'blocked') {
              const d = o.requestId !== undefined ? decisions.get(o.requestId) : undefined;
              misses.push(`FP ${s.id} ${d?.findings ?? ''}`.slice(0, 300));
            }
          }
        });
      }
      const header = ['family', ...levels.map((pl) => `PL${pl} attacks blocked`), ...levels.map((pl) => `PL${pl} benign passed`), 'attacks', 'benign', 'attacks rejected earlier (PL1)'];
      const rows: string[][] = [];
      const totals = new Map<number, Cell>();
      for (const [family, byPl] of [...table].sort((a, b) => a[0].localeCompare(b[0]))) {
        const first = byPl.get(levels[0] as number) as Cell;
        rows.push([
          `${family} ${FAMILIES[family] ?? ''}`.trim(),
          ...levels.map((pl) => {
            const c = byPl.get(pl) as Cell;
            return `${pct(c.blocked, c.attacks)}`;
          }),
          ...levels.map((pl) => {
            const c = byPl.get(pl) as Cell;
            return pct(c.passed, c.benign);
          }),
          String(first.attacks),
          String(first.benign),
          String(first.attacksRejected),
        ]);
        for (const pl of levels) {
          const c = byPl.get(pl) as Cell;
          const t = totals.get(pl) ?? { attacks: 0, blocked: 0, attacksRejected: 0, benign: 0, passed: 0, benignRejected: 0, errors: 0 };
          for (const k of Object.keys(t) as (keyof Cell)[]) t[k] += c[k];
          totals.set(pl, t);
        }
      }
      const first = totals.get(levels[0] as number) as Cell;
      rows.push([
        'all',
        ...levels.map((pl) => pct((totals.get(pl) as Cell).blocked, (totals.get(pl) as Cell).attacks)),
        ...levels.map((pl) => pct((totals.get(pl) as Cell).passed, (totals.get(pl) as Cell).benign)),
        String(first.attacks),
        String(first.benign),
        String(first.attacksRejected),
      ]);
      console.log(`\nCRS regression corpus: ${stages.length} stages replayed per paranoia level in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      console.log(markdownTable(header, rows));
      console.log(`skipped: ${[...skipped].map(([why, n]) => `${n} × ${why}`).join('; ') || 'none'}; transport errors (PL${levels[0]}): ${first.errors}`);
      if (misses.length > 0) console.log(misses.join('\n'));
      report.corpus = {
        stages: stages.length,
        skipped: Object.fromEntries(skipped),
        families: Object.fromEntries([...table].map(([f, byPl]) => [f, Object.fromEntries(byPl)])),
      };
    }
    if (benignCount > 0) {
      const t0 = performance.now();
      const requests = generateBenignRequests(benignCount);
      const raws = requests.map(benignRaw);
      const fpReport: Record<number, { requests: number; blocked: number; rejected: number; rate: string }> = {};
      for (const pl of benignLevels) {
        const port = (gateways.get(pl) as { port: number }).port;
        const outcomes = await pool(raws, concurrency, (raw) => send(port, raw));
        let blocked = 0;
        let rejected = 0;
        const examples: string[] = [];
        outcomes.forEach((o, i) => {
          const r = classify(o);
          if (r === 'blocked') {
            blocked++;
            if (examples.length < 40 && values['false-positives']) {
              const d = o.requestId !== undefined ? decisions.get(o.requestId) : undefined;
              examples.push(`  FP ${requests[i]?.target.slice(0, 80)} ${d?.findings?.slice(0, 260) ?? ''}`);
            }
          } else if (r !== 'passed') rejected++;
        });
        fpReport[pl] = { requests: raws.length, blocked, rejected, rate: `${((100 * blocked) / raws.length).toFixed(3)}%` };
        console.log(`\nbenign corpus at paranoia ${pl}: ${raws.length} requests, ${blocked} blocked (${((100 * blocked) / raws.length).toFixed(3)}%), ${rejected} rejected otherwise`);
        if (examples.length > 0) console.log(examples.join('\n'));
      }
      console.log(`(benign corpus: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      report.benign = fpReport;
    }
    const out = values.out ?? path.join(ROOT, 'bench', 'results', `threats-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(report, null, 2));
    console.log(`\nresults: ${path.relative(process.cwd(), out)}`);
    return 0;
  } finally {
    for (const g of gateways.values()) await g.stop();
    upstream.close();
  }
}

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
