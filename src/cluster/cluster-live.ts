/**
 * GET /live and GET /events in a cluster primary (`server.workers` > 1). The primary serves no
 * traffic: each worker keeps its own LiveRecorder, and the primary asks every ready worker for its
 * data over IPC (`live?` → `live`, src/cluster/messages.ts), waits at most LIVE_WAIT_MS, and merges
 * what arrived (src/observability/live-merge.ts); `workers: { answered, total }` says how many
 * workers' data it holds. A worker that does not answer in time is left out of that collection.
 *
 * Collections run one at a time (a GET /live arriving during a tick's collection waits for it); the
 * admin listener asks once a second for every open /events stream together.
 *
 * Recent rejections: the primary keeps its own ring of the last RECENT_REJECTIONS, numbered with
 * its own sequence (what `lastSeq` and `?after=` refer to in the primary). Each collection asks each
 * worker for the rejections after the worker's last one the primary holds (a cursor per worker
 * process), so a rejection is taken once, and one in an answer that came too late is asked again
 * next time. A restarted worker is a new process: its cursor starts at 0.
 */
import cluster, { type Worker } from 'node:cluster';
import { mergeLive, mergeRejections, type MergedLive } from '../observability/live-merge.ts';
import { RECENT_REJECTIONS, WINDOW_SECONDS, type LiveSnapshot, type LiveSource, type LiveTick, type LiveWire, type RejectionEntry } from '../observability/live.ts';
import type { PrimaryMessage, WorkerMessage } from './messages.ts';

/** How long a collection waits for the workers' answers. */
export const LIVE_WAIT_MS = 1_000;

export interface ClusterLiveState {
  /** server.workers: the `total` of `workers: { answered, total }`. */
  configured: number;
  /** The workers to ask (ready, connected). */
  workers(): Worker[];
}

interface Collected {
  merged: MergedLive;
  answered: number;
}

export class ClusterLive implements LiveSource {
  private readonly state: ClusterLiveState;
  private readonly waitMs: number;
  private id = 0;
  /** The collection under way (collections run one at a time). */
  private queue: Promise<unknown> = Promise.resolve();
  /** worker.id → the worker's sequence number of the last rejection taken from it. */
  private readonly cursors = new Map<number, number>();
  /** The last RECENT_REJECTIONS rejections, by the primary's sequence number (oldest first). */
  private readonly journal: RejectionEntry[] = [];
  private seq = 0;

  constructor(state: ClusterLiveState, options: { waitMs?: number } = {}) {
    this.state = state;
    this.waitMs = options.waitMs ?? LIVE_WAIT_MS;
  }

  get lastSeq(): number {
    return this.seq;
  }

  async snapshot(): Promise<LiveSnapshot> {
    const to = Math.floor(Date.now() / 1000) - 1;
    const { merged, answered } = await this.collect(to - WINDOW_SECONDS + 2, to);
    return {
      now: Date.now(),
      windowSeconds: WINDOW_SECONDS,
      series: merged.series,
      routes: merged.routes,
      upstreams: merged.upstreams,
      rejections: mergeRejections([this.journal]),
      topClientIps: merged.topClientIps,
      topConsumers: merged.topConsumers,
      threats: merged.threats,
      lastSeq: this.seq,
      workers: { answered, total: this.state.configured },
    };
  }

  async ticks(): Promise<(after: number) => LiveTick> {
    const t = Math.floor(Date.now() / 1000) - 1;
    const { merged, answered } = await this.collect(t, t);
    const journal = this.journal.slice();
    const lastSeq = this.seq;
    const workers = { answered, total: this.state.configured };
    return (after) => ({
      point: merged.series[0] ?? { t, requests: 0, errors: 0, p50: null, p99: null, rejections: {} },
      routes: merged.routes,
      upstreams: merged.upstreams,
      threats: merged.threats,
      topClientIps: merged.topClientIps,
      topConsumers: merged.topConsumers,
      rejections: after >= lastSeq ? [] : journal.filter((e) => e.seq > after),
      lastSeq,
      workers,
    });
  }

  /** One collection of the seconds `from..to`, after the one under way. */
  private collect(from: number, to: number): Promise<Collected> {
    const run = (): Promise<Collected> => this.ask(from, to);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async ask(from: number, to: number): Promise<Collected> {
    const id = ++this.id;
    const targets = this.state.workers();
    const ids = new Set(targets.map((w) => w.id));
    for (const k of this.cursors.keys()) if (!ids.has(k)) this.cursors.delete(k);
    const parts: LiveWire[] = [];
    const batch: RejectionEntry[][] = [];
    await new Promise<void>((resolve) => {
      let waiting = targets.length;
      const cursors = this.cursors;
      const timer = setTimeout(finish, this.waitMs);
      function finish(): void {
        clearTimeout(timer);
        cluster.off('message', onMessage);
        resolve();
      }
      function onMessage(worker: Worker, m: WorkerMessage | null): void {
        if (m === null || typeof m !== 'object' || m.pcl !== 'live' || m.id !== id || !ids.has(worker.id)) return;
        ids.delete(worker.id); // one answer per worker
        const data = m.data;
        if (data !== null && typeof data === 'object' && Array.isArray(data.points)) {
          parts.push(data);
          if (Array.isArray(data.rejections) && data.rejections.length > 0) batch.push(data.rejections);
          cursors.set(worker.id, data.lastSeq);
        }
        if (--waiting === 0) finish();
      }
      cluster.on('message', onMessage);
      for (const w of targets) {
        let sent = false;
        try {
          if (w.isConnected()) {
            w.send({ pcl: 'live?', id, from, to, after: this.cursors.get(w.id) ?? 0 } satisfies PrimaryMessage);
            sent = true;
          }
        } catch {
          // going away: left out
        }
        if (!sent) {
          ids.delete(w.id);
          waiting--;
        }
      }
      if (waiting === 0) finish();
    });
    this.absorb(batch);
    return { merged: mergeLive(parts, from, to), answered: parts.length };
  }

  /** New rejections (each worker's oldest first) into the ring, oldest first by time, numbered by the primary. */
  private absorb(batch: readonly RejectionEntry[][]): void {
    if (batch.length === 0) return;
    const fresh = mergeRejections(batch, RECENT_REJECTIONS).reverse();
    for (const e of fresh) this.journal.push({ ...e, seq: ++this.seq });
    if (this.journal.length > RECENT_REJECTIONS) this.journal.splice(0, this.journal.length - RECENT_REJECTIONS);
  }
}
