import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { RequestContext } from '../pipeline/context.ts';
import type { AnyRequest } from '../upstream/proxy.ts';
import { createAccessLog, redactQuery } from './logger.ts';

/** The record the access log used to hand to pino's logger.info (before it wrote the line itself). */
function pinoRecord(ctx: RequestContext, now: number, userAgent: string | undefined): Record<string, unknown> {
  const round = (ms: number): number => Math.round(ms * 1000) / 1000;
  return {
    type: 'access',
    requestId: ctx.requestId,
    method: ctx.method,
    host: ctx.host,
    path: ctx.path,
    query: ctx.query === '' ? undefined : redactQuery(ctx.query),
    proto: ctx.httpVersion,
    tls: ctx.secure,
    clientIp: ctx.clientIp,
    peerIp: ctx.peerIp === ctx.clientIp ? undefined : ctx.peerIp,
    route: ctx.route?.name,
    upstream: ctx.upstream?.name,
    target: ctx.target?.origin,
    status: ctx.status,
    code: ctx.errorCode,
    reason: ctx.errorReason,
    bytesOut: ctx.bytesOut,
    durationMs: round(now - ctx.startedAt),
    upstreamMs: ctx.upstreamMs >= 0 ? round(ctx.upstreamMs) : undefined,
    decisions: ctx.decisions.length > 0 ? ctx.decisions : undefined,
    notes: ctx.notes,
    userAgent,
  };
}

function context(over: { query?: string; peerIp?: string; path?: string; host?: string }): RequestContext {
  return new RequestContext({
    requestId: 'b2c1a0f4-0000-4000-8000-000000000001',
    startedAt: 1000.25,
    method: 'POST',
    host: over.host ?? 'api.example.com',
    path: over.path ?? '/orders/42',
    query: over.query ?? '',
    clientIp: '203.0.113.7',
    peerIp: over.peerIp ?? '203.0.113.7',
    secure: true,
    httpVersion: '1.1',
    request: {} as AnyRequest,
  });
}

describe('access log line', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is what pino wrote for the same record: same keys, order, values and escaping', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-accesslog-'));
    const file = path.join(dir, 'access.log');
    const log = createAccessLog(file);
    const cases: [RequestContext, number, string | undefined][] = [];
    // A plain one: no query, no route, nothing optional.
    cases.push([context({}), 1003.5, undefined]);
    // Everything set, with strings that need escaping (quotes, backslashes, control characters, non-ASCII).
    const full = context({ query: 'q=caf%C3%A9&token=abc&x="y"', peerIp: '10.0.0.2', path: '/a"b\\c/\u0001\u2028é', host: 'h"ost' });
    full.route = { name: 'orders "v1"' } as RequestContext['route'];
    full.upstream = { name: 'orders' } as RequestContext['upstream'];
    full.target = { origin: 'http://127.0.0.1:9001' } as RequestContext['target'];
    full.status = 403;
    full.errorCode = 'PCL_THREAT_DETECTED';
    full.errorReason = 'sqli.bare in query.q: \'or 1=1 --\n';
    full.bytesOut = 312;
    full.upstreamMs = 1.23456;
    full.decisions.push({ stage: 'threats', decision: 'deny', code: 'PCL_THREAT_DETECTED', detail: 'score 5 "x"', ms: 0.0421 });
    full.note('retry after 502 from http://a');
    cases.push([full, 1010.123456, 'curl/8.5 "quoted" \t tab']);
    for (const [ctx, now, ua] of cases) log.write(ctx, now, ua);
    await log.flush();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, cases.length);
    for (let i = 0; i < cases.length; i++) {
      const [ctx, now, ua] = cases[i] as [RequestContext, number, string | undefined];
      const line = lines[i] as string;
      const time = (JSON.parse(line) as { time: string }).time;
      // What pino itself serialises for that record, at the same timestamp.
      let expected = '';
      const p = pino({ base: null, timestamp: () => `,"time":"${time}"`, messageKey: 'msg' }, { write: (s: string) => (expected = s) });
      p.info(pinoRecord(ctx, now, ua));
      assert.equal(`${line}\n`, expected);
    }
    assert.match(lines[1] as string, /"query":"q=caf%C3%A9&token=\[REDACTED\]&x=\\"y\\""/);
  });
});
