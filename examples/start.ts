/**
 * `npm start`: generates a development certificate on first run (examples/certs/, never committed),
 * starts the demo upstream, then the gateway on the example config.
 */
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevCertificate } from '../src/tls/certs.ts';
import { createDemoUpstream } from './demo-upstream.ts';
import { main } from '../src/cli/main.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const certFile = path.join(here, 'certs', 'dev.pem');
const keyFile = path.join(here, 'certs', 'dev-key.pem');
if (await ensureDevCertificate(certFile, keyFile)) {
  process.stderr.write(`portcullis: generated a self-signed development certificate in ${path.relative(process.cwd(), path.dirname(certFile)) || '.'}\n`);
}

// Two demo backends: version 1 on DEMO_UPSTREAM_PORT (9001), version 2 on the next port.
const port = Number(process.env.DEMO_UPSTREAM_PORT ?? 9001);
const upstreams = [createDemoUpstream('1'), createDemoUpstream('2')];
for (const [i, upstream] of upstreams.entries()) {
  upstream.listen(port + i, '127.0.0.1');
  await once(upstream, 'listening');
  process.stderr.write(`portcullis: demo upstream v${i + 1} on http://127.0.0.1:${port + i}\n`);
}

process.env.DEMO_UPSTREAM_PORT_V2 ??= String(port + 1);
const code = await main(['start', '--config', path.join(here, 'portcullis.yaml'), ...process.argv.slice(2)]);
for (const upstream of upstreams) upstream.close();
process.exit(code);
