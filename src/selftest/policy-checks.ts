/** Probes of route policies that need a working request: rate-limit evasion and threat detection. */
import { fire, IP_DENIED, IP_DENIED_SKIP, type BatteryEnv, type CheckResult } from './battery.ts';
import type { RouteFacts } from './routes.ts';

/** A limit above this is not exhausted by the self-test (it would take too long and too many requests). */
export const MAX_TESTED_LIMIT = 50;
/** Wall-clock bound of one rate-limit check. */
const RATE_CHECK_MS = 5000;

/** The smallest limit the battery can exhaust without credentials, or why there is none. */
export function testedLimit(r: RouteFacts): RouteFacts['rateLimits'][number] | string {
  if (r.rateLimits.length === 0) return 'no rate limit by ip or header';
  const smallest = [...r.rateLimits].sort((a, b) => a.limit + a.burst - (b.limit + b.burst))[0];
  if (smallest === undefined) return 'no rate limit by ip or header';
  if (smallest.limit + smallest.burst > MAX_TESTED_LIMIT) return `limit too high to test quickly (${smallest.limit + smallest.burst} > ${MAX_TESTED_LIMIT})`;
  return smallest;
}

/**
 * limit+burst+1 requests (plus what the bucket refills meanwhile) with a spoofed X-Forwarded-For
 * that changes every time and, for a header key, the key header's name in rotating case: the last
 * must be 429. `env` is a gateway of its own with the rate limits in place (a fresh store).
 */
export async function rateLimitCheck(env: BatteryEnv, r: RouteFacts): Promise<CheckResult> {
  const l = testedLimit(r);
  const base = { route: r.name, check: 'ratelimit.evasion' };
  if (typeof l === 'string') {
    return { ...base, attack: 'rotating X-Forwarded-For / key header case', expected: '429 after the limit', got: `skipped: ${l}`, reachedUpstream: null, verdict: 'skipped' };
  }
  const allowed = l.limit + l.burst;
  const headerName = l.by.startsWith('header:') ? l.by.slice(7) : undefined;
  const cases = headerName === undefined ? [] : [headerName.toLowerCase(), headerName.toUpperCase(), headerName.replace(/(^|-)(.)/g, (_m, d: string, c: string) => d + c.toUpperCase())];
  const started = Date.now();
  const bound = 2 * allowed + 2;
  let first429 = 0;
  let sent = 0;
  let reached = 0;
  for (let i = 1; i <= bound && Date.now() - started < RATE_CHECK_MS; i++) {
    const headers: Record<string, string> = { 'x-forwarded-for': `10.${(i >> 8) & 255}.${i & 255}.7`, forwarded: `for=192.0.2.${i & 255}` };
    if (headerName !== undefined) headers[cases[i % cases.length] as string] = 'selftest-client';
    const f = await fire(env, r, { method: r.method, path: r.path, headers });
    if (i === 1 && f.answer.code === IP_DENIED) {
      return { ...base, attack: 'rotating X-Forwarded-For', expected: '429 after the limit', got: IP_DENIED_SKIP, reachedUpstream: f.reached, verdict: 'skipped' };
    }
    sent = i;
    if (f.reached) reached++;
    if (f.answer.status === 429) {
      first429 = i;
      break;
    }
  }
  // GCRA refills `limit` per window while the probes run: those extra requests are allowed too.
  const refill = Math.floor(((Date.now() - started) / l.perMs) * l.limit);
  const ok = first429 > 0 && first429 <= allowed + 1 + refill;
  return {
    ...base,
    attack: `${allowed + 1} requests by ${l.by}, spoofed X-Forwarded-For${headerName ? ', key header case rotated' : ''}`,
    expected: `429 by request ${allowed + 1}${refill > 0 ? ` (+${refill} refilled)` : ''}`,
    got: first429 > 0 ? `429 at request ${first429}` : `no 429 in ${sent} requests`,
    reachedUpstream: reached > allowed + refill,
    verdict: ok ? 'pass' : 'FAIL',
  };
}

const PAYLOADS = [
  { check: 'threats.sqli', attack: "SQL injection in the query: ' OR '1'='1' --", query: `id=${encodeURIComponent("1' OR '1'='1' --")}` },
  { check: 'threats.xss', attack: 'XSS in the query: <script>alert(1)</script>', query: `q=${encodeURIComponent('<script>alert(1)</script>')}` },
  { check: 'threats.traversal', attack: 'path traversal in the query: ../../../etc/passwd', query: `file=${encodeURIComponent('../../../etc/passwd')}` },
];

export async function threatChecks(env: BatteryEnv, r: RouteFacts): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const p of PAYLOADS) {
    const base = { route: r.name, check: p.check, attack: p.attack };
    if (r.authenticators.length > 0) {
      out.push({ ...base, expected: '403 PCL_THREAT_DETECTED', got: 'skipped: the route needs credentials (threats run after authentication)', reachedUpstream: null, verdict: 'skipped' });
      continue;
    }
    const path = `${r.path}${r.path.includes('?') ? '&' : '?'}${p.query}`;
    const f = await fire(env, r, { method: r.method, path });
    const got = f.answer.status === 0 ? 'no answer' : `${f.answer.status}${f.answer.code ? ` ${f.answer.code}` : ''}`;
    if (f.answer.code === IP_DENIED) {
      out.push({ ...base, expected: '403 PCL_THREAT_DETECTED', got: IP_DENIED_SKIP, reachedUpstream: f.reached, verdict: 'skipped' });
    } else if (r.threats === 'detect') {
      // detect mode is the operator's choice to log only: forwarding is what it promises, not a failure.
      out.push({ ...base, expected: 'forwarded and logged (threats mode: detect)', got, reachedUpstream: f.reached, verdict: f.reached ? 'pass' : 'FAIL' });
    } else {
      const ok = !f.reached && f.answer.status === 403 && f.answer.code === 'PCL_THREAT_DETECTED';
      out.push({ ...base, expected: '403 PCL_THREAT_DETECTED, not forwarded', got, reachedUpstream: f.reached, verdict: ok ? 'pass' : 'FAIL' });
    }
  }
  return out;
}
