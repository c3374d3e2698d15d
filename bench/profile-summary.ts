/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`, e.g. `npm run bench:proxy -- --profile DIR`):
 * where the time went by area (gateway code, undici, pino, Node internals, GC, idle), the top
 * functions by self time, and the gateway's own functions by self and by total (inclusive) time.
 *
 *   node bench/profile-summary.ts [--top N] FILE.cpuprofile...
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC_PREFIX = `file://${path.join(ROOT, 'src')}/`;

function label(cf: CallFrame): string {
  const name = cf.functionName || '(anonymous)';
  if (!cf.url) return name;
  let where = cf.url;
  if (where.startsWith(`file://${ROOT}`)) where = where.slice(`file://${ROOT}`.length);
  else if (where.includes('/node_modules/')) where = where.slice(where.lastIndexOf('/node_modules/') + '/node_modules/'.length);
  return `${name} ${where}:${cf.lineNumber + 1}`;
}

function area(cf: CallFrame): string {
  const u = cf.url;
  if (!u) {
    if (cf.functionName === '(idle)') return 'idle';
    if (cf.functionName === '(garbage collector)') return 'GC';
    if (cf.functionName === '(program)') return '(program): V8/libuv outside JS';
    // C++ bindings; on a loopback benchmark mostly the send syscalls (writev, writeLatin1String...),
    // which include the kernel's delivery to the receiving socket.
    return 'native bindings (incl. socket syscalls)';
  }
  if (u.startsWith(SRC_PREFIX)) return 'gateway (src/)';
  if (u.includes('/node_modules/undici/')) return 'undici';
  if (u.includes('/node_modules/pino') || u.includes('/node_modules/sonic-boom/') || u.includes('/node_modules/fast-redact/')) {
    return 'pino (access log)';
  }
  if (u.startsWith('node:')) return 'Node internals (node:*)';
  if (u.includes('/node_modules/')) return 'other dependencies';
  return 'other';
}

function summarise(file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  const count = Math.min(profile.samples.length, profile.timeDeltas.length);
  for (let i = 0; i < count; i++) {
    // timeDeltas[i] is the time before sample i; attribute the following interval to sample i.
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000; // ms
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    total += dt;
    const a = area(node.callFrame);
    areas.set(a, (areas.get(a) ?? 0) + dt);
    if (a === 'idle') {
      idle += dt;
      continue;
    }
    const key = label(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    // Inclusive: every distinct gateway function on the stack (once per sample, even if recursive).
    const seen = new Set<string>();
    let depth = 0;
    for (let id: number | undefined = node.id; id !== undefined && depth < 1000; id = parent.get(id), depth++) {
      const cf = (byId.get(id) as ProfileNode).callFrame;
      if (!cf.url.startsWith(SRC_PREFIX)) continue;
      const k = label(cf);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1).padStart(5)}%`;
  const msStr = (ms: number) => `${ms.toFixed(0).padStart(7)} ms`;
  const out: string[] = [];
  out.push(`${file}`);
  out.push(`  profiled ${(total / 1000).toFixed(1)} s, busy (not idle) ${(busy / 1000).toFixed(1)} s; percentages are of busy time`);
  out.push('  by area (self time):');
  for (const [a, ms] of [...areas].filter(([a]) => a !== 'idle').sort((x, y) => y[1] - x[1])) {
    out.push(`    ${pct(ms)} ${msStr(ms)}  ${a}`);
  }
  out.push(`  top ${top} functions by self time:`);
  for (const [k, ms] of [...self].sort((x, y) => y[1] - x[1]).slice(0, top)) out.push(`    ${pct(ms)} ${msStr(ms)}  ${k}`);
  out.push(`  gateway (src/) functions by self time:`);
  for (const [k, ms] of [...self].filter(([k]) => k.includes(' src/')).sort((x, y) => y[1] - x[1]).slice(0, top)) {
    out.push(`    ${pct(ms)} ${msStr(ms)}  ${k}`);
  }
  out.push(`  gateway (src/) functions by total time (self + callees):`);
  for (const [k, ms] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) out.push(`    ${pct(ms)} ${msStr(ms)}  ${k}`);
  return out.join('\n');
}

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
if (positionals.length === 0) {
  process.stderr.write('usage: node bench/profile-summary.ts [--top N] FILE.cpuprofile...\n');
  process.exit(2);
}
const top = Math.max(1, Math.min(500, Number(values.top) || 25));
for (const file of positionals) process.stdout.write(`${summarise(file, top)}\n\n`);
