/**
 * The reproducible proxy benchmark (`npm run bench:proxy`, see docs/performance.md).
 *
 * Starts, each as its own child process on 127.0.0.1 (port 0):
 *   - the upstream            bench/upstream.ts       (node:http, 47-byte JSON)
 *   - the minimal proxy       bench/minimal-proxy.ts  (node:http + one undici Pool)
 *   - Portcullis, twice, through its CLI on generated configs: access log off, and access log on
 *     (written to a file in a temp dir)
 * and drives them with autocannon from this process: GET, and POST with a 1 KiB JSON body. Rounds
 * are interleaved (direct, minimal, portcullis, portcullis+log, direct, ...); each measurement is a
 * warm-up followed by a measured window on the same connections. The report gives the median over
 * rounds of req/s, p50 and p99 latency, the CPU time per request of the process under test, and the
 * ratios that matter.
 *
 * Every child is killed by its PID at the end, on error and on SIGINT/SIGTERM.
 */
import autocannon, { type Instance, type ResponseListener } from 'autocannon';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { BENCH_PATH, POST_BODY, READY_RE, UPSTREAM_BODY } from './common.ts';
import { cpuMs, CLK_TCK, freePort } from './procfs.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

const TARGET_KEYS = [
  'direct',
  'minimal',
  'portcullis',
  'portcullis-log',
  // server.workers: 2 (npm run bench:workers): the portcullis target with a cluster primary and two
  // workers; limits-memory-2w: the limits-memory target so, its memory store in the primary (IPC).
  'portcullis-2w',
  'limits-memory-2w',
  // Authentication (npm run bench:auth): one JWT authenticator with a local JWKS, one token per algorithm.
  // public-bearer: the public route sent the same Bearer token (the baseline of the JWT cost: the
  // same bytes on the wire, only the authentication differs).
  'public-bearer',
  'jwt-rs256-cache',
  'jwt-rs256-nocache',
  'jwt-es256-cache',
  'jwt-es256-nocache',
  'jwt-eddsa-cache',
  'jwt-eddsa-nocache',
  // Rate limits that never trigger (npm run bench:ratelimit): by ip + by consumer, RS256 JWT (cache on).
  'limits-memory',
  'limits-redis',
  // IP filter (npm run bench:ipfilter): the public route behind a 100,000-entry deny-list file.
  'ipfilter-100k',
  // OpenAPI request validation: the public route validated by a 3.1 document (path, body schema of
  // the 1 KiB POST body with $refs); compare with portcullis, the same route without validate.
  'openapi',
  // Balancing (npm run bench:balance): the public route's upstream with two targets (the same
  // backend twice, two pools), round-robin vs least-connections vs consistent-hash (by client IP).
  'balance-rr',
  'balance-lc',
  'balance-ch',
  // Transformation: request headers from templates, a query rewrite, response headers set and
  // removed (on top of the default security headers); compare with portcullis.
  'transform',
  // Observability (npm run bench:observability): metrics on (admin listener, Prometheus), and span
  // export at three sampling ratios to a local OTLP sink; compare with portcullis.
  'metrics',
  'tracing-0',
  'tracing-0.01',
  'tracing-1',
] as const;
type TargetKey = (typeof TARGET_KEYS)[number];
/** What `--targets` defaults to: the proxy comparison. The auth / rate-limit targets are opt-in. */
const DEFAULT_TARGETS: readonly TargetKey[] = ['direct', 'minimal', 'portcullis', 'portcullis-log'];
const AUTH_TARGETS = ['jwt-rs256-cache', 'jwt-rs256-nocache', 'jwt-es256-cache', 'jwt-es256-nocache', 'jwt-eddsa-cache', 'jwt-eddsa-nocache'] as const;
type AuthTargetKey = (typeof AUTH_TARGETS)[number];
type JwtAlg = 'RS256' | 'ES256' | 'EdDSA';
const JWT_TARGETS: Record<AuthTargetKey | 'public-bearer' | 'limits-memory' | 'limits-memory-2w' | 'limits-redis', { alg: JwtAlg; cache: boolean }> = {
  'public-bearer': { alg: 'RS256', cache: true },
  'jwt-rs256-cache': { alg: 'RS256', cache: true },
  'jwt-rs256-nocache': { alg: 'RS256', cache: false },
  'jwt-es256-cache': { alg: 'ES256', cache: true },
  'jwt-es256-nocache': { alg: 'ES256', cache: false },
  'jwt-eddsa-cache': { alg: 'EdDSA', cache: true },
  'jwt-eddsa-nocache': { alg: 'EdDSA', cache: false },
  'limits-memory': { alg: 'RS256', cache: true },
  'limits-memory-2w': { alg: 'RS256', cache: true },
  'limits-redis': { alg: 'RS256', cache: true },
};
const JWT_ISSUER = 'https://bench.portcullis.test/';
const JWT_AUDIENCE = 'bench-api';

const LABELS: Record<TargetKey, string> = {
  direct: 'direct upstream',
  minimal: 'minimal proxy',
  portcullis: 'Portcullis',
  'portcullis-log': 'Portcullis+log',
  'portcullis-2w': 'Portcullis 2 wrk',
  'limits-memory-2w': 'limits mem 2 wrk',
  'public-bearer': 'public + token',
  'jwt-rs256-cache': 'JWT RS256 cache',
  'jwt-rs256-nocache': 'JWT RS256 no cache',
  'jwt-es256-cache': 'JWT ES256 cache',
  'jwt-es256-nocache': 'JWT ES256 no cache',
  'jwt-eddsa-cache': 'JWT EdDSA cache',
  'jwt-eddsa-nocache': 'JWT EdDSA no cache',
  'limits-memory': 'limits memory',
  'limits-redis': 'limits redis',
  'ipfilter-100k': 'ipFilter 100k',
  openapi: 'OpenAPI validate',
  'balance-rr': 'round-robin x2',
  'balance-lc': 'least-conn x2',
  'balance-ch': 'cons-hash x2',
  transform: 'transforms',
  metrics: 'metrics on',
  'tracing-0': 'tracing 0',
  'tracing-0.01': 'tracing 0.01',
  'tracing-1': 'tracing 1',
};
const LABEL_WIDTH = 18;
const METHODS = ['GET', 'POST'] as const;
type Method = (typeof METHODS)[number];

interface Flags {
  duration: number;
  warmup: number;
  connections: number;
  rounds: number;
  json: boolean;
  targets: TargetKey[];
  methods: Method[];
  profileDir: string | undefined;
  maxOther: number;
  /** Pin the proxies to CPU 1 and everything else (load generator, upstream, redis) to CPU 0. */
  pin: boolean;
  retries: number;
  /** Measure each feature target right next to its baseline, N pairs per method (0: rounds mode). */
  paired: number;
}

const HELP = `npm run bench:proxy -- [options]  (or: node bench/proxy.ts [options])

Measures Portcullis against a direct upstream and a minimal undici proxy. See docs/performance.md.

Options:
  --duration S      measured seconds per measurement (default 10, 1..600)
  --warmup S        warm-up seconds before each measurement, same connections (default 2, 0..120)
  --connections N   concurrent keep-alive connections (default 64, 1..1024)
  --rounds N        interleaved rounds; the report is the median over rounds (default 3, 1..50)
  --targets LIST    comma-separated subset of ${TARGET_KEYS.join(',')}
                    (default: ${DEFAULT_TARGETS.join(',')}; the jwt-* targets send an RS256/ES256/EdDSA
                    Bearer token, with the verified-token cache on or off; limits-* add an ip and a
                    consumer limit of 1e9/s on the memory store or on a redis-server the bench starts;
                    ipfilter-100k puts defaults.ipFilter.denyFile with 100,000 random CIDRs in front;
                    openapi validates GET and the POST body against an OpenAPI 3.1 operation)
  --methods LIST    comma-separated subset of GET,POST (default: both)
  --max-other C     a measurement during which processes outside the bench used more than C cores
                    (another workload on the machine) is repeated (default 0.2; Linux only)
  --retries N       at most N repeats per measurement; the least disturbed one is kept (default 3, 0..10)
  --json            also write the results to bench/results/proxy-<timestamp>.json
  --pin             pin the proxy under test to CPU 1 and the load generator, upstream and redis-server
                    to CPU 0 (Linux, taskset): the proxy has a core of its own, so its throughput is
                    bounded by its own CPU cost and scheduling noise between processes mostly goes
                    away; use it to compare features of the same proxy
  --paired N        instead of rounds over all targets: for every feature cost target whose two targets
                    are selected, N pairs per method of the feature and its baseline measured back to
                    back (order alternating), reported as the median of the per-pair ratios with a 95%
                    bootstrap confidence interval and a verdict: met, not met, or inconclusive (1..200)
  --profile DIR     run the proxies (minimal and Portcullis) under --cpu-prof, writing .cpuprofile files to DIR
                    (summarise them with: node bench/profile-summary.ts DIR/*.cpuprofile)
  -h, --help        this text`;

