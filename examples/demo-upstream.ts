/**
 * The demo backend behind the example config: answers every request with a JSON echo of what it
 * received (method, path, the headers the gateway set), so you can see what a backend gets.
 */
import http from 'node:http';

export function createDemoUpstream(version = '1'): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        service: 'demo-orders',
        version,
        method: req.method,
        path: req.url,
        receivedBytes: Buffer.concat(chunks).length,
        forwardedFor: req.headers['x-forwarded-for'],
        forwardedProto: req.headers['x-forwarded-proto'],
        requestId: req.headers['x-request-id'],
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        // The gateway strips these so clients do not learn the backend's software.
        server: 'demo-upstream/1.0',
        'x-powered-by': 'node',
      });
      res.end(body);
    });
  });
}

if (import.meta.main) {
  const port = Number(process.env.DEMO_UPSTREAM_PORT ?? 9001);
  createDemoUpstream(process.env.DEMO_VERSION ?? '1').listen(port, '127.0.0.1', () => {
    process.stderr.write(`demo upstream on http://127.0.0.1:${port}\n`);
  });
}
