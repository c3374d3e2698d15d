/**
 * The peer benchmark (`npm run bench`): Portcullis against nginx, HAProxy, the thinnest Node proxy
 * and fastify, the way issue "Performance: the full security pipeline as fast as HAProxy's" sets it
 * up — wrk (Debian) as the load generator and nginx as the backend, both on CPU 0; the proxy under
 * test alone on CPU 1 (taskset); HTTP/1.1 on loopback, 64 connections, GET of a 47-byte JSON and
 * POST of a 1 KiB JSON, every request carrying an RS256 bearer token.
 *
 * Three phases, each in interleaved rounds (every round starts one peer later):
 *  1. saturation: wrk for --duration seconds per peer and method → req/s, wrk's p50/p99, the peer's
 *     CPU µs per request (/proc);
 *  2. paced: an open-loop client in this process at --rate req/s → p50/p99, and the added latency
 *     over the direct request to the backend;
 *  3. --soak S: Portcullis' full pipeline under saturation for S seconds → RSS every 5 s (and its
 *     trend), event-loop delay p99 from its own /metrics.
 *
 * Needs nginx, haproxy and wrk (`apt-get install -y nginx-light haproxy wrk`; with --install and
 * root, the bench runs that itself). Every server binds to 127.0.0.1 on a port the OS picks; every
 * child is stopped by its PID at the end, on error and on Ctrl-C, and bench/reaper.ts kills them if
 * this process dies.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_PATH, POST_BODY, READY_RE, UPSTREAM_BODY } from './common.ts';
import { cpuMs, freePort, rssMb } from './procfs.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ISSUER = 'https://bench.portcullis.test/';
const AUDIENCE = 'bench-api';

const PEERS = [
  'direct',
  'node-self',
  'nginx',
  'haproxy',
  'haproxy-sec',
  'minimal',
  'fastify',
  'raw',
  'portcullis',
  'portcullis-undici',
  'portcullis-full',
  'portcullis-1w-free',
  'portcullis-2w-free',
] as const;
type Peer = (typeof PEERS)[number];
const DEFAULT_PEERS: Peer[] = ['direct', 'node-self', 'nginx', 'haproxy', 'haproxy-sec', 'minimal', 'fastify', 'portcullis', 'portcullis-full'];
const LABELS: Record<Peer, string> = {
  direct: 'backend direct (nginx)',
  'node-self': 'node:http answering itself',
  nginx: 'nginx, plain proxy',
  haproxy: 'HAProxy, plain proxy',
  'haproxy-sec': 'HAProxy + JWT + 2 limits + body limit',
  minimal: 'node:http + undici Pool',
  fastify: 'fastify + @fastify/http-proxy',
  raw: 'node:http + raw socket client (ref.)',
  portcullis: 'Portcullis, auth: public',
  'portcullis-undici': 'Portcullis, public, client: undici',
  'portcullis-full': 'Portcullis, full pipeline',
  'portcullis-1w-free': 'Portcullis, 1 process, unpinned',
  'portcullis-2w-free': 'Portcullis, workers: 2, unpinned',
};
/** Peers that are not pinned to CPU 1 (they compare one process with two on both cores). */
const UNPINNED: ReadonlySet<Peer> = new Set(['portcullis-1w-free', 'portcullis-2w-free']);
const METHODS = ['GET', 'POST'] as const;
/** What bin/portcullis.js (`portcullis start`) runs Node with; --young-default drops it. */
let PORTCULLIS_NODE_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=50'];
type Method = (typeof METHODS)[number];

interface Flags {
  duration: number;
  warmup: number;
  rounds: number;
  connections: number;
  peers: Peer[];
  methods: Method[];
  rate: number;
  pacedSeconds: number;
  soak: number;
  pin: boolean;
  install: boolean;
  json: boolean;
}

const HELP = `npm run bench -- [options]     (or: node bench/suite.ts [options])

  --duration S        measured seconds per wrk run (default 8)
  --warmup S          wrk warm-up before each measured run (default 2)
  --rounds N          interleaved rounds (default 3); medians over rounds are reported
  --connections N     wrk connections (default 64)
  --peers LIST        subset of: ${PEERS.join(', ')}
                      (default: ${DEFAULT_PEERS.join(', ')})
  --methods LIST      GET,POST (default both)
  --rate R            paced phase: requests per second (default 2000; 0 skips the phase)
  --paced-seconds S   paced phase: measured seconds per peer and method (default 8)
  --soak S            soak phase: S seconds of saturation on the full pipeline (default 0: off)
  --no-pin            do not pin (default: pin when taskset exists and there are >= 2 CPUs)
  --install           apt-get install nginx-light haproxy wrk if missing (needs root)
  --json              also write bench/results/suite-<timestamp>.json
  --young-default     run Portcullis with V8's default heap sizing instead of the
                      --max-semi-space-size=16 --heap-growing-percent=50 of \`portcullis start\`
  --node-flags "F ..."  run Portcullis with these Node flags instead
`;

