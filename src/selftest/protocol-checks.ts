/**
 * Probes at the protocol level, over raw sockets: request smuggling byte sequences, oversized heads
 * and bodies, a slow head. Each payload carries marker headers; a smuggled inner request has its own.
 */
import { randomUUID } from 'node:crypto';
import { sendRaw } from './client.ts';
import { MARK_HEADER } from './recorder.ts';
import { IP_DENIED, IP_DENIED_SKIP, type BatteryEnv, type CheckResult } from './battery.ts';
import type { RouteFacts } from './routes.ts';

/** The listener-wide probes are fired at this route (a public one when there is one). */
export function probeRoute(facts: readonly RouteFacts[]): RouteFacts | undefined {
  const open = (f: RouteFacts): boolean => f.authenticators.length === 0 && !f.shadow;
  return facts.find((f) => open(f) && f.ipAllow.length === 0) ?? facts.find(open) ?? facts[0];
}

/**
 * The smuggling probes are POSTs: they go to a route that accepts POST (public first), so that the
 * framing is judged, not answered 405 by the route match that comes before it.
 */
export function smugglingRoute(facts: readonly RouteFacts[]): RouteFacts | undefined {
  const posts = (f: RouteFacts): boolean => !f.shadow && (f.raw.match.methods === undefined || f.raw.match.methods.includes('POST'));
  return facts.find((f) => posts(f) && f.authenticators.length === 0 && f.ipAllow.length === 0) ?? facts.find(posts) ?? probeRoute(facts);
}

/** Longest header block a sane limit lets through: above it a limit is reported as too high. */
export const HEADER_CEILING = 64 * 1024;

export async function smugglingChecks(env: BatteryEnv, r: RouteFacts): Promise<CheckResult[]> {
  const host = r.host ?? 'localhost';
  const p = r.path;
  const cases = [
    {
      check: 'smuggling.cl-te',
      attack: 'Content-Length and Transfer-Encoding: chunked together',
      head: (m: string) => `POST ${p} HTTP/1.1\r\nHost: ${host}\r\n${MARK_HEADER}: ${m}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    },
    {
      check: 'smuggling.duplicate-cl',
      attack: 'two different Content-Length fields',
      head: (m: string) => `POST ${p} HTTP/1.1\r\nHost: ${host}\r\n${MARK_HEADER}: ${m}\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n`,
    },
    {
      check: 'smuggling.te-obs-fold',
      attack: 'Transfer-Encoding folded onto a continuation line (obs-fold)',
      head: (m: string) => `POST ${p} HTTP/1.1\r\nHost: ${host}\r\n${MARK_HEADER}: ${m}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
    },
    {
      check: 'smuggling.te-xchunked',
      attack: 'Transfer-Encoding: xchunked',
      head: (m: string) => `POST ${p} HTTP/1.1\r\nHost: ${host}\r\n${MARK_HEADER}: ${m}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    },
    {
      check: 'smuggling.bare-lf',
      attack: 'bare LF line endings',
      head: (m: string) => `POST ${p} HTTP/1.1\nHost: ${host}\n${MARK_HEADER}: ${m}\nContent-Length: 0\n\n`,
    },
    {
      check: 'smuggling.absolute-uri',
      attack: 'absolute URI naming another host in the request line',
      head: (m: string) => `GET http://evil.example${p} HTTP/1.1\r\nHost: ${host}\r\n${MARK_HEADER}: ${m}\r\n\r\n`,
    },
  ];
  // In parallel: each waits for the server to close (or 1 s) to see whether a second answer follows.
  return Promise.all(
    cases.map(async (c) => {
      const outer = randomUUID();
      const inner = randomUUID();
      const smuggled = `GET ${p} HTTP/1.1\r\nHost: ${host}\r\n${MARK_HEADER}: ${inner}\r\n\r\n`;
      // A well-framed request (bare LF, absolute URI) has no hidden second request: what must not
      // reach the upstream is the request itself. The ambiguous framings carry a smuggled one.
      const framed = c.check === 'smuggling.bare-lf' || c.check === 'smuggling.absolute-uri';
      const answer = await sendRaw(env.target, c.head(outer) + (framed ? '' : smuggled), 1000);
      const innerSeen = env.recorder.seen(inner).length > 0;
      const outerSeen = env.recorder.seen(outer).length > 0;
      const reached = innerSeen || (framed && outerSeen);
      // 400 from the protocol guard; a route that refuses earlier (401 before a body is read)
      // is as safe when it closes the connection, so nothing after the first head is parsed.
      const ok = !reached && (answer.status === 400 || (answer.status >= 401 && answer.status < 500 && answer.closed));
      const got = answer.status === 0 ? 'no answer' : `${answer.status}${answer.code ? ` ${answer.code}` : ''}${answer.status !== 400 && answer.closed ? ', closed' : ''}${innerSeen ? ' (second request forwarded)' : ''}`;
      return { route: '(listener)', check: c.check, attack: c.attack, expected: '400 (or 4xx + close), nothing smuggled upstream', got, reachedUpstream: reached, verdict: ok ? 'pass' : 'FAIL' } satisfies CheckResult;
    }),
  );
}

