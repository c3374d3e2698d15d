import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Decisions } from './decisions.tsx';
import type { DecisionEntry } from '../api.ts';

interface ExplainResult {
  request: { method: string; host: string; path: string; clientIp: string };
  route: string | null;
  outcome: 'forward' | 'reject';
  status: number;
  code: string | null;
  upstream: string | null;
  identity: { authenticator: string; subject?: string; consumer?: string } | null;
  decisions: DecisionEntry[];
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** `Name: value` lines → an object (repeated names become lists). */
function parseHeaders(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (line.trim() === '' || i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export function Explain() {
  const [result, setResult] = useState<ExplainResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const body: Record<string, unknown> = { method: String(f.get('method')), path: String(f.get('path') ?? '').trim() || '/' };
    const headers = parseHeaders(String(f.get('headers') ?? ''));
    const host = String(f.get('host') ?? '').trim();
    if (host !== '') headers.host = host;
    if (Object.keys(headers).length > 0) body.headers = headers;
    const clientIp = String(f.get('clientIp') ?? '').trim();
    if (clientIp !== '') body.clientIp = clientIp;
    const reqBody = String(f.get('body') ?? '');
    if (reqBody !== '') body.body = reqBody;
    setBusy(true);
    setError(null);
    try {
      setResult(await api<ExplainResult>('/explain', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }));
    } catch (err) {
      setResult(null);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="explain-title">
      <h1 id="explain-title">Explain</h1>
      <p class="muted">Describe a request: the gateway runs it through its pipeline (nothing is sent to a backend, no limit is charged) and shows its decision record.</p>
      <form class="card explain" onSubmit={submit}>
        <div class="row">
          <label>Method
            <select name="method">{METHODS.map((m) => <option key={m}>{m}</option>)}</select>
          </label>
          <label class="grow">Path and query
            <input name="path" placeholder="/" pattern="/.*" />
          </label>
        </div>
        <div class="row">
          <label class="grow">Host <input name="host" placeholder="localhost" /></label>
          <label class="grow">Client IP <input name="clientIp" placeholder="127.0.0.1" /></label>
        </div>
        <label>Headers (one <code>Name: value</code> a line)
          <textarea name="headers" rows={3} spellcheck={false} />
        </label>
        <label>Body
          <textarea name="body" rows={3} spellcheck={false} />
        </label>
        <button type="submit" disabled={busy}>{busy ? 'Explaining…' : 'Explain'}</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {result && (
        <article class="card" aria-labelledby="explain-result-title" data-testid="explain-result">
          <h2 id="explain-result-title">
            <span class={`badge ${result.outcome === 'forward' ? 'good' : 'bad'}`}>{result.outcome === 'forward' ? 'forwarded' : 'rejected'}</span> {result.status} {result.code ?? ''}
          </h2>
          <dl class="kv">
            <dt>Request</dt><dd><code>{result.request.method} {result.request.host}{result.request.path}</code> from {result.request.clientIp}</dd>
            <dt>Route</dt><dd>{result.route ?? 'none'}</dd>
            <dt>Upstream</dt><dd>{result.upstream ?? '–'}</dd>
            <dt>Identity</dt><dd>{result.identity ? `${result.identity.authenticator}${result.identity.consumer ? ` · ${result.identity.consumer}` : ''}` : '–'}</dd>
          </dl>
          <Decisions decisions={result.decisions} label="Decision record" />
        </article>
      )}
    </section>
  );
}