function parseFlags(argv: string[]): Flags {
  const f: Flags = {
    duration: 8,
    warmup: 2,
    rounds: 3,
    connections: 64,
    peers: DEFAULT_PEERS,
    methods: [...METHODS],
    rate: 2000,
    pacedSeconds: 8,
    soak: 0,
    pin: true,
    install: false,
    json: false,
  };
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new Error(`${name} needs a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    switch (a) {
      case '--duration': f.duration = num(a, argv[++i], 1); break;
      case '--warmup': f.warmup = num(a, argv[++i], 0); break;
      case '--rounds': f.rounds = num(a, argv[++i], 1); break;
      case '--connections': f.connections = num(a, argv[++i], 1); break;
      case '--rate': f.rate = num(a, argv[++i], 0); break;
      case '--paced-seconds': f.pacedSeconds = num(a, argv[++i], 1); break;
      case '--soak': f.soak = num(a, argv[++i], 0); break;
      case '--no-pin': f.pin = false; break;
      case '--install': f.install = true; break;
      case '--json': f.json = true; break;
      case '--young-default': PORTCULLIS_NODE_FLAGS = []; break;
      case '--node-flags': PORTCULLIS_NODE_FLAGS = (argv[++i] ?? '').split(/\s+/).filter(Boolean); break;
      case '--peers': {
        const list = (argv[++i] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
        for (const p of list) if (!(PEERS as readonly string[]).includes(p)) throw new Error(`unknown peer ${p}`);
        f.peers = list as Peer[];
        break;
      }
      case '--methods': {
        const list = (argv[++i] ?? '').split(',').map((s) => s.trim().toUpperCase());
        for (const m of list) if (m !== 'GET' && m !== 'POST') throw new Error(`unknown method ${m}`);
        f.methods = list as Method[];
        break;
      }
      case '--help': case '-h':
        process.stdout.write(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (!f.peers.includes('direct') && f.rate > 0) f.peers = ['direct', ...f.peers];
  return f;
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  tail: string;
}
const children: Child[] = [];
const reaper = spawn(process.execPath, [path.join(ROOT, 'bench/reaper.ts')], { cwd: ROOT, stdio: ['pipe', 'ignore', 'inherit'] });
reaper.stdin?.on('error', () => {});
reaper.unref();

let pinning = false;

function alive(c: Child): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null;
}

/** cpu: '0', '1' or undefined (both). */
function startChild(name: string, command: string, args: string[], cpu: string | undefined, env: NodeJS.ProcessEnv = {}): Child {
  const [file, argv] = pinning && cpu !== undefined ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
  const proc = spawn(file, argv, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production', ...env } });
  if (proc.pid === undefined) throw new Error(`could not start ${name}`);
  const child: Child = { name, proc, pid: proc.pid, tail: '' };
  const keep = (chunk: Buffer): void => {
    child.tail = (child.tail + chunk.toString('utf8')).slice(-4096);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.stdin?.on('error', () => {});
  proc.on('error', (err) => {
    child.tail += `\n[spawn error] ${err.message}`;
  });
  reaper.stdin?.write(`+${proc.pid}\n`);
  proc.once('exit', () => reaper.stdin?.write(`-${child.pid}\n`));
  children.push(child);
  return child;
}

async function stopChildren(): Promise<void> {
  for (const c of children) if (alive(c)) c.proc.kill('SIGTERM');
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && children.some(alive)) await sleep(50);
  for (const c of children) if (alive(c)) c.proc.kill('SIGKILL');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until something accepts TCP connections on the port (or the child exits). */
async function waitListening(child: Child, port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`${child.name} exited:\n${child.tail}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${child.name} did not listen on ${port} within ${timeoutMs} ms:\n${child.tail}`);
}

function waitForLine(child: Child, re: RegExp, timeoutMs = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString('utf8')).slice(-8192);
      const m = re.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.proc.stdout?.off('data', onData);
        child.proc.stderr?.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    const timer = setTimeout(() => reject(new Error(`${child.name} did not start within ${timeoutMs} ms:\n${child.tail}`)), timeoutMs);
    child.proc.stdout?.on('data', onData);
    child.proc.stderr?.on('data', onData);
    child.proc.once('exit', () => reject(new Error(`${child.name} exited:\n${child.tail}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// Configs
// ---------------------------------------------------------------------------------------------

function nginxCommon(dir: string, name: string): string {
  const user = process.getuid?.() === 0 ? 'user root root;\n' : '';
  return `${user}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.error.log warn;
events { worker_connections 8192; }
`;
}

function nginxTemps(dir: string, name: string): string {
  const t = path.join(dir, `${name}-tmp`);
  mkdirSync(t, { recursive: true });
  return `  client_body_temp_path ${t}/body;
  proxy_temp_path ${t}/proxy;
  fastcgi_temp_path ${t}/fastcgi;
  uwsgi_temp_path ${t}/uwsgi;
  scgi_temp_path ${t}/scgi;
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
`;
}

function nginxBackendConf(dir: string, port: number): string {
  return `${nginxCommon(dir, 'backend')}http {
${nginxTemps(dir, 'backend')}  server {
    listen 127.0.0.1:${port};
    location / {
      default_type application/json;
      return 200 '${UPSTREAM_BODY.toString('latin1')}';
    }
  }
}
`;
}

function nginxProxyConf(dir: string, port: number, backend: number): string {
  return `${nginxCommon(dir, 'nginx-proxy')}http {
${nginxTemps(dir, 'nginx-proxy')}  upstream backend {
    server 127.0.0.1:${backend};
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function haproxyConf(port: number, backend: number, security: { pem: string } | null): string {
  const sec = security
    ? `  # JWT RS256: header alg pinned, signature, iss, aud, exp
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.jwt_alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request deny deny_status 401 unless { var(txn.jwt_alg) -m str RS256 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.jwt_alg,"${security.pem}") -m int 1 }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.iss') -m str "${ISSUER}" }
  http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('$.aud') -m str "${AUDIENCE}" }
  http-request set-var(txn.now) date()
  http-request set-var(txn.ttl) var(txn.bearer),jwt_payload_query('$.exp','int'),sub(txn.now)
  http-request deny deny_status 401 unless { var(txn.ttl) -m int gt 0 }
  # two rate limits that never trigger: per client IP and per token subject
  http-request track-sc0 src table st_ip
  http-request set-var(txn.sub) var(txn.bearer),jwt_payload_query('$.sub')
  http-request track-sc1 var(txn.sub) table st_sub
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 1000000000 }
  http-request deny deny_status 429 if { sc_http_req_rate(1) gt 1000000000 }
  # 8 KiB body limit
  option http-buffer-request
  http-request deny deny_status 413 if { req.hdr_val(content-length) gt 8192 }
  http-request deny deny_status 413 if { req.body_size gt 8192 }