export async function headerSizeCheck(env: BatteryEnv, r: RouteFacts): Promise<CheckResult> {
  const size = Math.min(env.limits.maxHeaderBytes, HEADER_CEILING) + 1024;
  const mark = randomUUID();
  const payload = `GET ${r.path} HTTP/1.1\r\nHost: ${r.host ?? 'localhost'}\r\n${MARK_HEADER}: ${mark}\r\nx-selftest-pad: ${'a'.repeat(size)}\r\nConnection: close\r\n\r\n`;
  const answer = await sendRaw(env.target, payload, 2000);
  const reached = env.recorder.seen(mark).length > 0;
  const ok = answer.status === 431 && !reached;
  const note = env.limits.maxHeaderBytes > HEADER_CEILING ? ` (server.limits.maxHeaderBytes ${env.limits.maxHeaderBytes} > ${HEADER_CEILING})` : '';
  return {
    route: '(listener)', check: 'limits.header-size', attack: `${Math.round(size / 1024)} KiB header block`, expected: '431, not forwarded',
    got: `${answer.status === 0 ? 'no answer' : `${answer.status}${answer.code ? ` ${answer.code}` : ''}`}${note}`, reachedUpstream: reached, verdict: ok ? 'pass' : 'FAIL',
  };
}

export async function bodySizeCheck(env: BatteryEnv, r: RouteFacts): Promise<CheckResult> {
  const mark = randomUUID();
  const declared = r.maxBodyBytes + 1;
  // Only the head is sent: a 413 must come from the declared length, before a body byte is read.
  const payload = `${r.method === 'HEAD' ? 'POST' : r.method} ${r.path} HTTP/1.1\r\nHost: ${r.host ?? 'localhost'}\r\n${MARK_HEADER}: ${mark}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\nConnection: close\r\n\r\n`;
  const answer = await sendRaw(env.target, payload, 1500);
  const reached = env.recorder.seen(mark).length > 0;
  const ok = answer.status === 413 && !reached;
  if (answer.code === IP_DENIED) {
    return { route: r.name, check: 'limits.body-size', attack: `Content-Length: ${declared}`, expected: '413', got: IP_DENIED_SKIP, reachedUpstream: reached, verdict: 'skipped' };
  }
  return {
    route: r.name, check: 'limits.body-size', attack: `Content-Length: ${declared} (limit ${r.maxBodyBytes})`, expected: '413 before the body, not forwarded',
    got: answer.status === 0 ? 'no answer' : `${answer.status}${answer.code ? ` ${answer.code}` : ''}`, reachedUpstream: reached, verdict: ok ? 'pass' : 'FAIL',
  };
}

/** Slow head (slowloris): only when server.limits.headersTimeout is short enough to wait for. */
export const SLOW_HEAD_MAX_MS = 2000;

export async function slowHeadCheck(env: BatteryEnv, r: RouteFacts): Promise<CheckResult> {
  const base = { route: '(listener)', check: 'limits.headers-timeout', attack: 'request head never finished', expected: '408 or closed within headersTimeout' };
  const t = env.limits.headersTimeout;
  if (t > SLOW_HEAD_MAX_MS) {
    return { ...base, got: `skipped: headersTimeout ${t} ms > ${SLOW_HEAD_MAX_MS} ms`, reachedUpstream: null, verdict: 'skipped' };
  }
  const mark = randomUUID();
  const started = Date.now();
  const answer = await sendRaw(env.target, `GET ${r.path} HTTP/1.1\r\nHost: ${r.host ?? 'localhost'}\r\n${MARK_HEADER}: ${mark}\r\n`, t + 1500);
  const ms = Date.now() - started;
  const ok = (answer.status === 408 || (answer.status === 0 && answer.closed)) && ms <= t + 1500;
  return { ...base, got: `${answer.status === 0 ? (answer.closed ? 'closed' : 'still open') : answer.status} after ${ms} ms`, reachedUpstream: env.recorder.seen(mark).length > 0, verdict: ok ? 'pass' : 'FAIL' };
}
