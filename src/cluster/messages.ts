/**
 * Messages between the cluster primary and its workers (node:cluster IPC, JSON). Store calls have
 * their own (src/store/cluster.ts); metrics use prom-client's (`prom-client:getMetricsReq/Res`).
 */
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
  | { pcl: 'stop' };

export type WorkerMessage =
  | { pcl: 'config?' }
  | { pcl: 'ready'; hash: string | null; addresses: BoundAddress[] }
  | { pcl: 'reload-res'; seq: number; result: ReloadResult };
