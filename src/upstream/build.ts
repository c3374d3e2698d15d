/** Builds one Upstream from its validated config; every problem goes to `issues` with its path. */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { formatPath, type ConfigIssue } from '../config/errors.ts';
import { parseDuration } from '../config/units.ts';
import { statusMatcher } from './health.ts';
import type { RawUpstreamConfig } from './schema.ts';
import { buildSigner } from './sign.ts';
import { Upstream, type HashOn, type UpstreamSpec, type UpstreamTls } from './upstream.ts';

export async function buildUpstream(name: string, u: RawUpstreamConfig, baseDir: string, issues: ConfigIssue[]): Promise<Upstream | undefined> {
  const at = (...rest: (string | number)[]): string => formatPath(['upstreams', name, ...rest]);
  const before = issues.length;
  const targets: { url: string; weight: number }[] = [];
  u.targets.forEach((t, i) => {
    const url = typeof t === 'string' ? t : t.url;
    const weight = typeof t === 'string' ? 1 : (t.weight ?? 1);
    const problem = checkTargetUrl(url);
    if (problem) issues.push({ path: at('targets', i, ...(typeof t === 'string' ? [] : ['url'])), message: problem });
    else targets.push({ url, weight });
  });

  const timeout = u.timeout ? parseDuration(u.timeout) : 30_000;
  const retries = u.retries ?? 0;
  const spec: UpstreamSpec = {
    name,
    targets,
    timeout,
    connectTimeout: u.connectTimeout ? parseDuration(u.connectTimeout) : 5_000,
    maxConnections: u.maxConnections ?? 128,
    balance: u.balance ?? 'round-robin',
    retries,
    totalTimeout: u.totalTimeout ? parseDuration(u.totalTimeout) : retries > 0 ? timeout * (retries + 1) : 0,
    panic: u.panic ?? false,
    protocol: u.protocol ?? 'h1',
    client: u.client ?? 'builtin',
  };
  // h2 negotiates HTTP/2 by ALPN, which needs TLS; h2c is HTTP/2 spoken from the first byte on a plain connection.
  if (u.protocol === 'h2' && targets.some((t) => t.url.startsWith('http:'))) {
    issues.push({ path: at('protocol'), message: 'h2 needs https:// targets (HTTP/2 is negotiated by TLS ALPN); use h2c for cleartext' });
  }
  if (u.protocol === 'h2c' && targets.some((t) => t.url.startsWith('https:'))) {
    issues.push({ path: at('protocol'), message: 'h2c is cleartext HTTP/2 and needs http:// targets; use h2 for https://' });
  }
  if (u.hashOn !== undefined) {
    if (u.balance !== 'consistent-hash') issues.push({ path: at('hashOn'), message: 'applies to balance: consistent-hash only' });
    spec.hashOn = parseHashOn(u.hashOn);
  }
  if (u.retryBudget) {
    spec.retryBudget = {
      ratio: u.retryBudget.ratio ?? 0.2,
      minRetries: u.retryBudget.minRetries ?? 10,
      window: parseDuration(u.retryBudget.window ?? '10s'),
    };
    if (spec.retryBudget.window < 10) issues.push({ path: at('retryBudget', 'window'), message: 'must be at least 10ms' });
  }
  const hc = u.healthCheck;
  if (hc) {
    spec.activeHealth = {
      path: hc.path,
      interval: parseDuration(hc.interval ?? '10s'),
      timeout: parseDuration(hc.timeout ?? '2s'),
      unhealthyAfter: hc.unhealthyAfter ?? 3,
      healthyAfter: hc.healthyAfter ?? 2,
      expect: statusMatcher(hc.expectedStatuses),
    };
    if (spec.activeHealth.interval < 100) issues.push({ path: at('healthCheck', 'interval'), message: 'must be at least 100ms' });
    if (spec.activeHealth.timeout < 1) issues.push({ path: at('healthCheck', 'timeout'), message: 'must be at least 1ms' });
  }
  if (u.passiveHealth) {
    spec.passiveHealth = { failures: u.passiveHealth.failures ?? 5, ejectFor: parseDuration(u.passiveHealth.ejectFor ?? '30s') };
  }
  const cb = u.circuitBreaker;
  if (cb) {
    spec.breaker = {
      failures: cb.failures ?? 5,
      cooldown: parseDuration(cb.cooldown ?? '30s'),
      ratio:
        cb.failureRatio !== undefined
          ? { threshold: cb.failureRatio, window: parseDuration(cb.window ?? '30s'), minCalls: cb.minRequests ?? 20 }
          : undefined,
    };
    if (spec.breaker.ratio && spec.breaker.ratio.window < 10) issues.push({ path: at('circuitBreaker', 'window'), message: 'must be at least 10ms' });
  }
  if (u.tls) {
    const tls = await buildTls(u.tls, baseDir, (key, message) => issues.push({ path: at('tls', ...key), message }));
    if (tls) spec.tls = tls;
    if (targets.length > 0 && targets.every((t) => t.url.startsWith('http:'))) {
      issues.push({ path: at('tls'), message: 'applies to https:// targets only; every target of this upstream is http://' });
    }
  }
  const signer = u.sign ? await buildSigner(u.sign, baseDir, at('sign'), issues) : undefined;
  if (issues.length > before) return undefined;
  const upstream = new Upstream(spec);
  upstream.signer = signer;
  return upstream;
}

function parseHashOn(text: string): HashOn {
  if (text === 'ip' || text === 'consumer') return { kind: text };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  return kind === 'header' ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name };
}

async function buildTls(
  t: NonNullable<RawUpstreamConfig['tls']>,
  baseDir: string,
  problem: (key: string[], message: string) => void,
): Promise<UpstreamTls | undefined> {
  const read = async (key: 'ca' | 'cert' | 'key', marker: RegExp): Promise<string | undefined> => {
    const file = t[key];
    if (file === undefined) return undefined;
    try {
      const text = await readFile(path.resolve(baseDir, file), 'utf8');
      if (!marker.test(text)) throw new Error(key === 'key' ? 'no PEM private key in it' : 'no PEM certificate in it');
      return text;
    } catch (err) {
      problem([key], `cannot use ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('ca', /-----BEGIN CERTIFICATE-----/),
    read('cert', /-----BEGIN CERTIFICATE-----/),
    read('key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
  ]);
  if ((t.cert === undefined) !== (t.key === undefined)) {
    problem([t.cert === undefined ? 'cert' : 'key'], 'cert and key go together (the client certificate for mTLS)');
    return undefined;
  }
  const out: UpstreamTls = { rejectUnauthorized: t.insecureSkipVerify !== true };
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (t.servername !== undefined) out.servername = t.servername;
  return out;
}

export function checkTargetUrl(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `"${url}" is not a URL (expected http://host:port)`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `"${url}" must use http:// or https://`;
  if (u.username || u.password) return `"${url}" must not carry credentials`;
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return `"${url}" must be an origin (scheme://host:port) without a path`;
  if (!u.hostname || (u.hostname.startsWith('[') ? isIP(u.hostname.slice(1, -1)) === 0 : false)) return `"${url}" has no valid host`;
  return undefined;
}