function parseFlags(argv: string[]): Flags {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
      targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
      methods: { type: 'string', default: METHODS.join(',') },
      json: { type: 'boolean', default: false },
      profile: { type: 'string' },
      'max-other': { type: 'string', default: '0.2' },
      pin: { type: 'boolean', default: false },
      retries: { type: 'string', default: '3' },
      paired: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const num = (name: string, text: string, min: number, max: number, integer: boolean): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got "${text}"`);
    }
    return n;
  };
  const list = <T extends string>(name: string, text: string, allowed: readonly T[]): T[] => {
    const items = text.split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of items) {
      if (!(allowed as readonly string[]).includes(item)) throw new Error(`--${name}: unknown "${item}" (one of ${allowed.join(', ')})`);
    }
    if (items.length === 0) throw new Error(`--${name} is empty`);
    return allowed.filter((a) => items.includes(a)); // canonical order, no duplicates
  };
  return {
    duration: num('duration', values.duration, 1, 600, false),
    warmup: num('warmup', values.warmup, 0, 120, false),
    connections: num('connections', values.connections, 1, 1024, true),
    rounds: num('rounds', values.rounds, 1, 50, true),
    targets: list('targets', values.targets, TARGET_KEYS),
    methods: list('methods', values.methods.toUpperCase(), METHODS),
    json: values.json,
    profileDir: values.profile === undefined ? undefined : path.resolve(values.profile),
    maxOther: num('max-other', values['max-other'], 0, 64, false),
    pin: values.pin ?? false,
    retries: num('retries', values.retries, 0, 10, true),
    paired: values.paired === '0' ? 0 : num('paired', values.paired, 1, 200, true),
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: started with this Node binary, tracked by PID, always killed.
// ---------------------------------------------------------------------------------------------

interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last few KB of the child's stdout+stderr, for error messages. */
  tail: string;
  exited: Promise<void>;
}

const children: Child[] = [];

/** bench/reaper.ts: SIGKILLs our children should this process die without stopping them. */
const reaper = spawn(process.execPath, [path.join(ROOT, 'bench/reaper.ts')], { cwd: ROOT, stdio: ['pipe', 'ignore', 'inherit'] });
reaper.stdin?.on('error', () => {});
reaper.unref();

function alive(c: Child): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null;
}

/** Set by --pin: the CPU a child runs on (proxies on 1, the rest on 0). */
let pinned = false;
const PINNED_HELPERS = new Set(['upstream', 'redis-server']);

function startChild(name: string, args: string[], options: { holdStdin: boolean; command?: string }): Child {
  const command = options.command ?? process.execPath;
  const [file, argv] = pinned ? ['taskset', ['-c', PINNED_HELPERS.has(name) ? '0' : '1', command, ...args]] : [command, args];
  const proc = spawn(file, argv, {
    cwd: ROOT,
    // holdStdin: our children exit when this pipe closes, so they die with the bench even on SIGKILL.
    stdio: [options.holdStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    // The metrics target's admin listener needs a token from the environment (never used: nothing scrapes).
    env: { ...process.env, NODE_ENV: 'production', PORTCULLIS_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef' },
  });
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    tail: '',
    exited: new Promise<void>((resolve) => proc.once('exit', () => resolve())),
  };
  const keep = (chunk: Buffer): void => {
    child.tail = (child.tail + chunk.toString('utf8')).slice(-4096);
  };
  // Both pipes are always drained: a full pipe would stall the child.
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.on('error', (err) => {
    child.tail += `\n[spawn error] ${err.message}`;
  });
  reaper.stdin?.write(`+${proc.pid}\n`);
  proc.once('exit', () => reaper.stdin?.write(`-${child.pid}\n`));
  children.push(child);
  return child;
}

/** Resolves with the port the child announces on `stream`; rejects on exit or after `timeoutMs`. */
function waitForPort(child: Child, stream: 'stdout' | 'stderr', re: RegExp, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let seen = '';
    const source = stream === 'stdout' ? child.proc.stdout : child.proc.stderr;
    const cleanup = (): void => {
      clearTimeout(timer);
      source?.off('data', onData);
      child.proc.off('exit', onExit);
    };
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString('utf8')).slice(-8192);
      const m = re.exec(seen);
      if (m) {
        cleanup();
        resolve(Number(m[1]));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${child.name} exited (${signal ?? code}) before listening:\n${child.tail}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.name} did not start listening within ${timeoutMs} ms:\n${child.tail}`));
    }, timeoutMs);
    source?.on('data', onData);
    child.proc.once('exit', onExit);
  });
}

function signalAll(signal: NodeJS.Signals): void {
  for (const c of children) {
    if (!alive(c)) continue;
    try {
      process.kill(c.pid, signal);
    } catch {
      // already gone
    }
  }
}

let stopping: Promise<void> | undefined;

/** SIGTERM every child by PID (Portcullis drains and writes its profile), SIGKILL what is left. */
function stopChildren(): Promise<void> {
  stopping ??= (async () => {
    signalAll('SIGTERM');
    const all = Promise.all(children.map((c) => c.exited));
    const timeout = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
    await Promise.race([all, timeout(15_000)]);
    if (children.some(alive)) {
      signalAll('SIGKILL');
      await Promise.race([all, timeout(3_000)]);
    }
  })();
  return stopping;
}

/** The temp dir (configs, access log); removed at the end, also on a signal. */
let tmpDir: string | undefined;

process.on('exit', () => {
  signalAll('SIGKILL');
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});

