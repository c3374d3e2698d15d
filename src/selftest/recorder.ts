/**
 * The recording upstream of a self-test: one plain-HTTP server on 127.0.0.1:0 that stands in for
 * every upstream target of the config, answers 200 and remembers what reached it, keyed by the
 * marker header the battery puts on each probe.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Header carrying the probe id; the gateway forwards it untouched, so the recorder can name the probe. */
export const MARK_HEADER = 'x-portcullis-selftest';

export interface Recorded {
  mark: string;
  method: string;
  url: string;
}

export interface Recorder {
  readonly url: string;
  /** Every request that reached the recorder, in arrival order (bounded: see MAX_RECORDED). */
  readonly received: Recorded[];
  /** The requests that carried `mark`. */
  seen(mark: string): Recorded[];
  close(): Promise<void>;
}

/** A battery sends a few hundred probes at most; the cap keeps a runaway from growing memory. */
const MAX_RECORDED = 10_000;

export async function startRecorder(): Promise<Recorder> {
  const received: Recorded[] = [];
  // Oversized-header probes must be recorded when the gateway lets them through, not refused here.
  const server = http.createServer({ maxHeaderSize: 1024 * 1024, requestTimeout: 10_000 }, (req, res) => {
    const raw = req.headers[MARK_HEADER];
    const mark = Array.isArray(raw) ? raw.join(',') : raw ?? '';
    if (received.length < MAX_RECORDED) received.push({ mark, method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    const body = '{"selftest":"recorded"}';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    seen: (mark) => received.filter((r) => r.mark === mark),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