`
    : '';
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 120s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:${port}
${sec}  default_backend be
backend be
  server s1 127.0.0.1:${backend} maxconn 128
${security ? `backend st_ip
  stick-table type ip size 100k expire 30s store http_req_rate(1s)
backend st_sub
  stick-table type string len 64 size 100k expire 30s store http_req_rate(1s)
` : ''}`;
}

interface PortcullisOptions {
  full: boolean;
  /** upstreams.backend.client: undici (the built-in HTTP/1.1 client otherwise). */
  undici?: boolean;
  workers?: number;
  admin?: boolean;
}

function portcullisConf(dir: string, backend: number, jwksFile: string, o: PortcullisOptions): string {
  const full = o.full;
  return `# Generated by bench/suite.ts
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  limits: { maxConnections: 20000, maxConnectionsPerIp: 1024 }
  shutdownTimeout: 5s
${o.workers ? `  workers: ${o.workers}\n` : ''}${o.admin ? '  admin: { host: 127.0.0.1, port: 0, token: "${PORTCULLIS_ADMIN_TOKEN}" }\n' : ''}logging:
  accessLog: ${full ? JSON.stringify(path.join(dir, `access-${process.hrtime.bigint()}.log`)) : 'off'}
${o.admin ? 'metrics: { prometheus: true }\n' : ''}${full ? `authenticators:
  bench-jwt:
    type: jwt
    issuer: ${JSON.stringify(ISSUER)}
    audience: ${JSON.stringify(AUDIENCE)}
    keys: ${JSON.stringify(jwksFile)}
    algorithms: [RS256]
defaults:
  threats: { mode: block, paranoia: 1 }
` : ''}upstreams:
  backend:
    targets: [${JSON.stringify(`http://127.0.0.1:${backend}`)}]
    maxConnections: 128
${o.undici ? '    client: undici\n' : ''}
routes:
  - name: bench
    match: { path: /api/*, methods: [GET, POST] }
    auth: ${full ? 'bench-jwt' : 'public'}
${full ? `    rateLimit:
      - { by: ip, limit: 1000000000, per: 1s }
      - { by: consumer, limit: 1000000000, per: 1s }
    validate: { maxBodyBytes: 8kb }
` : ''}    upstream: backend
`;
}

// ---------------------------------------------------------------------------------------------
// Load: wrk (saturation) and an open-loop paced client (latency)
// ---------------------------------------------------------------------------------------------

interface WrkResult {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  non2xx: number;
  socketErrors: number;
  cpuUsPerReq: number;
  /** Resident set of the peer (and its worker processes) right after the run, MB. */
  rssMb: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

function runWrk(url: string, method: Method, seconds: number, flags: Flags, token: string, scriptDir: string): Promise<string> {
  const script = path.join(scriptDir, method === 'POST' ? 'post.lua' : 'get.lua');
  const args = ['-t1', `-c${flags.connections}`, `-d${seconds}s`, '--latency', '--timeout', '5s', '-s', script, '-H', `Authorization: Bearer ${token}`, url];
  const [file, argv] = pinning ? ['taskset', ['-c', '0', 'wrk', ...args]] : ['wrk', args];
  return new Promise((resolve, reject) => {
    const p = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (p.pid !== undefined) reaper.stdin?.write(`+${p.pid}\n`);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      if (p.pid !== undefined) reaper.stdin?.write(`-${p.pid}\n`);
      if (code === 0) resolve(out);
      else reject(new Error(`wrk exited ${code}:\n${out}`));
    });
  });
}

