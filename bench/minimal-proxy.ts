/**
 * The baseline: the thinnest sensible Node.js reverse proxy. A node:http server and one undici
 * Pool for the upstream; method, path, end-to-end headers and the body are forwarded, the response
 * is streamed back with pool.stream (undici writes the body straight into the ServerResponse, with
 * backpressure). Keep-alive on both sides. It does what any proxy must (drop hop-by-hop headers,
 * answer 502 when the upstream fails) and nothing else: no routing, no path normalisation, no
 * limits, no forwarding headers, no request id, no access log.
 *
 * Started by bench/proxy.ts as a child process:
 *   node bench/minimal-proxy.ts <upstream origin> [port] [pool connections]
 * Prints `READY <port>` on stdout once listening; exits when its stdin closes or on SIGTERM/SIGINT.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { exitWithParent } from './common.ts';

const origin = process.argv[2];
if (!origin) {
  process.stderr.write('usage: node bench/minimal-proxy.ts <upstream origin> [port] [pool connections]\n');
  process.exit(2);
}
const port = Number(process.argv[3] ?? 0);
const connections = Number(process.argv[4] ?? 128);

// The same pool settings as Portcullis' upstream pools (src/upstream/upstream.ts), so the two
// proxies differ in what they do per request, not in how they hold upstream connections.
const pool = new Pool(origin, {
  connections,
  pipelining: 1,
  keepAliveTimeout: 4_000,
  keepAliveMaxTimeout: 600_000,
});

/** Hop-by-hop (RFC 9110 §7.6.1) plus Host, which undici sets from the origin. Lower-case. */
const REQUEST_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const RESPONSE_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const server = http.createServer((req, res) => {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!REQUEST_HOP.has(name.toLowerCase())) headers.push(name, raw[i + 1] as string);
  }
  const cl = req.headers['content-length'];
  const hasBody = (cl !== undefined && cl !== '0') || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    {
      method: req.method as Dispatcher.HttpMethod,
      path: req.url ?? '/',
      headers,
      body: hasBody ? req : null,
    },
    ({ statusCode, headers: upstreamHeaders }) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const name in upstreamHeaders) {
        if (!RESPONSE_HOP.has(name)) out[name] = upstreamHeaders[name];
      }
      res.writeHead(statusCode, out);
      return res;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-length': '0', connection: 'close' });
        res.end();
      } else {
        res.destroy();
      }
    },
  );
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});

exitWithParent(() => {
  server.closeAllConnections();
  server.close();
  void pool.destroy();
});
