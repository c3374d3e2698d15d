import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { usePoll, type LiveState } from '../app.tsx';
import { fmtDuration, fmtNum, fmtTime } from '../format.ts';
import { Decisions } from './decisions.tsx';

interface Ban { kind: 'ip' | 'credential' | string; id: string; ttlMs: number }

export function Security({ live }: { live: LiveState }) {
  const bans = usePoll<Ban[]>('/bans', 3000);
  const [message, setMessage] = useState<string | null>(null);
  const unban = async (b: Ban) => {
    const kind = b.kind === 'credential' ? 'credential' : 'ip';
    try {
      await api(`/bans/${kind}/${encodeURIComponent(b.id)}`, { method: 'DELETE' });
      setMessage(`Ban on ${b.kind} ${b.id} lifted.`);
    } catch (err) {
      setMessage(`Could not lift the ban: ${(err as Error).message}`);
    }
    await bans.reload();
  };
  const c = live.counters;
  const threats = Object.entries(c.threats).sort((a, b) => b[1].blocked + b[1].detected - (a[1].blocked + a[1].detected));
  return (
    <section aria-labelledby="security-title">
      <h1 id="security-title">Security</h1>
      <div class="grid">
        <article class="card" aria-labelledby="bans-title">
          <h2 id="bans-title">Current bans</h2>
          {message && <p role="status" class="muted">{message}</p>}
          {bans.error && <p class="error" role="alert">{bans.error}</p>}
          {bans.data && bans.data.length === 0 && <p class="muted" data-testid="no-bans">No bans.</p>}
          {bans.data && bans.data.length > 0 && (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Brute-force bans</caption>
                <thead><tr><th scope="col">Kind</th><th scope="col">Id</th><th scope="col">Expires in</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead>
                <tbody>
                  {bans.data.map((b) => (
                    <tr key={`${b.kind}:${b.id}`} data-ban={b.id}>
                      <td>{b.kind}</td>
                      <td><code>{b.id}</code></td>
                      <td>{fmtDuration(b.ttlMs)}</td>
                      <td><button type="button" onClick={() => void unban(b)} aria-label={`Unban ${b.kind} ${b.id}`}>Unban</button></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </article>
        <Top title="Top client IPs by rejections" id="top-ips" entries={c.topClientIps} />
        <Top title="Top consumers by rejections" id="top-consumers" entries={c.topConsumers} />
        <article class="card" aria-labelledby="threats-title">
          <h2 id="threats-title">Threat detections by detector</h2>
          {threats.length === 0 ? <p class="muted">None since start.</p> : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Threat detections by detector since start</caption>
                <thead><tr><th scope="col">Detector</th><th scope="col" class="num">Blocked</th><th scope="col" class="num">Detected only</th></tr></thead>
                <tbody>{threats.map(([d, t]) => <tr key={d}><td>{d}</td><td class="num">{fmtNum(t.blocked)}</td><td class="num">{fmtNum(t.detected)}</td></tr>)}</tbody>
              </table>
            </div>
          )}
        </article>
      </div>
      <h2 id="recent-title">Recent rejections</h2>
      <p class="muted">The last {live.rejections.length} (at most 200), newest first; open one for its decision record.</p>
      <ul class="rejections" aria-labelledby="recent-title" data-testid="rejections">
        {live.rejections.map((r) => (
          <li key={r.seq}>
            <details>
              <summary>
                <span class="time">{fmtTime(r.time)}</span>
                <span class={`badge ${r.shadow ? 'shadow' : 'bad'}`}>{r.shadow ? 'shadow' : r.status}</span>
                <code class="req">{r.method} {r.path}</code>
                <span class="code">{r.code ?? ''}</span>
                <span class="muted">{r.stage} · {r.route ?? 'no route'} · {r.clientIp}{r.consumer ? ` · ${r.consumer}` : ''}</span>
              </summary>
              {r.reason && <p class="reason">Reason: {r.reason}</p>}
              <Decisions decisions={r.decisions} label={`Decision record of ${r.method} ${r.path}`} />
            </details>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Top({ title, id, entries }: { title: string; id: string; entries: { key: string; count: number }[] }) {
  return (
    <article class="card" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {entries.length === 0 ? <p class="muted">None since start.</p> : (
        <ol class="toplist" data-testid={id}>
          {entries.map((e) => <li key={e.key}><code>{e.key}</code> <span class="num">{fmtNum(e.count)}</span></li>)}
        </ol>
      )}
    </article>
  );
}
