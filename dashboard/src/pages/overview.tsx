import type { LiveState } from '../app.tsx';
import { Chart, color } from '../chart.tsx';
import { fmtMs, fmtNum, fmtPct } from '../format.ts';

export function Overview({ live }: { live: LiveState }) {
  const s = live.series;
  const xs = s.map((p) => p.t);
  const last = s[s.length - 1];
  // The last 10 s, for the headline numbers (one second alone is noisy).
  const recent = s.slice(-10);
  const req10 = recent.reduce((a, p) => a + p.requests, 0);
  const err10 = recent.reduce((a, p) => a + p.errors, 0);
  const total = s.reduce((a, p) => a + p.requests, 0);
  const rejectedTotal = s.reduce((a, p) => a + Object.values(p.rejections).reduce((x, y) => x + y, 0), 0);
  const stages = [...new Set(s.flatMap((p) => Object.keys(p.rejections)))].sort();
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <div class="stats">
        <Stat label="Requests/s (10 s avg)" value={fmtNum(req10 / Math.max(recent.length, 1), 1)} id="stat-rps" />
        <Stat label="Error rate (5xx, 10 s)" value={req10 > 0 ? fmtPct((err10 / req10) * 100) : '–'} id="stat-errors" />
        <Stat label="p50 latency (last s)" value={fmtMs(last?.p50)} id="stat-p50" />
        <Stat label="p99 latency (last s)" value={fmtMs(last?.p99)} id="stat-p99" />
        <Stat label="Requests (15 min)" value={fmtNum(total)} id="stat-total" />
        <Stat label="Rejections (15 min)" value={fmtNum(rejectedTotal)} id="stat-rejections" />
      </div>
      <div class="charts">
        <Chart title="Requests per second" unit="" xs={xs} series={[{ label: 'req/s', color: color(0), values: s.map((p) => p.requests) }]} />
        <Chart title="Error rate (5xx)" unit="%" xs={xs} series={[{ label: 'errors', color: color(1), values: s.map((p) => (p.requests > 0 ? (p.errors / p.requests) * 100 : null)) }]} />
        <Chart title="Latency" unit=" ms" xs={xs} series={[
          { label: 'p50', color: color(2), values: s.map((p) => p.p50) },
          { label: 'p99', color: color(3), values: s.map((p) => p.p99) },
        ]} />
        <Chart title="Rejections by stage" unit="" xs={xs} series={stages.length === 0
          ? [{ label: 'none', color: color(7), values: s.map(() => 0) }]
          : stages.map((st, i) => ({ label: st, color: color(i + 4), values: s.map((p) => p.rejections[st] ?? 0) }))} />
      </div>
    </section>
  );
}

function Stat({ label, value, id }: { label: string; value: string; id: string }) {
  return (
    <div class="card stat">
      <div class="stat-label" id={`${id}-label`}>{label}</div>
      <div class="stat-value" data-testid={id} aria-labelledby={`${id}-label`}>{value}</div>
    </div>
  );
}
