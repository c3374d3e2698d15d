import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { usePoll } from '../app.tsx';

interface ReloadResult { ok: boolean; at: string; reason: string; hash: string | null; errors: { path: string; message: string }[]; restartNeeded: string[] }
interface ConfigView { hash: string | null; source: string | null; lastReload: ReloadResult | null; config: unknown }

export function ConfigPage() {
  const { data, error, reload } = usePoll<ConfigView>('/config', 5000);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const reloadFile = async () => {
    setBusy(true);
    setResult(null);
    try {
      const r = await api<ReloadResult>('/config/reload', { method: 'POST' });
      setResult(`Reloaded: hash ${r.hash?.slice(0, 12) ?? '–'}.`);
    } catch (err) {
      setResult(err instanceof ApiError && err.status === 422 ? 'The reload was rejected: the running config stays (errors below).' : `Reload failed: ${(err as Error).message}`);
    } finally {
      setBusy(false);
      await reload();
    }
  };
  const last = data?.lastReload ?? null;
  return (
    <section aria-labelledby="config-title">
      <h1 id="config-title">Config</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="grid">
        <article class="card" aria-labelledby="in-effect-title">
          <h2 id="in-effect-title">In effect</h2>
          <dl class="kv">
            <dt>Hash (SHA-256)</dt><dd><code class="hash" data-testid="config-hash">{data?.hash ?? '–'}</code></dd>
            <dt>Source</dt><dd><code>{data?.source ?? '–'}</code></dd>
          </dl>
          <button type="button" onClick={() => void reloadFile()} disabled={busy || data?.source === '<inline>'}>{busy ? 'Reloading…' : 'Reload from file'}</button>
          {result && <p role="status">{result}</p>}
        </article>
        <article class="card" aria-labelledby="last-reload-title" data-testid="last-reload">
          <h2 id="last-reload-title">Last reload</h2>
          {last === null ? <p class="muted">None since start.</p> : (
            <>
              <dl class="kv">
                <dt>At</dt><dd>{new Date(last.at).toLocaleString('en-GB')}</dd>
                <dt>Reason</dt><dd>{last.reason}</dd>
                <dt>Result</dt><dd><span class={`badge ${last.ok ? 'good' : 'bad'}`}>{last.ok ? 'applied' : 'rejected'}</span></dd>
                {last.restartNeeded.length > 0 && <><dt>Needs a restart</dt><dd>{last.restartNeeded.join(', ')}</dd></>}
              </dl>
              {last.errors.length > 0 && (
                <div role="alert">
                  <h3>Errors ({last.errors.length})</h3>
                  <ul class="errors" data-testid="reload-errors">
                    {last.errors.map((e, i) => <li key={i}><code>{e.path || '(root)'}</code>: {e.message}</li>)}
                  </ul>
                </div>
              )}
            </>
          )}
        </article>
      </div>
      <h2 id="config-json-title">Config (secrets redacted)</h2>
      <pre class="config" tabIndex={0} aria-labelledby="config-json-title">{data ? JSON.stringify(data.config, null, 2) : ''}</pre>
    </section>
  );
}
