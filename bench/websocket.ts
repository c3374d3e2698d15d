/**
 * WebSocket throughput: echoed messages per second through the gateway (a `websocket: true` route,
 * frame headers followed in both directions) against the same `ws` echo backend directly, on
 * loopback, in one process. Each of `--connections` clients keeps `--window` messages in flight;
 * every run is bounded by `--seconds` and by `--messages`. Prints both rates and their ratio.
 *
 *   node bench/websocket.ts [--connections 8] [--window 16] [--size 128] [--seconds 5] [--messages 500000]
 *
 * Client, gateway and backend share one process and its event loop, so the absolute numbers are
 * lower than on separate cores; the ratio is what this measures.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { buildGatewayFromText } from '../src/config/gateway.ts';
import { GatewayServer } from '../src/server/gateway-server.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8' },
    window: { type: 'string', default: '16' },
    size: { type: 'string', default: '128' },
    seconds: { type: 'string', default: '5' },
    messages: { type: 'string', default: '500000' },
  },
});
const CONNECTIONS = Number(values.connections);
const WINDOW = Number(values.window);
const SIZE = Number(values.size);
const SECONDS = Number(values.seconds);
const MAX_MESSAGES = Number(values.messages);

async function startBackend(): Promise<{ port: number; close(): void }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const c of wss.clients) c.terminate();
      server.close();
    },
  };
}

/** Echo rate (messages/s) against `url`. */
async function run(url: string): Promise<{ rate: number; count: number; seconds: number }> {
  const payload = Buffer.alloc(SIZE, 0x61);
  const sockets = await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      await once(ws, 'open');
      return ws;
    }),
  );
  let received = 0;
  let sent = 0;
  let stop = false;
  const t0 = performance.now();
  const finished = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      stop = true;
      resolve();
    }, SECONDS * 1000);
    for (const ws of sockets) {
      ws.on('message', () => {
        received++;
        if (received >= MAX_MESSAGES) {
          stop = true;
          clearTimeout(timer);
          resolve();
        }
        if (!stop && sent < MAX_MESSAGES) {
          sent++;
          ws.send(payload);
        }
      });
      for (let i = 0; i < WINDOW; i++) {
        sent++;
        ws.send(payload);
      }
    }
  });
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  for (const ws of sockets) ws.terminate();
  return { rate: received / seconds, count: received, seconds };
}

const backend = await startBackend();
const gateway = await buildGatewayFromText(`
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: { targets: [http://127.0.0.1:${backend.port}] }
routes:
  - { name: ws, match: { path: /ws }, auth: public, upstream: backend, websocket: { maxMessageBytes: 1mb } }
`);
const gw = await GatewayServer.start(gateway, { logger: pino({ level: 'silent' }) });
const gwPort = gw.port('http');

console.log(`websocket echo: ${CONNECTIONS} connections × window ${WINDOW}, ${SIZE}-byte binary messages, ≤ ${SECONDS}s / ≤ ${MAX_MESSAGES} messages per run`);
// Warm-up (JIT, connection setup) is not measured.
await run(`ws://127.0.0.1:${backend.port}/ws`);
await run(`ws://127.0.0.1:${gwPort}/ws`);
const direct = await run(`ws://127.0.0.1:${backend.port}/ws`);
const through = await run(`ws://127.0.0.1:${gwPort}/ws`);
const fmt = (r: { rate: number; count: number; seconds: number }): string =>
  `${Math.round(r.rate).toLocaleString('en-US')} msg/s (${r.count.toLocaleString('en-US')} in ${r.seconds.toFixed(2)}s)`;
console.log(`direct        ${fmt(direct)}`);
console.log(`via gateway   ${fmt(through)}`);
console.log(`ratio gateway/direct: ${(through.rate / direct.rate).toFixed(3)}`);
await gw.stop(1000);
backend.close();
