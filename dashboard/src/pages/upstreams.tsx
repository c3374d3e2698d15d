import { usePoll, type LiveState } from '../app.tsx';
import { fmtMs, fmtNum } from '../format.ts';

interface UpstreamView {
  name: string;
  protocol: string;
  circuitBreaker: string | null;
  stats: Record<string, number>;
  targets: { origin: string; weight: number; healthy: boolean; activeHealthy: boolean }[];
}

export function Upstreams({ live }: { live: LiveState }) {
  const { data, error } = usePoll<UpstreamView[]>('/upstreams', 2000);
  return (
    <section aria-labelledby="upstreams-title">
      <h1 id="upstreams-title">Upstreams</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="grid">
        {(data ?? []).map((u) => {
          const l = live.counters.upstreams[u.name];
          return (
            <article class="card" key={u.name} aria-labelledby={`up-${u.name}`}>
              <h2 id={`up-${u.name}`}>{u.name} <span class="badge">{u.protocol}</span>
                {u.circuitBreaker !== null && <span class={`badge breaker-${u.circuitBreaker}`}>breaker {u.circuitBreaker}</span>}</h2>
              <dl class="kv">
                <dt>Requests</dt><dd>{fmtNum(l?.requests ?? 0)}</dd>
                <dt>5xx</dt><dd>{fmtNum(l?.errors ?? 0)}</dd>
                <dt>Latency p50 / p99 (last 1–2 min)</dt><dd>{fmtMs(l?.p50)} / {fmtMs(l?.p99)}</dd>
                {Object.entries(u.stats).map(([k, v]) => [<dt key={`${k}-t`}>{k}</dt>, <dd key={`${k}-d`}>{fmtNum(v)}</dd>])}
              </dl>
              <div class="table-wrap">
                <table>
                  <caption class="sr-only">Targets of {u.name}</caption>
                  <thead><tr><th scope="col">Target</th><th scope="col" class="num">Weight</th><th scope="col">Health</th></tr></thead>
                  <tbody>
                    {u.targets.map((t) => (
                      <tr key={t.origin}>
                        <td><code>{t.origin}</code></td>
                        <td class="num">{t.weight}</td>
                        <td><span class={`badge ${t.healthy ? 'good' : 'bad'}`}>{t.healthy ? 'healthy' : 'ejected'}</span>{!t.activeHealthy && <span class="badge bad">failing checks</span>}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </article>
          );
        })}
      </div>
    </section>
  );
}
