/**
 * `portcullis selftest` and `POST /selftest`: the gateway built in-process from a config, every
 * upstream replaced by one local recording upstream, then a battery of attacks fired at every route.
 * See docs/selftest.md for what is fired and what is not tested.
 */
import pino from 'pino';
import { buildGateway } from '../config/gateway.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { AccessLog } from '../observability/logger.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { GatewayServer } from '../server/gateway-server.ts';
import { authChecks, pathChecks, spoofChecks, type BatteryEnv, type CheckResult, type MatchedRequest } from './battery.ts';
import { createAgent } from './client.ts';
import { selftestConfig } from './config.ts';
import { rateLimitCheck, testedLimit, threatChecks } from './policy-checks.ts';
import { bodySizeCheck, headerSizeCheck, probeRoute, slowHeadCheck, smugglingChecks, smugglingRoute } from './protocol-checks.ts';
import { MARK_HEADER, startRecorder, type Recorder } from './recorder.ts';
import { routeFacts } from './routes.ts';

export type { CheckResult, Verdict } from './battery.ts';

export interface SelftestReport {
  ok: boolean;
  summary: { pass: number; fail: number; skipped: number; notApplicable: number; ms: number };
  /** What the self-test changed in its copy of the config (listeners, TLS, dropped settings). */
  notes: string[];
  results: CheckResult[];
}

/** A running self-test gateway: its access log maps each probe's marker to the matched route. */
interface Running {
  server: GatewayServer;
  env: BatteryEnv;
  stop(): Promise<void>;
}

async function startGatewayFor(loaded: LoadedConfig, recorder: Recorder, keepRateLimits: boolean): Promise<Running & { notes: string[] }> {
  const cfg = selftestConfig(loaded, recorder.url, { keepRateLimits });
  const gateway = await buildGateway(cfg.loaded);
  const matched = new Map<string, MatchedRequest>();
  const accessLog: AccessLog = {
    write(ctx: RequestContext) {
      const mark = ctx.request.headers[MARK_HEADER];
      if (typeof mark === 'string' && matched.size < 10_000) matched.set(mark, { route: ctx.route?.name, upstream: ctx.upstream?.name });
    },
    flush: async () => {},
  };
  const server = await GatewayServer.start(gateway, { logger: pino({ level: 'silent' }), accessLog, admin: false });
  const address = server.addresses()[0];
  if (address === undefined) {
    await server.stop(1000);
    throw new Error('the self-test gateway has no listener');
  }
  const agent = createAgent();
  const env: BatteryEnv = {
    agent,
    target: { port: address.port, https: address.name === 'https' },
    recorder,
    matched,
    raw: cfg.loaded.raw,
    baseDir: loaded.baseDir,
    // Policies as the operator wrote them (the copy may lack rate limits); limits as built.
    facts: routeFacts(loaded.raw, gateway),
    limits: { maxHeaderBytes: gateway.settings.limits.maxHeaderBytes, headersTimeout: gateway.settings.limits.headersTimeout },
    trustedProxies: loaded.raw.server.trustedProxies ?? [],
  };
  return {
    server,
    env,
    notes: cfg.notes,
    stop: async () => {
      await agent.close();
      await server.stop(1000);
    },
  };
}

export async function runSelftest(loaded: LoadedConfig): Promise<SelftestReport> {
  const started = Date.now();
  const recorder = await startRecorder();
  const results: CheckResult[] = [];
  let notes: string[] = [];
  try {
    const main = await startGatewayFor(loaded, recorder, false);
    notes = main.notes;
    try {
      const env = main.env;
      const listenerRoute = probeRoute(env.facts);
      for (const r of env.facts) {
        if (r.shadow) {
          results.push({ route: r.name, check: 'route', attack: '-', expected: '-', got: 'skipped: route mode shadow (nothing is enforced)', reachedUpstream: null, verdict: 'skipped' });
          continue;
        }
        if (r.authenticators.length > 0) {
          results.push(...(await authChecks(env, r)));
          results.push(...(await pathChecks(env, r)));
        }
        results.push(await bodySizeCheck(env, r));
        if (r.threats !== 'off') results.push(...(await threatChecks(env, r)));
      }
      results.push(...(await spoofChecks(env)));
      if (listenerRoute !== undefined) {
        results.push(...(await smugglingChecks(env, smugglingRoute(env.facts) ?? listenerRoute)));
        results.push(await headerSizeCheck(env, listenerRoute));
        results.push(await slowHeadCheck(env, listenerRoute));
      }
    } finally {
      await main.stop();
    }
    // Rate limits: a gateway of their own per route (with the limits, a fresh in-memory store).
    const limited = main.env.facts.filter((r) => !r.shadow && r.rateLimits.length > 0);
    for (const r of limited) {
      if (typeof testedLimit(r) === 'string') {
        results.push(await rateLimitCheck(main.env, r));
        continue;
      }
      const rl = await startGatewayFor(loaded, recorder, true);
      try {
        const facts = rl.env.facts.find((f) => f.name === r.name) ?? r;
        results.push(await rateLimitCheck(rl.env, facts));
      } finally {
        await rl.stop();
      }
    }
  } finally {
    await recorder.close();
  }
  const count = (v: CheckResult['verdict']): number => results.filter((r) => r.verdict === v).length;
  const fail = count('FAIL');
  return {
    ok: fail === 0,
    summary: { pass: count('pass'), fail, skipped: count('skipped'), notApplicable: count('n/a'), ms: Date.now() - started },
    notes,
    results,
  };
}

/** The table: route, check, attack, expected, got, reached upstream?, verdict. */
export function formatTable(report: SelftestReport): string {
  const head = ['route', 'check', 'attack', 'expected', 'got', 'upstream?', 'verdict'];
  const rows = report.results.map((r) => [r.route, r.check, clip(r.attack), clip(r.expected), clip(r.got), r.reachedUpstream === null ? '-' : r.reachedUpstream ? 'yes' : 'no', r.verdict]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ''];
  for (const n of report.notes) out.push(`note: ${n}`);
  const s = report.summary;
  out.push(`${report.ok ? 'PASS' : 'FAIL'}: ${s.pass} passed, ${s.fail} failed, ${s.skipped} skipped, ${s.notApplicable} not applicable (${s.ms} ms)`);
  return `${out.join('\n')}\n`;
}

function clip(s: string): string {
  return s.length > 72 ? `${s.slice(0, 71)}…` : s;
}
