import { usePoll, type LiveState } from '../app.tsx';
import { fmtNum } from '../format.ts';

interface RouteView {
  name: string;
  mode: string;
  auth: string;
  match: { host?: string | string[]; path?: string | string[]; methods?: string[]; [k: string]: unknown } | null;
  stages: { name: string; mode: string }[];
  upstream: unknown;
  maxBodyBytes: number;
}

export function describeUpstream(u: unknown): string {
  if (typeof u === 'string') return u;
  const v = u as { versions?: Record<string, string>; split?: { upstream: string; weight: number }[] };
  if (v.versions) return `versions: ${Object.entries(v.versions).map(([k, n]) => `${k} → ${n}`).join(', ')}`;
  if (v.split) return `split: ${v.split.map((m) => `${m.upstream} (${m.weight})`).join(', ')}`;
  return JSON.stringify(u);
}

function describeMatch(m: RouteView['match']): string {
  if (m === null) return '–';
  const parts: string[] = [];
  const list = (x: unknown) => (Array.isArray(x) ? x.join(' | ') : String(x));
  if (m.methods) parts.push(list(m.methods));
  if (m.host) parts.push(`host ${list(m.host)}`);
  if (m.path) parts.push(list(m.path));
  for (const [k, v] of Object.entries(m)) if (!['methods', 'host', 'path'].includes(k)) parts.push(`${k}: ${JSON.stringify(v)}`);
  return parts.join(' ');
}

export function Routes({ live }: { live: LiveState }) {
  const { data, error } = usePoll<RouteView[]>('/routes', 10_000);
  const counters = live.counters.routes;
  return (
    <section aria-labelledby="routes-title">
      <h1 id="routes-title">Routes</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Routes with their match, stages, upstream and live counters since start</caption>
          <thead>
            <tr><th scope="col">Route</th><th scope="col">Match</th><th scope="col">Auth</th><th scope="col">Stages</th><th scope="col">Upstream</th>
              <th scope="col" class="num">Requests</th><th scope="col" class="num">5xx</th><th scope="col" class="num">Rejected</th><th scope="col" class="num">Shadow rejections</th></tr>
          </thead>
          <tbody>
            {(data ?? []).map((r) => {
              const c = counters[r.name];
              return (
                <tr key={r.name} data-route={r.name}>
                  <th scope="row">{r.name}{r.mode === 'shadow' && <span class="badge shadow">shadow</span>}</th>
                  <td><code>{describeMatch(r.match)}</code></td>
                  <td>{r.auth}</td>
                  <td>{r.stages.length === 0 ? '–' : r.stages.map((s) => <span key={s.name} class={`badge ${s.mode === 'shadow' ? 'shadow' : ''}`}>{s.name}{s.mode === 'shadow' ? ' (shadow)' : ''}</span>)}</td>
                  <td>{describeUpstream(r.upstream)}</td>
                  <td class="num" data-testid={`route-requests-${r.name}`}>{fmtNum(c?.requests ?? 0)}</td>
                  <td class="num">{fmtNum(c?.errors ?? 0)}</td>
                  <td class="num">{fmtNum(c?.rejections ?? 0)}</td>
                  <td class="num">{fmtNum(c?.shadowRejections ?? 0)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="muted">Counters since the gateway started; updated every second.</p>
    </section>
  );
}
