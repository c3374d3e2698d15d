/**
 * The benchmark upstream: a bare node:http server on 127.0.0.1 that answers every request with the
 * same 47-byte JSON. A request body (the POST case) is read to the end, and counted, before the
 * answer. `GET /__bench/stats` returns the counters, so the bench can check that bodies arrived.
 *
 * Started by bench/proxy.ts as a child process: `node bench/upstream.ts [port]`. Prints
 * `READY <port>` on stdout once listening; exits when its stdin closes (the bench went away) or on
 * SIGTERM / SIGINT.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exitWithParent, UPSTREAM_BODY } from './common.ts';

const RESPONSE_HEADERS = {
  'content-type': 'application/json',
  'content-length': String(UPSTREAM_BODY.length),
};

let requests = 0;
let bodyRequests = 0;
let bodyBytes = 0;

function answer(res: http.ServerResponse): void {
  res.writeHead(200, RESPONSE_HEADERS);
  res.end(UPSTREAM_BODY);
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.url === '/__bench/stats') {
    const body = JSON.stringify({ requests, bodyRequests, bodyBytes });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  requests++;
  if (req.method === 'GET' || req.method === 'HEAD') {
    // Node has already consumed an (unexpected) empty body; answer at once.
    answer(res);
    req.resume();
    return;
  }
  let n = 0;
  req.on('data', (chunk: Buffer) => {
    n += chunk.length;
  });
  req.on('end', () => {
    bodyRequests++;
    bodyBytes += n;
    answer(res);
  });
  req.on('error', () => res.destroy());
});

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});

exitWithParent(() => {
  server.closeAllConnections();
  server.close();
});