function parseWrk(out: string): Omit<WrkResult, 'cpuUsPerReq' | 'rssMb'> {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1] as string, m[2] as string) : Number.NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = se ? Number(se[1]) + Number(se[2]) + Number(se[3]) + Number(se[4]) : 0;
  return { rps, requests, p50: pct('50'), p99: pct('99'), non2xx, socketErrors };
}

interface PacedResult {
  sent: number;
  completed: number;
  errors: number;
  p50: number;
  p99: number;
}

/**
 * Open loop at `rate` req/s over fresh keep-alive connections (as many as are busy at once, at most
 * 64): a request is sent at its scheduled time on a free connection; latency is from the write to
 * the last byte of the answer (every peer answers with Content-Length), measured after a 1 s warm-up.
 */
async function paced(port: number, method: Method, token: string, rate: number, seconds: number): Promise<PacedResult> {
  const head =
    method === 'POST'
      ? `POST ${BENCH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${POST_BODY.length}\r\n\r\n`
      : `GET ${BENCH_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n\r\n`;
  const request = method === 'POST' ? Buffer.concat([Buffer.from(head, 'latin1'), POST_BODY]) : Buffer.from(head, 'latin1');
  interface Conn {
    socket: net.Socket;
    busy: boolean;
    sentAt: number;
    buf: Buffer;
    measured: boolean;
  }
  const free: Conn[] = [];
  const all: Conn[] = [];
  const latencies: number[] = [];
  let completed = 0;
  let errors = 0;
  let sent = 0;
  const onResponse = (c: Conn, ok: boolean): void => {
    if (c.measured) {
      if (ok) latencies.push(performance.now() - c.sentAt);
      else errors++;
      completed++;
    }
    c.busy = false;
    free.push(c);
  };
  const open = (): Promise<Conn> =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      const c: Conn = { socket, busy: false, sentAt: 0, buf: Buffer.alloc(0), measured: false };
      socket.on('data', (d: Buffer) => {
        c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d]);
        for (;;) {
          const end = c.buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          const headText = c.buf.subarray(0, end).toString('latin1');
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(headText);
          const length = m ? Number(m[1]) : 0;
          if (c.buf.length < end + 4 + length) return;
          const ok = headText.startsWith('HTTP/1.1 200');
          c.buf = c.buf.subarray(end + 4 + length);
          onResponse(c, ok);
        }
      });
      socket.once('connect', () => resolve(c));
      socket.once('error', (err) => {
        if (c.busy) {
          errors++;
          c.busy = false;
        }
        reject(err);
      });
      all.push(c);
    });
  for (let i = 0; i < 8; i++) free.push(await open());
  const t0 = performance.now();
  const warmEnd = t0 + 1000;
  const end = warmEnd + seconds * 1000;
  let due = 0;
  let opening = 0;
  while (performance.now() < end) {
    const now = performance.now();
    const target = Math.floor(((now - t0) * rate) / 1000);
    while (due < target) {
      const c = free.pop();
      if (!c) {
        if (all.length + opening < 64) {
          opening++;
          void open().then(
            (n) => {
              opening--;
              free.push(n);
            },
            () => {
              opening--;
            },
          );
        }
        break;
      }
      c.busy = true;
      c.measured = now >= warmEnd;
      c.sentAt = now;
      c.socket.write(request);
      due++;
      if (c.measured) sent++;
    }
    await new Promise((r) => setImmediate(r));
    if (due < target - rate) due = target - rate; // more than a second behind: skip, do not burst
  }
  const drainUntil = performance.now() + 2000;
  while (all.some((c) => c.busy) && performance.now() < drainUntil) await sleep(5);
  for (const c of all) c.socket.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => (latencies.length ? (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number) : Number.NaN);
  return { sent, completed, errors, p50: q(0.5), p99: q(0.99) };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