let currentLoad: Instance | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      signalAll('SIGKILL');
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping load and child processes\n`);
    currentLoad?.stop();
    void stopChildren().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// CPU time of a process (Linux /proc), and of this one.
// ---------------------------------------------------------------------------------------------

/**
 * CPU milliseconds the whole machine spent busy (user, nice, system, steal; interrupt time left out)
 * from /proc/stat, or undefined elsewhere. Minus the bench's own processes, this is what other
 * workloads on the machine took during a measurement.
 */
function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] as string;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[7] ?? 0);
    return (busy * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** All live bench processes (children, and this one), CPU ms. */
function benchCpuMs(): number | undefined {
  let total = selfCpuMs();
  for (const c of children) {
    if (!alive(c)) continue;
    const ms = cpuMs(c.pid);
    if (ms === undefined) return undefined;
    total += ms;
  }
  return total;
}

/** Cores used by processes outside the bench over `ms` milliseconds, sampled now. */
async function foreignCores(ms: number): Promise<number | undefined> {
  const m0 = machineBusyMs();
  const b0 = benchCpuMs();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const m1 = machineBusyMs();
  const b1 = benchCpuMs();
  if (m0 === undefined || m1 === undefined || b0 === undefined || b1 === undefined) return undefined;
  return Math.max(0, m1 - m0 - (b1 - b0)) / (performance.now() - t0);
}

/** Waits (at most `maxMs`) for a half-second in which other workloads use under `limit` cores. */
async function waitForQuiet(limit: number, maxMs: number): Promise<number | undefined> {
  const deadline = performance.now() + maxMs;
  let other: number | undefined;
  do {
    other = await foreignCores(500);
    if (other === undefined || other <= limit) return other;
  } while (performance.now() < deadline);
  return other;
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---------------------------------------------------------------------------------------------
// Latency recording: 10 µs buckets up to 5 s (autocannon's own histogram has 1 ms resolution).
// ---------------------------------------------------------------------------------------------

class LatencyRecorder {
  private static readonly BUCKET_MS = 0.01;
  private readonly buckets = new Uint32Array(500_000);
  private overflow = 0;
  count = 0;
  sum = 0;
  max = 0;

  reset(): void {
    this.buckets.fill(0);
    this.overflow = 0;
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  record(ms: number): void {
    const b = Math.floor(ms / LatencyRecorder.BUCKET_MS);
    if (b < this.buckets.length) this.buckets[b] = (this.buckets[b] as number) + 1;
    else this.overflow++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** The p-th percentile in ms (bucket midpoint), NaN without samples. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < this.buckets.length; b++) {
      seen += this.buckets[b] as number;
      if (seen >= rank) return (b + 0.5) * LatencyRecorder.BUCKET_MS;
    }
    return this.max; // in the overflow
  }
}

// ---------------------------------------------------------------------------------------------
// One measurement: autocannon for warm-up + duration; only the window after the warm-up counts.
// ---------------------------------------------------------------------------------------------

interface Target {
  key: TargetKey;
  label: string;
  url: string;
  /** The process that serves the target: the upstream itself for "direct". */
  server: Child;
  /** Request headers sent on every request (the Bearer token of the jwt-* targets). */
  headers?: Record<string, string>;
  /** A helper process whose CPU is reported separately (the redis-server of limits-redis). */
  aux?: Child;
}

interface CpuFigures {
  /** CPU ms in the window. */
  ms: number;
  /** CPU µs per completed request. */
  usPerRequest: number;
  /** Average cores busy in the window. */
  cores: number;
}

interface Measurement {
  round: number;
  target: TargetKey;
  method: Method;
  seconds: number;
  requests: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  errors: number;
  non2xx: number;
  /** Responses completed over the whole autocannon run, warm-up included. */
  completedInRun: number;
  cpu: { server: CpuFigures | null; upstream: CpuFigures | null; loadgen: CpuFigures; aux: CpuFigures | null };
  /** Cores used by processes outside the bench during the window (null where unknown). */
  otherCores: number | null;
  /** How many times this measurement was taken (repeats when other workloads disturbed it). */
  attempts: number;
  /** --paired: the feature target (its goal) this measurement was taken for. */
  pair?: string;
}

const recorder = new LatencyRecorder();
/** Responses each target completed over every autocannon run, repeats and warm-ups included. */
const completedByTarget = new Map<TargetKey, number>();

function cpuFigures(ms: number | undefined, requests: number, seconds: number): CpuFigures | null {
  if (ms === undefined || Number.isNaN(ms)) return null;
  return { ms, usPerRequest: requests > 0 ? (ms * 1000) / requests : NaN, cores: ms / 1000 / seconds };
}

function measure(target: Target, method: Method, upstream: Child, flags: Flags, round: number): Promise<Measurement> {
  recorder.reset();
  let inWindow = false;
  let ok = 0;
  let bad = 0;
  let errors = 0;
  let t0 = 0;
  let t1 = 0;
  let cpu0 = {
    server: undefined as number | undefined,
    upstream: undefined as number | undefined,
    aux: undefined as number | undefined,
    self: 0,
    machine: undefined as number | undefined,
    bench: undefined as number | undefined,
  };
  let cpu1 = { ...cpu0 };
  const snapshot = () => ({
    server: cpuMs(target.server.pid),
    upstream: target.server === upstream ? undefined : cpuMs(upstream.pid),
    aux: target.aux ? cpuMs(target.aux.pid) : undefined,
    self: selfCpuMs(),
    machine: machineBusyMs(),
    bench: benchCpuMs(),
  });
  const timers: NodeJS.Timeout[] = [];
  const total = flags.warmup + flags.duration;

  return new Promise<Measurement>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url + BENCH_PATH,
        connections: flags.connections,
        pipelining: 1,
        // One second past the window, so the window never races autocannon's own stop.
        duration: total + 1,
        timeout: 10,
        method,
        headers: { ...target.headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        ...(method === 'POST' ? { body: POST_BODY } : {}),
      },
      (err, result) => {
        for (const t of timers) clearTimeout(t);
        currentLoad = undefined;
        if (err) return reject(err);
        if (interrupted) return reject(new Error('interrupted'));
        if (t1 === 0) return reject(new Error(`${target.key} ${method}: the load ended before the measured window did`));
        const seconds = (t1 - t0) / 1000;
        const completedInRun = Object.values(result.statusCodeStats ?? {}).reduce((n, s) => n + Number(s.count), 0);
        completedByTarget.set(target.key, (completedByTarget.get(target.key) ?? 0) + completedInRun);
        resolve({
          round,
          target: target.key,
          method,
          seconds,
          requests: ok,
          rps: ok / seconds,
          latencyMs: {
            p50: recorder.percentile(50),
            p90: recorder.percentile(90),
            p99: recorder.percentile(99),
            mean: recorder.count > 0 ? recorder.sum / recorder.count : NaN,
            max: recorder.max,
          },
          errors,
          non2xx: bad,
          completedInRun,
          cpu: {
            server: cpuFigures(sub(cpu1.server, cpu0.server), ok, seconds),
            upstream: cpuFigures(sub(cpu1.upstream, cpu0.upstream), ok, seconds),
            loadgen: cpuFigures(cpu1.self - cpu0.self, ok, seconds) as CpuFigures,
            aux: cpuFigures(sub(cpu1.aux, cpu0.aux), ok, seconds),
          },
          otherCores: otherCores(sub(cpu1.machine, cpu0.machine), sub(cpu1.bench, cpu0.bench), seconds),
          attempts: 1,
        });
      },
    );
    currentLoad = instance;
    instance.on('response', ((_client, statusCode, _bytes, responseTime) => {
      if (!inWindow) return;
      if (statusCode >= 200 && statusCode < 300) {
        ok++;
        recorder.record(responseTime);
      } else {
        bad++;
      }
    }) satisfies ResponseListener);
    instance.on('reqError', () => {
      if (inWindow) errors++;
    });
    instance.once('start', () => {
      timers.push(
        setTimeout(() => {
          cpu0 = snapshot();
          t0 = performance.now();
          inWindow = true;
          timers.push(
            setTimeout(() => {
              inWindow = false;
              t1 = performance.now();
              cpu1 = snapshot();
            }, flags.duration * 1000),
          );
        }, flags.warmup * 1000),
      );
    });
    // Hard bound: autocannon must be done well after its duration plus its request timeout.
    timers.push(
      setTimeout(() => {
        instance.stop();
        reject(new Error(`${target.key} ${method}: autocannon did not finish in time`));
      }, (total + 30) * 1000),
    );
  });
}

function otherCores(machineMs: number | undefined, benchMs: number | undefined, seconds: number): number | null {
  if (machineMs === undefined || benchMs === undefined) return null;
  return Math.max(0, machineMs - benchMs) / 1000 / seconds;
}

/**
 * A measurement, repeated (at most flags.retries times) while other workloads on the machine took
 * more than flags.maxOther cores during it; the least disturbed attempt is kept.
 */
async function measureUndisturbed(target: Target, method: Method, upstream: Child, flags: Flags, round: number): Promise<Measurement> {
  let best: Measurement | undefined;
  for (let attempt = 1; attempt <= flags.retries + 1; attempt++) {
    await waitForQuiet(flags.maxOther, 30_000);
    if (interrupted) throw new Error('interrupted');
    const m = await measure(target, method, upstream, flags, round);
    if (!best || (m.otherCores ?? 0) < (best.otherCores ?? 0)) best = m;
    best.attempts = attempt;
    if (m.otherCores === null || m.otherCores <= flags.maxOther) break;
    process.stderr.write(
      `  (${target.label} ${method}: other processes used ${fmt(m.otherCores)} cores during the window` +
        `${attempt <= flags.retries ? ', repeating' : ''})\n`,
    );
  }
  return best as Measurement;
}

function sub(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

// ---------------------------------------------------------------------------------------------
// Setup: upstream, minimal proxy, Portcullis (through its CLI) on generated configs.
// ---------------------------------------------------------------------------------------------

/** What a generated Portcullis config adds to the plain `auth: public` route. */
interface RouteExtras {
  /** A jwt authenticator named `bench-jwt` on a local JWKS file; the route requires it. */
  jwt?: { alg: JwtAlg; cache: boolean; jwksFile: string };
  /** An ip and a consumer limit that never trigger, on this store. */
  limits?: { store: 'memory' } | { store: 'redis'; url: string };
  /** defaults.ipFilter.denyFile: this list file (none of its entries covers the load generator). */
  denyFile?: string;
  /** validate.openapi: this document (bench/openapi.ts), which every bench request satisfies. */
  openapi?: string;
  /** server.workers (a cluster primary and this many workers). */
  workers?: number;
  /** Two targets (the same backend twice) balanced this way. */
  balance?: 'round-robin' | 'least-connections' | 'consistent-hash';
  /** Request and response transforms on the route. */
  transform?: boolean;
  /** metrics.prometheus with an admin listener. */
  metrics?: boolean;
  /** Span export to this OTLP/HTTP URL at this sampling ratio. */
  tracing?: { endpoint: string; ratio: number };
}

function portcullisConfig(upstreamPort: number, accessLog: string, flags: Flags, extras: RouteExtras = {}): string {
  const perIp = Math.max(256, flags.connections * 4);
  const store = extras.limits
    ? extras.limits.store === 'redis'
      ? `store:\n  type: redis\n  redis:\n    url: ${JSON.stringify(extras.limits.url)}\n`
      : 'store:\n  type: memory\n'
    : '';
  const authenticators = extras.jwt
    ? `authenticators:
  bench-jwt:
    type: jwt
    issuer: ${JSON.stringify(JWT_ISSUER)}
    audience: ${JSON.stringify(JWT_AUDIENCE)}
    keys: ${JSON.stringify(extras.jwt.jwksFile)}
    algorithms: [${extras.jwt.alg}]
