/**
 * Messages between the cluster primary and its workers (node:cluster IPC, JSON). Store calls have
 * their own (src/store/cluster.ts); metrics use prom-client's (`prom-client:getMetricsReq/Res`).
 * `live?` / `live`: the dashboard's live data (src/cluster/cluster-live.ts): the seconds `from..to`
 * (epoch seconds) and the rejections after the worker's own sequence number `after`.
 */
import type { LiveWire } from '../observability/live.ts';
import type { BoundAddress, ReloadResult } from '../server/gateway-server.ts';

/** A config as text: workers parse it themselves (their own environment for `${VAR}`). */
export interface ConfigText {
  text: string;
  baseDir: string;
  source: string;
}

export type PrimaryMessage =
  | { pcl: 'config'; config: ConfigText }
  | { pcl: 'reload'; seq: number; config: ConfigText; reason: string }
  | { pcl: 'stop' }
  | { pcl: 'live?'; id: number; from: number; to: number; after: number };

export type WorkerMessage =
  | { pcl: 'config?' }
  | { pcl: 'ready'; hash: string | null; addresses: BoundAddress[] }
  | { pcl: 'reload-res'; seq: number; result: ReloadResult }
  /** `data` null: this worker keeps no live data (no admin listener in its config). */
  | { pcl: 'live'; id: number; data: LiveWire | null };