interface Running {
  peer: Peer;
  child: Child | null; // null: direct (the backend itself)
  port: number;
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function median(xs: number[]): number {
  const v = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

const fmtInt = (n: number): string => (Number.isNaN(n) ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const fmt = (n: number, d = 2): string => (Number.isNaN(n) ? 'n/a' : n.toFixed(d));

function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i] as number) : c.padStart(w[i] as number))).join(' | ')} |`;
  return [line(header), `|${w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : `${'-'.repeat(x + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const missing = ['nginx', 'haproxy', 'wrk'].filter((c) => !which(c));
  if (missing.length && flags.install && process.getuid?.() === 0) {
    process.stderr.write(`installing ${missing.join(', ')} with apt-get …\n`);
    const pkgs = missing.map((m) => (m === 'nginx' ? 'nginx-light' : m));
    const r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error('apt-get install failed');
    spawnSync('sh', ['-c', 'service nginx stop; service haproxy stop'], { stdio: 'ignore' });
  } else if (missing.length) {
    process.stderr.write(`missing: ${missing.join(', ')}. Install them (Debian: apt-get install -y nginx-light haproxy wrk) or run with --install as root.\n`);
    return 2;
  }
  pinning = flags.pin && os.availableParallelism() >= 2 && which('taskset');
  if (pinning) execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'portcullis-bench-'));
  reaper.stdin?.write(`dir ${dir}\n`);
  const cleanup = async (): Promise<void> => {
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });

  try {
    // Keys and a long-lived RS256 token (JWKS for Portcullis, SPKI PEM for HAProxy).
    const { exportJWK, exportSPKI, generateKeyPair, SignJWT } = await import('jose');
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const jwksFile = path.join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench-rs256', alg: 'RS256', use: 'sig' }] }));
    const pem = path.join(dir, 'rs256.pub.pem');
    writeFileSync(pem, await exportSPKI(publicKey));
    const token = await new SignJWT({ scope: 'items:read items:write' })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench-rs256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('1d')
      .sign(privateKey);
    writeFileSync(path.join(dir, 'get.lua'), 'wrk.method = "GET"\n');
    writeFileSync(
      path.join(dir, 'post.lua'),
      `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ${JSON.stringify(POST_BODY.toString('latin1'))}\n`,
    );

    // The backend: nginx, one worker, on CPU 0 with wrk.
    const backendPort = await freePort();
    writeFileSync(path.join(dir, 'backend.conf'), nginxBackendConf(dir, backendPort));
    const backend = startChild('backend', 'nginx', ['-p', dir, '-c', path.join(dir, 'backend.conf')], '0');
    await waitListening(backend, backendPort);
    const origin = `http://127.0.0.1:${backendPort}`;

    const running: Running[] = [];
    for (const peer of flags.peers) {
      const cpu = UNPINNED.has(peer) ? undefined : '1';
      if (peer === 'direct') {
        running.push({ peer, child: null, port: backendPort });
      } else if (peer === 'node-self') {
        const c = startChild(peer, process.execPath, [path.join(ROOT, 'bench/upstream.ts'), '0'], cpu);
        running.push({ peer, child: c, port: await waitForLine(c, READY_RE) });
      } else if (peer === 'minimal' || peer === 'fastify' || peer === 'raw') {
        const script = { minimal: 'minimal-proxy', fastify: 'fastify-proxy', raw: 'raw-proxy' }[peer];
        const c = startChild(peer, process.execPath, [path.join(ROOT, `bench/${script}.ts`), origin, '0', '128'], cpu);
        running.push({ peer, child: c, port: await waitForLine(c, READY_RE) });
      } else if (peer === 'nginx') {
        const port = await freePort();
        writeFileSync(path.join(dir, 'nginx-proxy.conf'), nginxProxyConf(dir, port, backendPort));
        const c = startChild(peer, 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx-proxy.conf')], cpu);
        await waitListening(c, port);
        running.push({ peer, child: c, port });
      } else if (peer === 'haproxy' || peer === 'haproxy-sec') {
        const port = await freePort();
        const file = path.join(dir, `${peer}.cfg`);
        writeFileSync(file, haproxyConf(port, backendPort, peer === 'haproxy-sec' ? { pem } : null));
        const check = spawnSync('haproxy', ['-c', '-q', '-f', file], { encoding: 'utf8' });
        if (check.status !== 0) throw new Error(`haproxy config check failed:\n${check.stdout}${check.stderr}`);
        const c = startChild(peer, 'haproxy', ['-db', '-f', file], cpu);
        await waitListening(c, port);
        running.push({ peer, child: c, port });
      } else {
        const workers = peer === 'portcullis-2w-free' ? 2 : undefined;
        const file = path.join(dir, `${peer}.yaml`);
        writeFileSync(file, portcullisConf(dir, backendPort, jwksFile, { full: peer === 'portcullis-full', undici: peer === 'portcullis-undici', ...(workers ? { workers } : {}) }));
        const c = startChild(peer, process.execPath, [...PORTCULLIS_NODE_FLAGS, path.join(ROOT, 'src/cli/main.ts'), 'start', '--config', file], cpu);
        running.push({ peer, child: c, port: await waitForLine(c, /listening on http:\/\/127\.0\.0\.1:(\d+)/) });
      }
    }

    // Sanity: every peer answers GET and POST with 200 and the backend's exact body; a forged
    // token is refused by the two security pipelines.
    for (const r of running) {
      for (const method of flags.methods) {
        const res = await fetch(`http://127.0.0.1:${r.port}${BENCH_PATH}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
          ...(method === 'POST' ? { body: POST_BODY } : {}),
        });
        const body = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || !body.equals(UPSTREAM_BODY)) throw new Error(`${r.peer} ${method}: ${res.status} ${body.toString('utf8').slice(0, 200)}`);
      }
      if (r.peer === 'haproxy-sec' || r.peer === 'portcullis-full') {
        const forged = `${token.slice(0, -6)}AAAAAA`;
        const res = await fetch(`http://127.0.0.1:${r.port}${BENCH_PATH}`, { headers: { authorization: `Bearer ${forged}` } });
        await res.arrayBuffer();
        if (res.status !== 401) throw new Error(`${r.peer}: a forged token got ${res.status}, expected 401`);
        const big = await fetch(`http://127.0.0.1:${r.port}${BENCH_PATH}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ note: 'x'.repeat(9000) }),
        });
        await big.arrayBuffer();
        if (big.status !== 413) throw new Error(`${r.peer}: a 9 KB body got ${big.status}, expected 413`);
      }
    }
    process.stderr.write(`peers ready: ${running.map((r) => r.peer).join(', ')} (pinned: ${pinning})\n`);

    // Phase 1: saturation.
    const sat = new Map<string, WrkResult[]>();
    const key = (p: Peer, m: Method): string => `${p} ${m}`;
    for (let round = 0; round < flags.rounds; round++) {
      const order = running.map((_, i) => running[(i + round) % running.length] as Running);
      for (const r of order) {
        for (const method of flags.methods) {
          const url = `http://127.0.0.1:${r.port}${BENCH_PATH}`;
          if (flags.warmup > 0) await runWrk(url, method, flags.warmup, flags, token, dir);
          const pid = r.child?.pid ?? backend.pid;
          const c0 = (cpuMs(pid) ?? Number.NaN);
          const out = await runWrk(url, method, flags.duration, flags, token, dir);
          const c1 = (cpuMs(pid) ?? Number.NaN);
          const w = parseWrk(out);
          const res: WrkResult = { ...w, cpuUsPerReq: ((c1 - c0) * 1000) / w.requests, rssMb: (rssMb(pid) ?? Number.NaN) };
          const list = sat.get(key(r.peer, method)) ?? [];
          list.push(res);
          sat.set(key(r.peer, method), list);
          process.stderr.write(
            `round ${round + 1} ${method.padEnd(4)} ${LABELS[r.peer].padEnd(40)} ${fmtInt(res.rps).padStart(7)} req/s  p50 ${fmt(res.p50)} ms  p99 ${fmt(res.p99)} ms  CPU ${fmt(res.cpuUsPerReq, 1)} µs/req  RSS ${fmt(res.rssMb, 0)} MB${res.non2xx || res.socketErrors ? `  non-2xx ${res.non2xx} socket errors ${res.socketErrors}` : ''}\n`,
          );
        }
      }
    }

    // Phase 2: paced latency.
    const pacedResults = new Map<string, PacedResult[]>();
    if (flags.rate > 0) {
      for (let round = 0; round < flags.rounds; round++) {
        const order = running.map((_, i) => running[(i + round) % running.length] as Running);
        for (const r of order) {
          for (const method of flags.methods) {
            const res = await paced(r.port, method, token, flags.rate, flags.pacedSeconds);
            const list = pacedResults.get(key(r.peer, method)) ?? [];
            list.push(res);
            pacedResults.set(key(r.peer, method), list);
            process.stderr.write(
              `paced ${round + 1} ${method.padEnd(4)} ${LABELS[r.peer].padEnd(40)} ${fmtInt(res.completed / flags.pacedSeconds).padStart(6)} req/s  p50 ${fmt(res.p50 * 1000, 0)} µs  p99 ${fmt(res.p99 * 1000, 0)} µs${res.errors ? `  errors ${res.errors}` : ''}\n`,
            );
          }
        }
      }
    }

    // Phase 3: soak.
    let soak: { seconds: number; samples: { t: number; rssMb: number; loopP99Ms: number }[]; rps: number } | null = null;
    if (flags.soak > 0) {
      const file = path.join(dir, 'soak.yaml');
      writeFileSync(file, portcullisConf(dir, backendPort, jwksFile, { full: true, admin: true }));
      const env = { PORTCULLIS_ADMIN_TOKEN: 'bench-admin-token-0123456789abcdef' };
      const c = startChild('portcullis-soak', process.execPath, [...PORTCULLIS_NODE_FLAGS, path.join(ROOT, 'src/cli/main.ts'), 'start', '--config', file], '1', env);
      let adminPort = 0;
      const adminSeen = waitForLine(c, /admin API on http:\/\/127\.0\.0\.1:(\d+)/).then((p) => (adminPort = p));
      const port = await waitForLine(c, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
      await adminSeen;
      const samples: { t: number; rssMb: number; loopP99Ms: number }[] = [];
      const t0 = Date.now();
      const load = runWrk(`http://127.0.0.1:${port}${BENCH_PATH}`, 'POST', flags.soak, flags, token, dir);
      while (Date.now() - t0 < flags.soak * 1000) {
        await sleep(5000);
        let loopP99Ms = Number.NaN;
        try {
          const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${env.PORTCULLIS_ADMIN_TOKEN}` } });
          const text = await res.text();
          const m = /portcullis_event_loop_delay_seconds\{quantile="0\.99"\} ([\d.e+-]+)/.exec(text);
          if (m) loopP99Ms = Number(m[1]) * 1000;
        } catch {
          // reported as n/a
        }
        samples.push({ t: (Date.now() - t0) / 1000, rssMb: (rssMb(c.pid) ?? Number.NaN), loopP99Ms });
      }
      const w = parseWrk(await load);
      soak = { seconds: flags.soak, samples, rps: w.rps };
      c.proc.kill('SIGTERM');
    }

    // Report.
    const lines: string[] = [];
    lines.push(`Machine: ${os.cpus()[0]?.model.trim()} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`);
    lines.push(`Pinned: ${pinning ? 'wrk, the backend (nginx) and this process on CPU 0; the proxy on CPU 1' : 'no'}. wrk -t1 -c${flags.connections}, ${flags.rounds} rounds × ${flags.duration} s (after ${flags.warmup} s warm-up); paced ${flags.rate} req/s × ${flags.pacedSeconds} s.`);
    lines.push('');
    const rows: string[][] = [];
    const satMedian = (p: Peer, m: Method, f: (w: WrkResult) => number): number => median((sat.get(key(p, m)) ?? []).map(f));
    const pacedMedian = (p: Peer, m: Method, f: (w: PacedResult) => number): number => median((pacedResults.get(key(p, m)) ?? []).map(f));
    for (const r of running) {
      const row = [LABELS[r.peer]];
      for (const m of flags.methods) {
        const list = sat.get(key(r.peer, m)) ?? [];
        row.push(fmtInt(satMedian(r.peer, m, (w) => w.rps)), `${fmtInt(Math.min(...list.map((w) => w.rps)))}..${fmtInt(Math.max(...list.map((w) => w.rps)))}`, fmt(satMedian(r.peer, m, (w) => w.cpuUsPerReq), 1));
      }
      row.push(fmt(Math.max(...flags.methods.flatMap((m) => (sat.get(key(r.peer, m)) ?? []).map((w) => w.rssMb))), 0));
      for (const m of flags.methods) {
        if (flags.rate > 0 && r.peer !== 'direct') {
          const add50 = (pacedMedian(r.peer, m, (x) => x.p50) - pacedMedian('direct', m, (x) => x.p50)) * 1000;
          const add99 = (pacedMedian(r.peer, m, (x) => x.p99) - pacedMedian('direct', m, (x) => x.p99)) * 1000;
          row.push(`+${fmt(add50, 0)} µs / +${fmt(add99 / 1000, 2)} ms`);
        } else row.push(flags.rate > 0 ? `${fmt(pacedMedian(r.peer, m, (x) => x.p50) * 1000, 0)} µs / ${fmt(pacedMedian(r.peer, m, (x) => x.p99), 2)} ms` : '');
      }
      rows.push(row);
    }
    const header = ['peer'];
    for (const m of flags.methods) header.push(`${m} req/s`, `${m} min..max`, `${m} CPU µs/req`);
    header.push('max RSS MB');
    for (const m of flags.methods) header.push(`${m} added p50 / p99 at ${flags.rate}/s`);
    lines.push(table(header, rows));
    lines.push('');
    const ratio = (a: Peer, b: Peer, m: Method): number => satMedian(a, m, (w) => w.rps) / satMedian(b, m, (w) => w.rps);
    const perRound = (a: Peer, b: Peer, m: Method): number => {
      const x = sat.get(key(a, m)) ?? [];
      const y = sat.get(key(b, m)) ?? [];
      return median(x.map((w, i) => w.rps / (y[i]?.rps ?? Number.NaN)));
    };
    const verdicts: { goal: string; values: string; met: boolean }[] = [];
    const have = (p: Peer): boolean => running.some((r) => r.peer === p);
    for (const [a, b, goal, min] of [
      ['portcullis', 'minimal', '1. plain proxying >= 1.5× node:http + undici Pool', 1.5],
      ['portcullis', 'portcullis-undici', '   (built-in HTTP/1.1 client / undici, reported)', 0],
      ['portcullis-full', 'haproxy-sec', '2. full pipeline >= 1.0× HAProxy security pipeline', 1.0],
      ['portcullis', 'nginx', '   (plain proxying / nginx, reported)', 0],
      ['portcullis', 'haproxy', '   (plain proxying / HAProxy, reported)', 0],
      ['portcullis', 'fastify', '   (plain proxying / fastify, reported)', 0],
      ['portcullis-2w-free', 'portcullis-1w-free', '4. workers: 2 / 1 process, both unpinned (reported)', 0],
    ] as [Peer, Peer, string, number][]) {
      if (!have(a) || !have(b)) continue;
      const vals = flags.methods.map((m) => `${m} ${fmt(ratio(a, b, m), 3)} (per round ${fmt(perRound(a, b, m), 3)})`);
      const met = flags.methods.every((m) => ratio(a, b, m) >= min);
      verdicts.push({ goal, values: vals.join(', '), met });
      lines.push(`${goal}: ${vals.join(', ')}${min > 0 ? (met ? '  — met' : '  — NOT met') : ''}`);
    }
    if (flags.rate > 0) {
      for (const p of ['portcullis', 'portcullis-full'] as Peer[]) {
        if (!have(p)) continue;
        const parts = flags.methods.map((m) => {
          const a50 = (pacedMedian(p, m, (x) => x.p50) - pacedMedian('direct', m, (x) => x.p50)) * 1000;
          const a99 = (pacedMedian(p, m, (x) => x.p99) - pacedMedian('direct', m, (x) => x.p99)) * 1000;
          return { m, a50, a99, met: a50 <= 150 && a99 <= 1000 };
        });
        lines.push(`3. ${LABELS[p]} added latency at ${flags.rate} req/s (p50 <= 150 µs, p99 <= 1 ms): ${parts.map((x) => `${x.m} +${fmt(x.a50, 0)} µs / +${fmt(x.a99, 0)} µs`).join(', ')}${parts.every((x) => x.met) ? '  — met' : '  — NOT met'}`);
      }
    }
    if (soak) {
      const s = soak.samples.filter((x) => !Number.isNaN(x.rssMb));
      const half = s.slice(Math.floor(s.length / 2));
      const n = half.length;
      const mt = half.reduce((a, x) => a + x.t, 0) / n;
      const mr = half.reduce((a, x) => a + x.rssMb, 0) / n;
      const slope = half.reduce((a, x) => a + (x.t - mt) * (x.rssMb - mr), 0) / Math.max(1e-9, half.reduce((a, x) => a + (x.t - mt) ** 2, 0));
      const maxRss = Math.max(...s.map((x) => x.rssMb));
      const loop = s.map((x) => x.loopP99Ms).filter((x) => !Number.isNaN(x));
      lines.push(
        `5. soak ${soak.seconds} s, full pipeline, POST at saturation (${fmtInt(soak.rps)} req/s): RSS first ${fmt(s[0]?.rssMb ?? Number.NaN, 0)} MB, last ${fmt(s.at(-1)?.rssMb ?? Number.NaN, 0)} MB, max ${fmt(maxRss, 0)} MB; second-half trend ${fmt(slope * 60, 2)} MB/min; event-loop delay p99 per 5 s: median ${fmt(median(loop), 1)} ms, max ${fmt(Math.max(...loop), 1)} ms`,
      );
      lines.push(`   RSS samples (MB): ${s.map((x) => fmt(x.rssMb, 0)).join(' ')}`);
    }
    const report = lines.join('\n');
    process.stdout.write(`\n${report}\n`);
    if (flags.json) {
      const outDir = path.join(ROOT, 'bench/results');
      mkdirSync(outDir, { recursive: true });
      const file = path.join(outDir, `suite-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      writeFileSync(file, JSON.stringify({ flags, saturation: Object.fromEntries(sat), paced: Object.fromEntries(pacedResults), soak, verdicts, report }, null, 2));
      process.stderr.write(`wrote ${file}\n`);
    }
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    void stopChildren().then(() => process.exit(1));
  },
);