${extras.jwt.cache ? '' : '    cache: false\n'}`
    : '';
  const rateLimit = extras.limits
    ? `    rateLimit:
      - { by: ip, limit: 1000000000, per: 1s }
      - { by: consumer, limit: 1000000000, per: 1s }
`
    : '';
  const defaults = extras.denyFile ? `defaults:\n  ipFilter:\n    denyFile: ${JSON.stringify(extras.denyFile)}\n` : '';
  const target = JSON.stringify(`http://127.0.0.1:${upstreamPort}`);
  const targets = extras.balance
    ? `      - ${target}\n      - ${target}\n    balance: ${extras.balance}\n${extras.balance === 'consistent-hash' ? '    hashOn: ip\n' : ''}`
    : `      - ${target}\n`;
  const transform = extras.transform
    ? `    transform:
      request:
        setHeaders: { x-consumer: "\${client.ip}", x-req: "\${request.id}" }
        removeHeaders: [x-debug]
        setQuery: { source: gateway }
      response:
        setHeaders: { x-served-by: portcullis, cache-control: no-store }
        removeHeaders: [x-internal]
`
    : '';
  const observability = `${extras.metrics ? 'metrics: { prometheus: true }\n' : ''}${extras.tracing ? `tracing: { otlpEndpoint: ${JSON.stringify(extras.tracing.endpoint)}, sampleRatio: ${extras.tracing.ratio} }\n` : ''}`;
  return `# Generated by bench/proxy.ts
server:
  http:
    host: 127.0.0.1
    port: 0
    redirectToHttps: false
  limits:
    maxConnections: ${Math.max(10_000, perIp)}
    # warm-up and measurement connections of consecutive runs may briefly overlap
    maxConnectionsPerIp: ${perIp}
  shutdownTimeout: 5s
${extras.workers ? `  workers: ${extras.workers}\n` : ''}${extras.metrics ? '  admin: { host: 127.0.0.1, port: 0, token: "${PORTCULLIS_ADMIN_TOKEN}" }\n' : ''}logging:
  accessLog: ${JSON.stringify(accessLog)}
${observability}${store}${authenticators}${defaults}upstreams:
  bench:
    targets:
${targets}    maxConnections: ${extras.balance ? Math.ceil(poolSize(flags) / 2) : poolSize(flags)}
routes:
  - name: bench
    match: { path: /api/*, methods: [GET, POST] }
    auth: ${extras.jwt ? 'bench-jwt' : 'public'}
${rateLimit}${transform}${extras.openapi ? `    validate: { openapi: ${JSON.stringify(extras.openapi)} }\n` : ''}    upstream: bench
`;
}

// ---------------------------------------------------------------------------------------------
// Auth and rate-limit targets: keys, tokens, a local redis-server.
// ---------------------------------------------------------------------------------------------

/** One key pair per algorithm, a JWKS file of the public keys, one long-lived token per algorithm. */
async function makeJwtFixtures(dir: string, algs: JwtAlg[]): Promise<{ jwksFile: string; tokens: Map<JwtAlg, string> }> {
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const keys: Record<string, unknown>[] = [];
  const tokens = new Map<JwtAlg, string>();
  for (const alg of algs) {
    const kid = `bench-${alg.toLowerCase()}`;
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    const token = await new SignJWT({ client_id: 'bench-client', scope: 'items:read items:write' })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(JWT_ISSUER)
      .setAudience(JWT_AUDIENCE)
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('1d')
      .sign(privateKey);
    tokens.set(alg, token);
  }
  const jwksFile = path.join(dir, 'bench-jwks.json');
  await writeFile(jwksFile, `${JSON.stringify({ keys }, null, 2)}\n`);
  return { jwksFile, tokens };
}

function redisPing(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(String(d).startsWith('+PONG')));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 200).unref();
  });
}

/** A redis-server on 127.0.0.1 (no persistence), tracked and killed by PID like every child. */
async function startRedisServer(): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = startChild(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'],
    { holdStdin: false, command: 'redis-server' },
  );
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    if (!alive(child)) throw new Error(`redis-server exited before answering PING (is it installed?):\n${child.tail}`);
    if (await redisPing(port)) return { child, url: `redis://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on ${port} did not answer PING within 10 s:\n${child.tail}`);
}

/**
 * A deny-list file of `n` random CIDRs (/16../32, 5% IPv6) in the Spamhaus DROP format, none of
 * them covering loopback: every bench request is looked up and passes.
 */
