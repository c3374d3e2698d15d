import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, clearToken, getToken, setToken, setUnauthorizedHandler, subscribe, type Counters, type LivePoint, type Rejection, type Snapshot, type Tick } from './api.ts';
import { Overview } from './pages/overview.tsx';
import { Routes } from './pages/routes.tsx';
import { Upstreams } from './pages/upstreams.tsx';
import { Security } from './pages/security.tsx';
import { ConfigPage } from './pages/config.tsx';
import { Explain } from './pages/explain.tsx';

export const PAGES = [
  { id: 'overview', title: 'Overview' },
  { id: 'routes', title: 'Routes' },
  { id: 'upstreams', title: 'Upstreams' },
  { id: 'security', title: 'Security' },
  { id: 'config', title: 'Config' },
  { id: 'explain', title: 'Explain' },
] as const;
export type PageId = (typeof PAGES)[number]['id'];

const WINDOW = 900;
const MAX_REJECTIONS = 200;

/** The live state every page reads: the per-second series, the counters, the recent rejections. */
export interface LiveState {
  series: LivePoint[];
  counters: Counters;
  rejections: Rejection[];
  lastSeq: number;
  connected: boolean;
  /** Set when this process keeps no live data (cluster primary). */
  unavailable: string | null;
}

const EMPTY: LiveState = {
  series: [],
  counters: { routes: {}, upstreams: {}, threats: {}, topClientIps: [], topConsumers: [] },
  rejections: [],
  lastSeq: 0,
  connected: false,
  unavailable: null,
};

function pageFromHash(): PageId {
  const id = location.hash.replace(/^#\/?/, '');
  return (PAGES.find((p) => p.id === id)?.id ?? 'overview') as PageId;
}

export function App() {
  const [authed, setAuthed] = useState(getToken() !== null);
  const [page, setPage] = useState<PageId>(pageFromHash());

  useEffect(() => {
    setUnauthorizedHandler(() => {
      clearToken();
      setAuthed(false);
    });
    const onHash = () => setPage(pageFromHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  if (!authed) return <Login onLogin={() => setAuthed(true)} />;
  return <Shell page={page} onLogout={() => { clearToken(); setAuthed(false); }} />;
}

function Login({ onLogin }: { onLogin: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const token = input.current?.value.trim() ?? '';
    if (token === '') return;
    setBusy(true);
    setError(null);
    try {
      await api('/config', { token });
      setToken(token);
      onLogin();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'Wrong token.' : `Cannot reach the admin API (${(err as Error).message}).`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} class="card login-card" aria-labelledby="login-title">
        <h1 id="login-title">Portcullis</h1>
        <p class="muted">Admin dashboard. The token is kept for this browser session only.</p>
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" ref={input} required />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

function Shell({ page, onLogout }: { page: PageId; onLogout: () => void }) {
  const [live, setLive] = useState<LiveState>(EMPTY);
  const seq = useRef(0);
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => {
    let stop: (() => void) | undefined;
    let cancelled = false;
    (async () => {
      try {
        const snap = await api<Snapshot>('/live');
        if (cancelled) return;
        seq.current = snap.lastSeq;
        setLive({ series: snap.series, counters: snap, rejections: snap.rejections, lastSeq: snap.lastSeq, connected: false, unavailable: null });
      } catch (err) {
        if (!cancelled) setLive((s) => ({ ...s, unavailable: (err as Error).message }));
        return;
      }
      stop = subscribe(
        () => seq.current,
        (t: Tick) => {
          seq.current = t.lastSeq;
          setLive((s) => {
            const last = s.series[s.series.length - 1];
            const series = last !== undefined && last.t >= t.point.t ? s.series : [...s.series, t.point].slice(-WINDOW);
            const rejections = t.rejections.length > 0 ? [...t.rejections.slice().reverse(), ...s.rejections].slice(0, MAX_REJECTIONS) : s.rejections;
            return { ...s, series, rejections, counters: t, lastSeq: t.lastSeq, connected: true };
          });
        },
        (connected) => setLive((s) => ({ ...s, connected })),
      );
    })();
    return () => {
      cancelled = true;
      stop?.();
    };
  }, []);

  useEffect(() => {
    const title = PAGES.find((p) => p.id === page)?.title ?? '';
    document.title = `${title} · Portcullis`;
  }, [page]);

  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); mainRef.current?.focus(); }}>Skip to content</a>
      <header class="top">
        <span class="brand">Portcullis</span>
        <nav aria-label="Dashboard pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.id}>
                <a href={`#/${p.id}`} aria-current={p.id === page ? 'page' : undefined}>{p.title}</a>
              </li>
            ))}
          </ul>
        </nav>
        <span class={`status ${live.connected ? 'ok' : 'off'}`} role="status" aria-live="polite">{live.connected ? 'live' : 'connecting…'}</span>
        {live.counters.workers && <Workers {...live.counters.workers} />}
        <button type="button" class="link" onClick={onLogout}>Sign out</button>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {live.unavailable && page !== 'config' && page !== 'explain' && <p class="warn" role="alert">Live data: {live.unavailable}</p>}
        {page === 'overview' && <Overview live={live} />}
        {page === 'routes' && <Routes live={live} />}
        {page === 'upstreams' && <Upstreams live={live} />}
        {page === 'security' && <Security live={live} />}
        {page === 'config' && <ConfigPage />}
        {page === 'explain' && <Explain />}
      </main>
    </>
  );
}

/** Cluster primary: how many workers' live data the numbers hold (all of them, or some that did not answer in time). */
function Workers({ answered, total }: { answered: number; total: number }) {
  const partial = answered < total;
  return (
    <span class={`workers${partial ? ' partial' : ''}`} id="live-workers" title={partial ? `Live data from ${answered} of ${total} workers: the others did not answer within 1 s` : `Live data merged from all ${total} workers`}>
      {answered}/{total} workers
    </span>
  );
}

/** Polls `path` every `ms` while mounted; `reload()` fetches now. */
export function usePoll<T>(path: string, ms: number): { data: T | undefined; error: string | null; reload: () => Promise<void> } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const alive = useRef(true);
  const reload = async () => {
    try {
      const v = await api<T>(path);
      if (alive.current) {
        setData(v);
        setError(null);
      }
    } catch (err) {
      if (alive.current) setError((err as Error).message);
    }
  };
  useEffect(() => {
    alive.current = true;
    void reload();
    const timer = ms > 0 ? setInterval(() => void reload(), ms) : undefined;
    return () => {
      alive.current = false;
      if (timer !== undefined) clearInterval(timer);
    };
  }, [path, ms]);
  return { data, error, reload };
}
