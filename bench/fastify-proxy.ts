/**
 * A peer for bench/suite.ts: fastify 5 with @fastify/http-proxy, as its README sets it up (logger
 * off, the undici pool it creates with the same size as Portcullis' pools).
 *
 *   node bench/fastify-proxy.ts <upstream origin> [port] [pool connections]
 *
 * Prints `READY <port>` on stdout once listening; exits when its stdin closes or on SIGTERM/SIGINT.
 */
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { exitWithParent } from './common.ts';

const origin = process.argv[2];
if (!origin) {
  process.stderr.write('usage: node bench/fastify-proxy.ts <upstream origin> [port] [pool connections]\n');
  process.exit(2);
}
const port = Number(process.argv[3] ?? 0);
const connections = Number(process.argv[4] ?? 128);

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
await app.register(httpProxy, {
  upstream: origin,
  undici: { connections, pipelining: 1, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 600_000 },
});
await app.listen({ host: '127.0.0.1', port });
const address = app.server.address();
process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : port}\n`);

exitWithParent(() => void app.close());