function denyList(n: number): string {
  let seed = 20_261_128;
  const rnd = (m: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % m;
  };
  const lines = ['; generated by bench/proxy.ts'];
  for (let i = 0; i < n; i++) {
    if (i % 20 === 19) {
      lines.push(`2a0${rnd(10)}:${rnd(65536).toString(16)}:${rnd(65536).toString(16)}::/48 ; SBL${i}`);
      continue;
    }
    let first = 1 + rnd(223);
    if (first === 127) first = 128;
    lines.push(`${first}.${rnd(256)}.${rnd(256)}.${rnd(256)}/${16 + rnd(17)} ; SBL${i}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The OpenAPI document of the openapi target: GET and POST ${BENCH_PATH}, the POST body (the 1 KiB
 * order of bench/common.ts) described exactly, with $refs, formats, patterns and
 * additionalProperties: false, so the whole body is walked.
 */
function benchOpenApi(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'bench', version: '1' },
    paths: {
      [BENCH_PATH]: {
        get: { operationId: 'listItems', parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1 } }] },
        post: {
          operationId: 'createOrder',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } } },
        },
      },
    },
    components: {
      schemas: {
        Order: {
          type: 'object',
          required: ['orderId', 'customer', 'items'],
          additionalProperties: false,
          properties: {
            orderId: { type: 'string', pattern: '^ord_[0-9a-z]+$' },
            customer: {
              type: 'object',
              required: ['id'],
              additionalProperties: false,
              properties: { id: { type: 'string', minLength: 1 }, tier: { enum: ['gold', 'silver', 'bronze'] } },
            },
            items: { type: 'array', minItems: 1, maxItems: 100, items: { $ref: '#/components/schemas/Item' } },
            note: { type: 'string', maxLength: 4096 },
          },
        },
        Item: {
          type: 'object',
          required: ['sku', 'qty', 'price'],
          additionalProperties: false,
          properties: {
            sku: { type: 'string', pattern: '^SKU-[0-9]{4}$' },
            qty: { type: 'integer', minimum: 1, format: 'int32' },
            price: { type: 'number', exclusiveMinimum: 0 },
          },
        },
      },
    },
  };
}

/** Upstream connections per proxy: the same for the minimal proxy and Portcullis. */
function poolSize(flags: Flags): number {
  return Math.max(128, flags.connections);
}

/** Node flags that make a proxy child write a CPU profile on exit (with --profile). */
function profileFlags(name: string, flags: Flags): string[] {
  return flags.profileDir ? ['--cpu-prof', '--cpu-prof-dir', flags.profileDir, '--cpu-prof-name', `${name}.${Date.now()}.cpuprofile`] : [];
}

/**
 * An OTLP/HTTP sink on loopback for the tracing targets: answers every export with 200 and counts
 * the bytes (in the bench process, on the load generator's CPU).
 */
async function startOtlpSink(): Promise<{ url: string; close(): void }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/v1/traces`, close: () => server.close() };
}

async function startPortcullis(name: string, configFile: string, flags: Flags): Promise<{ child: Child; port: number }> {
  const child = startChild(name, [...profileFlags(name, flags), '--max-semi-space-size=16', '--heap-growing-percent=50', path.join(ROOT, 'src/cli/main.ts'), 'start', '--config', configFile], { holdStdin: false });
  const port = await waitForPort(child, 'stderr', /listening on http:\/\/127\.0\.0\.1:(\d+)/, 20_000);
  return { child, port };
}

/** One GET and one POST through the target: 200 and the upstream's exact body, or an error. */
async function sanityCheck(target: Target): Promise<void> {
  for (const method of METHODS) {
    const res = await request(target.url + BENCH_PATH, {
      method,
      headersTimeout: 5_000,
      bodyTimeout: 5_000,
      headers: { ...target.headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      ...(method === 'POST' ? { body: POST_BODY } : {}),
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200 || !body.equals(UPSTREAM_BODY)) {
      throw new Error(`${target.label} ${method}: expected 200 with the upstream body, got ${res.statusCode} ${body.toString('utf8').slice(0, 200)}`);
    }
  }
}

async function upstreamStats(port: number): Promise<{ requests: number; bodyRequests: number; bodyBytes: number }> {
  const res = await request(`http://127.0.0.1:${port}/__bench/stats`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return (await res.body.json()) as { requests: number; bodyRequests: number; bodyBytes: number };
}

async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------------------------

function median(values: number[]): number {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

interface Summary {
  target: TargetKey;
  label: string;
  method: Method;
  rounds: number;
  rps: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  serverUsPerRequest: number;
  serverCores: number;
  /** CPU µs per request of the helper process (redis-server), NaN without one. */
  auxUsPerRequest: number;
  errors: number;
  non2xx: number;
  /** Largest load from other workloads seen in a kept measurement, cores. */
  otherCoresMax: number;
}

function summarise(results: Measurement[], targets: Target[], methods: Method[]): Summary[] {
  const out: Summary[] = [];
  for (const method of methods) {
    for (const t of targets) {
      const ms = results.filter((r) => r.target === t.key && r.method === method);
      if (ms.length === 0) continue;
      out.push({
        target: t.key,
        label: t.label,
        method,
        rounds: ms.length,
        rps: median(ms.map((m) => m.rps)),
        rpsMin: Math.min(...ms.map((m) => m.rps)),
        rpsMax: Math.max(...ms.map((m) => m.rps)),
        p50: median(ms.map((m) => m.latencyMs.p50)),
        p99: median(ms.map((m) => m.latencyMs.p99)),
        serverUsPerRequest: median(ms.map((m) => m.cpu.server?.usPerRequest ?? NaN)),
        serverCores: median(ms.map((m) => m.cpu.server?.cores ?? NaN)),
        auxUsPerRequest: median(ms.map((m) => m.cpu.aux?.usPerRequest ?? NaN)),
        errors: ms.reduce((n, m) => n + m.errors, 0),
        non2xx: ms.reduce((n, m) => n + m.non2xx, 0),
        otherCoresMax: Math.max(...ms.map((m) => m.otherCores ?? NaN)),
      });
    }
  }
  return out;
}

interface Comparison {
  method: Method;
  name: string;
  of: TargetKey;
  to: TargetKey;
  /** Ratio of the median throughputs. */
  throughputRatio: number;
  /** Median, min and max of the per-round ratios (same round, adjacent in time). */
  perRoundRatioMedian: number;
  perRoundRatioMin: number;
  perRoundRatioMax: number;
  p50DeltaMs: number;
  p99DeltaMs: number;
  /** Ratio of the median CPU µs per request of the two serving processes. */
  cpuPerRequestRatio: number;
}

const COMPARISONS: { name: string; of: TargetKey; to: TargetKey }[] = [
  { name: 'Portcullis / minimal proxy', of: 'portcullis', to: 'minimal' },
  { name: 'Portcullis / direct', of: 'portcullis', to: 'direct' },
  { name: 'minimal proxy / direct', of: 'minimal', to: 'direct' },
  { name: 'Portcullis+log / minimal proxy', of: 'portcullis-log', to: 'minimal' },
  { name: 'Portcullis+log / Portcullis', of: 'portcullis-log', to: 'portcullis' },
  ...AUTH_TARGETS.map((k) => ({ name: `${LABELS[k]} / Portcullis`, of: k as TargetKey, to: 'portcullis' as TargetKey })),
  { name: 'public + token / Portcullis', of: 'public-bearer', to: 'portcullis' },
  ...AUTH_TARGETS.map((k) => ({ name: `${LABELS[k]} / public + token`, of: k as TargetKey, to: 'public-bearer' as TargetKey })),
  { name: 'limits memory / Portcullis', of: 'limits-memory', to: 'portcullis' },
  { name: 'Portcullis 2 workers / 1', of: 'portcullis-2w', to: 'portcullis' },
  { name: 'limits memory 2 workers / 1', of: 'limits-memory-2w', to: 'limits-memory' },
  { name: 'limits redis / Portcullis', of: 'limits-redis', to: 'portcullis' },
  // The limit targets authenticate with RS256 (cache on): against that, the limits alone.
  { name: 'limits memory / JWT RS256 cache', of: 'limits-memory', to: 'jwt-rs256-cache' },
  { name: 'limits redis / JWT RS256 cache', of: 'limits-redis', to: 'jwt-rs256-cache' },
  { name: 'ipFilter 100k / Portcullis', of: 'ipfilter-100k', to: 'portcullis' },
  { name: 'OpenAPI validate / Portcullis', of: 'openapi', to: 'portcullis' },
  { name: 'least-connections / round-robin', of: 'balance-lc', to: 'balance-rr' },
  { name: 'consistent-hash / round-robin', of: 'balance-ch', to: 'balance-rr' },
  { name: 'round-robin x2 / Portcullis', of: 'balance-rr', to: 'portcullis' },
  { name: 'transforms / Portcullis', of: 'transform', to: 'portcullis' },
  { name: 'metrics on / Portcullis', of: 'metrics', to: 'portcullis' },
  { name: 'tracing 0 / Portcullis', of: 'tracing-0', to: 'portcullis' },
  { name: 'tracing 0.01 / Portcullis', of: 'tracing-0.01', to: 'portcullis' },
  { name: 'tracing 1 / Portcullis', of: 'tracing-1', to: 'portcullis' },
];

/** Cost targets of the auth and rate-limit features: throughput ratio of `of` to `to` at least `min`. */
const FEATURE_TARGETS: { goal: string; of: TargetKey; to: TargetKey; min: number }[] = [
  // The same requests (Bearer token included) to the same route with `auth: public`: what
  // authentication costs. Against a token-less public request the ratio also counts carrying the
  // ~0.8 KB Authorization field through parser, proxy and upstream; both are reported.
  { goal: 'JWT RS256 with cache costs < 10% (vs auth: public, same token sent)', of: 'jwt-rs256-cache', to: 'public-bearer', min: 0.9 },
  { goal: 'JWT ES256 with cache costs < 10% (vs auth: public, same token sent)', of: 'jwt-es256-cache', to: 'public-bearer', min: 0.9 },
  { goal: 'JWT EdDSA with cache costs < 10% (vs auth: public, same token sent)', of: 'jwt-eddsa-cache', to: 'public-bearer', min: 0.9 },
  { goal: 'memory-store limits cost < 5% (vs the same JWT route without limits)', of: 'limits-memory', to: 'jwt-rs256-cache', min: 0.95 },
  { goal: 'Redis-store limits cost < 25% (vs the same JWT route without limits)', of: 'limits-redis', to: 'jwt-rs256-cache', min: 0.75 },
  { goal: 'a 100,000-entry deny list costs < 3% (vs the same route without ipFilter)', of: 'ipfilter-100k', to: 'portcullis', min: 0.97 },
  { goal: 'OpenAPI validation (1 KiB JSON body) costs < 10% (vs the same route without)', of: 'openapi', to: 'portcullis', min: 0.9 },
];

/** A deterministic PRNG (mulberry32) for the bootstrap, so a report can be recomputed from its JSON. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Median of `values` and a 95% percentile-bootstrap confidence interval of it (10,000 resamples). */
function medianWithCi(values: number[]): { median: number; lo: number; hi: number } {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { median: NaN, lo: NaN, hi: NaN };
  const rnd = mulberry32(20_261_202);
  const medians: number[] = [];
  const sample: number[] = new Array<number>(v.length);
  for (let b = 0; b < 10_000; b++) {
    for (let i = 0; i < v.length; i++) sample[i] = v[Math.floor(rnd() * v.length)] as number;
    medians.push(median(sample));
  }
  medians.sort((x, y) => x - y);
  return { median: median(v), lo: medians[Math.floor(0.025 * medians.length)] as number, hi: medians[Math.floor(0.975 * medians.length)] as number };
}

interface PairedVerdict {
  goal: string;
  method: Method;
  pairs: number;
  min: number;
  /** Per-pair throughput ratio (feature / baseline): median and 95% CI. */
  throughput: { median: number; lo: number; hi: number };
  /** Per-pair ratio of baseline CPU per request to the feature's (the throughput a CPU-bound proxy would reach). */
  cpu: { median: number; lo: number; hi: number };
  verdict: 'met' | 'not met' | 'inconclusive';
}

/**
 * --paired: a verdict per feature target and method from the per-pair ratios. Met when the whole
 * 95% interval of the throughput ratio is at or above the target; not met when it is wholly below;
 * inconclusive otherwise (more pairs, or a quieter machine, would decide).
 */
function pairedVerdicts(results: Measurement[], methods: Method[]): PairedVerdict[] {
  const out: PairedVerdict[] = [];
  for (const t of FEATURE_TARGETS) {
    for (const method of methods) {
      const mine = results.filter((m) => m.pair === t.goal && m.method === method);
      const rounds = [...new Set(mine.map((m) => m.round))];
      const tput: number[] = [];
      const cpu: number[] = [];
      for (const r of rounds) {
        const a = mine.find((m) => m.round === r && m.target === t.of);
        const b = mine.find((m) => m.round === r && m.target === t.to);
        if (!a || !b) continue;
        tput.push(a.rps / b.rps);
        if (a.cpu.server && b.cpu.server) cpu.push(b.cpu.server.usPerRequest / a.cpu.server.usPerRequest);
      }
      if (tput.length === 0) continue;
      const throughput = medianWithCi(tput);
      const verdict = throughput.lo >= t.min ? 'met' : throughput.hi < t.min ? 'not met' : 'inconclusive';
      out.push({ goal: t.goal, method, pairs: tput.length, min: t.min, throughput, cpu: medianWithCi(cpu), verdict });
    }
  }
  return out;
}

function featureVerdicts(comparisons: Comparison[]): { goal: string; method: Method; ratio: number; cost: number; met: boolean; cpuPerRequestRatio: number }[] {
  const out: { goal: string; method: Method; ratio: number; cost: number; met: boolean; cpuPerRequestRatio: number }[] = [];
  for (const t of FEATURE_TARGETS) {
    for (const c of comparisons.filter((x) => x.of === t.of && x.to === t.to)) {
      out.push({ goal: t.goal, method: c.method, ratio: c.throughputRatio, cost: 1 - c.throughputRatio, met: c.throughputRatio >= t.min, cpuPerRequestRatio: c.cpuPerRequestRatio });
    }
  }
  return out;
}

function compare(results: Measurement[], summaries: Summary[], methods: Method[]): Comparison[] {
  const out: Comparison[] = [];
  for (const method of methods) {
    for (const c of COMPARISONS) {
      const a = summaries.find((s) => s.method === method && s.target === c.of);
      const b = summaries.find((s) => s.method === method && s.target === c.to);
      if (!a || !b) continue;
      const perRound: number[] = [];
      for (const r of new Set(results.map((m) => m.round))) {
        const ra = results.find((m) => m.round === r && m.method === method && m.target === c.of);
        const rb = results.find((m) => m.round === r && m.method === method && m.target === c.to);
        if (ra && rb) perRound.push(ra.rps / rb.rps);
      }
      out.push({
        method,
        ...c,
        throughputRatio: a.rps / b.rps,
        perRoundRatioMedian: median(perRound),
        perRoundRatioMin: Math.min(...perRound),
        perRoundRatioMax: Math.max(...perRound),
        p50DeltaMs: a.p50 - b.p50,
        p99DeltaMs: a.p99 - b.p99,
        cpuPerRequestRatio: a.serverUsPerRequest / b.serverUsPerRequest,
      });
    }
  }
  return out;
}

const fmtInt = (n: number): string => (Number.isNaN(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const fmt = (n: number, digits = 2): string => (Number.isNaN(n) ? 'n/a' : n.toFixed(digits));
const signed = (n: number, digits = 2): string => (Number.isNaN(n) ? 'n/a' : `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`);

function table(header: string[], rows: string[][], rightAlign: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAlign[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

interface Machine {
  cpuModel: string;
  logicalCores: number;
  availableParallelism: number;
  memoryGiB: number;
  os: string;
  node: string;
  autocannon: string;
  undici: string;
  portcullis: string;
  commit: string;
}

function machineInfo(): Machine {
  const version = (pkg: string) => {
    try {
      return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    if (dirty) commit += '-dirty';
  } catch {
    // not a git checkout
  }
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    logicalCores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    autocannon: version('autocannon'),
    undici: version('undici'),
    portcullis: (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    commit,
  };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------


async function main(): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  const machine = machineInfo();
  if (flags.pin) {
    if (os.availableParallelism() < 2) {
      process.stderr.write('bench: --pin needs at least 2 CPUs\n');
      return 2;
    }
    try {
      // This process (the load generator, every thread of it) on CPU 0; children are started under taskset.
      execFileSync('taskset', ['-a', '-pc', '0', String(process.pid)], { stdio: 'ignore' });
    } catch (err) {
      process.stderr.write(`bench: --pin needs taskset (util-linux): ${(err as Error).message}\n`);
      return 2;
    }
    pinned = true;
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-bench-'));
  tmpDir = tmp;
  reaper.stdin?.write(`dir ${tmp}\n`);
  const accessLogFile = path.join(tmp, 'access.log');
  if (flags.profileDir) await mkdir(flags.profileDir, { recursive: true });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const sinks: { close(): void }[] = [];

  try {
    log(`bench: machine ${machine.cpuModel}, ${machine.logicalCores} logical cores, Node ${machine.node}`);
    // --- processes ---
    const upstream = startChild('upstream', [path.join(ROOT, 'bench/upstream.ts'), '0'], { holdStdin: true });
    const upstreamPort = await waitForPort(upstream, 'stdout', READY_RE, 15_000);
    const targets: Target[] = [];
    if (flags.targets.includes('direct')) {
      targets.push({ key: 'direct', label: LABELS.direct, url: `http://127.0.0.1:${upstreamPort}`, server: upstream });
    }
    if (flags.targets.includes('minimal')) {
      const minimal = startChild(
        'minimal-proxy',
        [...profileFlags('minimal-proxy', flags), path.join(ROOT, 'bench/minimal-proxy.ts'), `http://127.0.0.1:${upstreamPort}`, '0', String(poolSize(flags))],
        { holdStdin: true },
      );
      const port = await waitForPort(minimal, 'stdout', READY_RE, 15_000);
      targets.push({ key: 'minimal', label: LABELS.minimal, url: `http://127.0.0.1:${port}`, server: minimal });
    }
    for (const key of ['portcullis', 'portcullis-log', 'portcullis-2w'] as const) {
      if (!flags.targets.includes(key)) continue;
      const configFile = path.join(tmp, `${key}.yaml`);
      await writeFile(configFile, portcullisConfig(upstreamPort, key === 'portcullis-log' ? accessLogFile : 'off', flags, key === 'portcullis-2w' ? { workers: 2 } : {}));
      const { child, port } = await startPortcullis(key, configFile, flags);
      targets.push({ key, label: LABELS[key], url: `http://127.0.0.1:${port}`, server: child });
    }
    if (flags.targets.includes('ipfilter-100k')) {
      const denyFile = path.join(tmp, 'deny-100k.txt');
      await writeFile(denyFile, denyList(100_000));
      const configFile = path.join(tmp, 'ipfilter-100k.yaml');
      await writeFile(configFile, portcullisConfig(upstreamPort, 'off', flags, { denyFile }));
      const { child, port } = await startPortcullis('ipfilter-100k', configFile, flags);
      targets.push({ key: 'ipfilter-100k', label: LABELS['ipfilter-100k'], url: `http://127.0.0.1:${port}`, server: child });
    }
    if (flags.targets.includes('openapi')) {
      const openapi = path.join(tmp, 'openapi.json');
      await writeFile(openapi, JSON.stringify(benchOpenApi()));
      const configFile = path.join(tmp, 'openapi.yaml');
      await writeFile(configFile, portcullisConfig(upstreamPort, 'off', flags, { openapi }));
      const { child, port } = await startPortcullis('openapi', configFile, flags);
      targets.push({ key: 'openapi', label: LABELS.openapi, url: `http://127.0.0.1:${port}`, server: child });
    }
    const simple: [TargetKey, RouteExtras][] = [
      ['balance-rr', { balance: 'round-robin' }],
      ['balance-lc', { balance: 'least-connections' }],
      ['balance-ch', { balance: 'consistent-hash' }],
      ['transform', { transform: true }],
      ['metrics', { metrics: true }],
    ];
    const tracingKeys = (['tracing-0', 'tracing-0.01', 'tracing-1'] as const).filter((k) => flags.targets.includes(k));
    if (tracingKeys.length > 0) {
      const sink = await startOtlpSink();
      sinks.push(sink);
      for (const k of tracingKeys) simple.push([k, { tracing: { endpoint: sink.url, ratio: Number(k.slice('tracing-'.length)) } }]);
    }
    for (const [key, extras] of simple) {
      if (!flags.targets.includes(key)) continue;
      const configFile = path.join(tmp, `${key}.yaml`);
      await writeFile(configFile, portcullisConfig(upstreamPort, 'off', flags, extras));
      const { child, port } = await startPortcullis(key, configFile, flags);
      targets.push({ key, label: LABELS[key], url: `http://127.0.0.1:${port}`, server: child });
    }
    const jwtKeys = flags.targets.filter((k): k is keyof typeof JWT_TARGETS => k in JWT_TARGETS);
    if (jwtKeys.length > 0) {
      const algs = [...new Set(jwtKeys.map((k) => JWT_TARGETS[k].alg))];
      const { jwksFile, tokens } = await makeJwtFixtures(tmp, algs);
      const redis = jwtKeys.includes('limits-redis') ? await startRedisServer() : undefined;
      if (redis) log(`bench: redis-server     ${redis.url}  (pid ${redis.child.pid})`);
      for (const key of jwtKeys) {
        const { alg, cache } = JWT_TARGETS[key];
        const extras: RouteExtras = key === 'public-bearer' ? {} : { jwt: { alg, cache, jwksFile } };
        if (key === 'limits-memory' || key === 'limits-memory-2w') extras.limits = { store: 'memory' };
        if (key === 'limits-memory-2w') extras.workers = 2;
        if (key === 'limits-redis') extras.limits = { store: 'redis', url: (redis as { url: string }).url };
        const configFile = path.join(tmp, `${key}.yaml`);
        await writeFile(configFile, portcullisConfig(upstreamPort, 'off', flags, extras));
        const { child, port } = await startPortcullis(key, configFile, flags);
        targets.push({
          key,
          label: LABELS[key],
          url: `http://127.0.0.1:${port}`,
          server: child,
          headers: { authorization: `Bearer ${tokens.get(alg) as string}` },
          ...(key === 'limits-redis' && redis ? { aux: redis.child } : {}),
        });
      }
    }
    for (const t of targets) log(`bench: ${t.label.padEnd(LABEL_WIDTH)} ${t.url}  (pid ${t.server.pid})`);

    for (const t of targets) await sanityCheck(t);
    const statsBefore = await upstreamStats(upstreamPort);

    // --- load ---
    const perMeasurement = flags.warmup + flags.duration + 1.5;
    const count = flags.rounds * flags.methods.length * targets.length;
    log(
      `bench: ${count} measurements of ${flags.warmup}s warm-up + ${flags.duration}s, ${flags.connections} connections; ` +
        `about ${Math.ceil((count * perMeasurement) / 60)} min`,
    );
    const results: Measurement[] = [];
    const pairTargets = FEATURE_TARGETS.filter((t) => targets.some((x) => x.key === t.of) && targets.some((x) => x.key === t.to));
    if (flags.paired > 0 && pairTargets.length === 0) throw new Error('--paired: no feature target has both of its targets selected');
    for (let round = 1; flags.paired > 0 && round <= flags.paired; round++) {
      // Pair after pair, the feature target and its baseline back to back; the order within a pair
      // alternates, and each round starts one pair later.
      for (const method of flags.methods) {
        for (let i = 0; i < pairTargets.length; i++) {
          const p = pairTargets[(i + round - 1) % pairTargets.length] as (typeof pairTargets)[number];
          const keys = round % 2 === 1 ? [p.of, p.to] : [p.to, p.of];
          for (const key of keys) {
            if (interrupted) throw new Error('interrupted');
            for (const c of children) if (!alive(c)) throw new Error(`${c.name} (pid ${c.pid}) died:\n${c.tail}`);
            const t = targets.find((x) => x.key === key) as Target;
            const m = await measureUndisturbed(t, method, upstream, flags, round);
            m.pair = p.goal;
            results.push(m);
          }
          const last = results.slice(-2);
          const a = last.find((x) => x.target === p.of) as Measurement;
          const b = last.find((x) => x.target === p.to) as Measurement;
          log(
            `  pair ${round}/${flags.paired} ${method.padEnd(4)} ${LABELS[p.of].padEnd(LABEL_WIDTH)} / ${LABELS[p.to].padEnd(LABEL_WIDTH)} ` +
              `${fmt(a.rps / b.rps, 3)}  (${fmtInt(a.rps)} / ${fmtInt(b.rps)} req/s; CPU/req ${fmt(a.cpu.server?.usPerRequest ?? NaN, 1)} / ${fmt(b.cpu.server?.usPerRequest ?? NaN, 1)} µs)`,
          );
        }
      }
    }
    for (let round = 1; flags.paired === 0 && round <= flags.rounds; round++) {
      // Each round starts one target later: every target runs in every position of the round, so a
      // slot that is systematically disturbed (or favoured) does not land on the same target.
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
      for (const method of flags.methods) {
        for (const t of order) {
          if (interrupted) throw new Error('interrupted');
          for (const c of children) if (!alive(c)) throw new Error(`${c.name} (pid ${c.pid}) died:\n${c.tail}`);
          const m = await measureUndisturbed(t, method, upstream, flags, round);
          results.push(m);
          log(
            `  round ${round}/${flags.rounds} ${method.padEnd(4)} ${t.label.padEnd(LABEL_WIDTH)} ${fmtInt(m.rps).padStart(7)} req/s` +
              `  p50 ${fmt(m.latencyMs.p50)} ms  p99 ${fmt(m.latencyMs.p99)} ms` +
              (m.cpu.server ? `  server ${fmt(m.cpu.server.usPerRequest, 1)} µs/req (${fmt(m.cpu.server.cores)} cores)` : '') +
              (m.cpu.upstream ? `  upstream ${fmt(m.cpu.upstream.cores)}` : '') +
              (m.cpu.aux ? `  redis ${fmt(m.cpu.aux.usPerRequest, 1)} µs/req (${fmt(m.cpu.aux.cores)} cores)` : '') +
              `  loadgen ${fmt(m.cpu.loadgen.cores)}` +
              (m.otherCores !== null ? `  other ${fmt(m.otherCores)}` : '') +
              (m.errors + m.non2xx > 0 ? `  errors ${m.errors} non-2xx ${m.non2xx}` : ''),
          );
        }
      }
    }

    // --- checks after the load ---
    const statsAfter = await upstreamStats(upstreamPort);
    const posted = statsAfter.bodyRequests - statsBefore.bodyRequests;
    const checks: Record<string, unknown> = {
      upstreamPostRequests: posted,
      upstreamBytesPerPost: posted > 0 ? (statsAfter.bodyBytes - statsBefore.bodyBytes) / posted : null,
    };
    const logTarget = targets.find((t) => t.key === 'portcullis-log');
    await stopChildren();
    if (logTarget) {
      // + the two sanity-check requests
      const served = (completedByTarget.get('portcullis-log') ?? 0) + 2;
      const lines = await countLines(accessLogFile).catch(() => 0);
      checks.accessLogLines = lines;
      checks.accessLogBytes = (await stat(accessLogFile).catch(() => ({ size: 0 }))).size;
      checks.portcullisLogResponsesCompleted = served;
    }

    // --- report ---
    const summaries = summarise(results, targets, flags.methods);
    const comparisons = compare(results, summaries, flags.methods);
    const paired = flags.paired > 0 ? pairedVerdicts(results, flags.methods) : [];
    const report = renderReport(machine, flags, summaries, comparisons, checks, paired);
    process.stdout.write(`${report}\n`);

    if (flags.json) {
      const dir = path.join(ROOT, 'bench/results');
      await mkdir(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const file = path.join(dir, `proxy-${stamp}.json`);
      const target = targetVerdict(comparisons);
      const features = featureVerdicts(comparisons);
      await writeFile(
        file,
        `${JSON.stringify({ version: 1, date: new Date().toISOString(), machine, options: flags, summary: summaries, comparisons, target, features, paired, checks, measurements: results }, null, 2)}\n`,
      );
      log(`bench: wrote ${path.relative(process.cwd(), file)}`);
    }
    return 0;
  } finally {
    await stopChildren();
    for (const s of sinks) s.close();
    await rm(tmp, { recursive: true, force: true });
    tmpDir = undefined;
    reaper.stdin?.end();
  }
}

function targetVerdict(comparisons: Comparison[]): { goal: string; met: boolean | null; ratios: Record<string, number> } {
  const relevant = comparisons.filter((c) => c.of === 'portcullis' && c.to === 'minimal');
  const ratios = Object.fromEntries(relevant.map((c) => [c.method, Math.round(c.throughputRatio * 1000) / 1000]));
  return {
    goal: 'Portcullis (access log off) throughput >= 0.90 x minimal proxy, for every method',
    met: relevant.length === 0 ? null : relevant.every((c) => c.throughputRatio >= 0.9),
    ratios,
  };
}

function renderReport(machine: Machine, flags: Flags, summaries: Summary[], comparisons: Comparison[], checks: Record<string, unknown>, paired: PairedVerdict[]): string {
  const out: string[] = [];
  out.push('');
  out.push(`Portcullis proxy benchmark — ${new Date().toISOString()}`);
  out.push(
    `machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores (available parallelism ${machine.availableParallelism}), ` +
      `${machine.memoryGiB} GiB, ${machine.os}`,
  );
  out.push(`software: Node ${machine.node}, autocannon ${machine.autocannon}, undici ${machine.undici}, Portcullis ${machine.portcullis} (${machine.commit})`);
  out.push(
    `load: ${flags.connections} connections, ${flags.warmup}s warm-up + ${flags.duration}s measured, ${flags.rounds} interleaved round(s); ` +
      `GET, and POST with a ${POST_BODY.length}-byte JSON body; upstream answers ${UPSTREAM_BODY.length} bytes`,
  );
  if (flags.pin) {
    out.push('pinned: the proxy under test alone on CPU 1; load generator, upstream and redis-server on CPU 0');
  } else if (machine.logicalCores <= 4) {
    out.push(`note: load generator, proxy and upstream share ${machine.logicalCores} cores; compare ratios, not absolute numbers`);
  }
  out.push('');
  out.push('Median over rounds. Latency: autocannon response time (10 µs buckets). Server CPU: user+sys of the serving process');
  out.push('(the upstream for "direct"), per request and in cores. Other cores: the most CPU that processes outside the bench');
  out.push('took during a kept measurement (should be ~0).');
  out.push(
    table(
      ['method', 'target', 'req/s', 'min..max req/s', 'p50 ms', 'p99 ms', 'server µs/req', 'server cores', 'redis µs/req', 'other cores', 'errors'],
      summaries.map((s) => [
        s.method,
        s.label,
        fmtInt(s.rps),
        `${fmtInt(s.rpsMin)}..${fmtInt(s.rpsMax)}`,
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.serverUsPerRequest, 1),
        fmt(s.serverCores),
        Number.isNaN(s.auxUsPerRequest) ? '-' : fmt(s.auxUsPerRequest, 1),
        `≤${fmt(s.otherCoresMax)}`,
        String(s.errors + s.non2xx),
      ]),
      [false, false, true, true, true, true, true, true, true, true, true],
    ),
  );
  out.push('');
  out.push('Ratios (of the median throughputs; of the throughputs within each round; latency deltas of the medians; of server CPU per request)');
  out.push(
    table(
      ['method', 'comparison', 'throughput', 'per-round median [min..max]', 'Δp50 ms', 'Δp99 ms', 'CPU/req'],
      comparisons.map((c) => [
        c.method,
        c.name,
        fmt(c.throughputRatio, 3),
        `${fmt(c.perRoundRatioMedian, 3)} [${fmt(c.perRoundRatioMin, 3)}..${fmt(c.perRoundRatioMax, 3)}]`,
        signed(c.p50DeltaMs),
        signed(c.p99DeltaMs),
        fmt(c.cpuPerRequestRatio, 2),
      ]),
      [false, false, true, true, true, true, true],
    ),
  );
  const verdict = targetVerdict(comparisons);
  if (verdict.met !== null) {
    const parts = Object.entries(verdict.ratios).map(([m, r]) => `${m} ${r.toFixed(3)}`);
    out.push('');
    out.push(`release target: Portcullis >= 0.90 x minimal proxy throughput: ${verdict.met ? 'MET' : 'NOT MET'} (${parts.join(', ')})`);
  }
  const features = featureVerdicts(comparisons);
  if (features.length > 0) {
    out.push('');
    out.push('feature cost targets (throughput cost = 1 - ratio of the median throughputs; CPU/req = ratio of server CPU per request)');
    for (const f of features) {
      out.push(
        `  ${f.method.padEnd(4)} ${f.goal}: ${f.met ? 'MET' : 'NOT MET'} (ratio ${fmt(f.ratio, 3)}, cost ${fmt(f.cost * 100, 1)}%, CPU/req ${fmt(f.cpuPerRequestRatio, 2)})`,
      );
    }
  }
  if (paired.length > 0) {
    out.push('');
    out.push(`paired feature cost targets (${flags.paired} back-to-back pairs per method; median of the per-pair ratios [95% bootstrap CI];`);
    out.push('met = the whole interval at or above the target, not met = wholly below, inconclusive = it straddles the target)');
    out.push(
      table(
        ['method', 'goal', 'pairs', 'throughput ratio [95% CI]', 'CPU-bound ratio [95% CI]', 'target', 'verdict'],
        paired.map((p) => [
          p.method,
          p.goal,
          String(p.pairs),
          `${fmt(p.throughput.median, 3)} [${fmt(p.throughput.lo, 3)}..${fmt(p.throughput.hi, 3)}]`,
          `${fmt(p.cpu.median, 3)} [${fmt(p.cpu.lo, 3)}..${fmt(p.cpu.hi, 3)}]`,
          `>= ${fmt(p.min, 2)}`,
          p.verdict.toUpperCase(),
        ]),
        [false, false, true, true, true, true, false],
      ),
    );
  }
  out.push('');
  out.push(`checks: ${JSON.stringify(checks)}`);
  return out.join('\n');
}

// Exit explicitly: idle keep-alive sockets of the sanity-check client would otherwise linger.
main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    await stopChildren();
    process.exit(interrupted ? 130 : 1);
  },
);
