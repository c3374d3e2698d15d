import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { makeCerts, startGateway, startUpstream, type CertFiles, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

function tlsConfig(certs: CertFiles, upstreamUrl: string, extra = ''): string {
  return `
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates:
      - { cert: ${certs.files.api?.cert}, key: ${certs.files.api?.key} }
      - { cert: ${certs.files.partners?.cert}, key: ${certs.files.partners?.key} }
      - { cert: ${certs.files.wild?.cert}, key: ${certs.files.wild?.key} }
${extra}
  http: { host: 127.0.0.1, port: 0, redirectToHttps: true }
logging: { level: silent, accessLog: "off" }
upstreams:
  backend: { targets: [${upstreamUrl}] }
routes:
  - { name: all, match: { path: /* }, auth: public, upstream: backend }
`;
}

/** The subject CN of the certificate the server presents for `servername`. */
async function presentedCn(port: number, servername: string | undefined, ca: string): Promise<string> {
  const socket = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), ca, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const cn = socket.getPeerCertificate().subject.CN;
  socket.destroy();
  return String(cn);
}

describe('TLS termination', () => {
  let certs: CertFiles;
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    certs = await makeCerts({
      api: ['api.example.com', 'localhost'],
      partners: ['partners.example.com'],
      wild: ['*.tenants.example.com'],
    });
    upstream = await startUpstream();
    gw = await startGateway(tlsConfig(certs, upstream.url));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    await certs.cleanup();
  });

  it('chooses the certificate by SNI, with the first as default', async () => {
    assert.equal(await presentedCn(gw.httpsPort, 'api.example.com', certs.ca.pem), 'api.example.com');
    assert.equal(await presentedCn(gw.httpsPort, 'partners.example.com', certs.ca.pem), 'partners.example.com');
    assert.equal(await presentedCn(gw.httpsPort, 'x.tenants.example.com', certs.ca.pem), '*.tenants.example.com');
    // a wildcard covers exactly one label
    assert.equal(await presentedCn(gw.httpsPort, 'a.b.tenants.example.com', certs.ca.pem), 'api.example.com');
    assert.equal(await presentedCn(gw.httpsPort, 'unknown.test', certs.ca.pem), 'api.example.com');
  });

  it('verifies against the CA for each SNI name (a client with hostname checks succeeds)', async () => {
    const socket = tls.connect({ port: gw.httpsPort, host: '127.0.0.1', servername: 'partners.example.com', ca: certs.ca.pem });
    await once(socket, 'secureConnect');
    assert.equal(socket.authorized, true);
    socket.destroy();
  });

  it('negotiates h2 and http/1.1 by ALPN on the same port, and serves both', async () => {
    const s1 = tls.connect({ port: gw.httpsPort, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.pem, ALPNProtocols: ['h2', 'http/1.1'] });
    await once(s1, 'secureConnect');
    assert.equal(s1.alpnProtocol, 'h2');
    s1.destroy();

    const dispatcher = new Agent({ connect: { ca: certs.ca.pem, servername: 'localhost' } });
    const res1 = await request(`https://localhost:${gw.httpsPort}/h1`, { dispatcher });
    assert.equal(res1.statusCode, 200);
    await res1.body.text();
    await dispatcher.close();

    const session = http2.connect(`https://localhost:${gw.httpsPort}`, { ca: certs.ca.pem });
    const stream = session.request({ ':path': '/h2?q=1', ':method': 'GET' });
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    stream.setEncoding('utf8');
    for await (const chunk of stream) body += chunk;
    session.close();
    assert.equal(headers[':status'], 200);
    assert.match(String(headers['strict-transport-security']), /^max-age=31536000/);
    assert.match(String(headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.deepEqual(JSON.parse(body), { ok: true, method: 'GET', url: '/h2?q=1' });
    const seen = upstream.received.at(-1);
    assert.equal(seen?.url, '/h2?q=1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'https');
    assert.equal(seen?.headers['x-forwarded-host'], `localhost:${gw.httpsPort}`);
  });

  it('sends HSTS on HTTPS responses, including errors', async () => {
    const dispatcher = new Agent({ connect: { ca: certs.ca.pem, servername: 'localhost' } });
    const res = await request(`https://localhost:${gw.httpsPort}/x/../../%2e%2e/a%2fb`, { dispatcher });
    assert.equal(res.statusCode, 400);
    assert.match(String(res.headers['strict-transport-security']), /max-age=/);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    await res.body.text();
    await dispatcher.close();
  });

  it('redirects plain HTTP to HTTPS with 308, keeping path and query', async () => {
    const res = await request(`http://127.0.0.1:${gw.httpPort}/a/b?c=d`, { headers: { host: 'api.example.com' } });
    assert.equal(res.statusCode, 308);
    assert.equal(res.headers.location, `https://api.example.com:${gw.httpsPort}/a/b?c=d`);
    await res.body.text();
    assert.equal(res.headers['strict-transport-security'], undefined);
  });

  it('refuses to redirect to a malformed host', async () => {
    const res = await request(`http://127.0.0.1:${gw.httpPort}/`, { headers: { host: 'evil.com/@x' } });
    assert.equal(res.statusCode, 400);
    assert.equal(((await res.body.json()) as { code: string }).code, 'PCL_REQUEST_BAD_HOST');
  });

  it('refuses TLS 1.1 and CBC suites; accepts an AEAD TLS 1.2 suite', async () => {
    const attempt = (opts: tls.ConnectionOptions): Promise<string> =>
      new Promise((resolve) => {
        const s = tls.connect({ port: gw.httpsPort, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ...opts });
        s.once('secureConnect', () => {
          const c = s.getCipher().name;
          s.destroy();
          resolve(`ok:${c}`);
        });
        s.once('error', (e) => resolve(`error:${(e as NodeJS.ErrnoException).code ?? e.message}`));
      });
    assert.match(await attempt({ maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), /^error:/);
    assert.match(await attempt({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }), /^error:/);
    assert.equal(await attempt({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), 'ok:ECDHE-ECDSA-AES128-GCM-SHA256');
    assert.match(await attempt({ minVersion: 'TLSv1.3' }), /^ok:TLS_/);
  });
});

describe('TLS options', () => {
  it('minVersion TLSv1.3 refuses TLS 1.2, http2: false offers only http/1.1, hsts: false drops the header', async () => {
    const certs = await makeCerts({ api: ['localhost'], partners: ['p.example.com'], wild: ['*.w.example.com'] });
    const upstream = await startUpstream();
    const gw = await startGateway(tlsConfig(certs, upstream.url, '    minVersion: TLSv1.3\n    http2: false\n    hsts: false'));
    try {
      const tls12 = await new Promise<string>((resolve) => {
        const s = tls.connect({ port: gw.httpsPort, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
        s.once('secureConnect', () => (s.destroy(), resolve('ok')));
        s.once('error', () => resolve('refused'));
      });
      assert.equal(tls12, 'refused');
      const s = tls.connect({ port: gw.httpsPort, host: '127.0.0.1', servername: 'localhost', ca: certs.ca.pem, ALPNProtocols: ['h2', 'http/1.1'] });
      await once(s, 'secureConnect');
      assert.equal(s.alpnProtocol, 'http/1.1');
      s.destroy();
      const dispatcher = new Agent({ connect: { ca: certs.ca.pem, servername: 'localhost' } });
      const res = await request(`https://localhost:${gw.httpsPort}/`, { dispatcher });
      await res.body.text();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['strict-transport-security'], undefined);
      await dispatcher.close();
    } finally {
      await gw.close();
      await upstream.close();
      await certs.cleanup();
    }
  });
});

describe('TLS without SNI', () => {
  it('a client that sends no server name (connecting by IP) gets the default certificate and is served', async () => {
    const certs = await makeCerts({ api: ['127.0.0.1', 'localhost'], partners: ['p.example.com'], wild: ['*.w.example.com'] });
    const upstream = await startUpstream();
    const gw = await startGateway(tlsConfig(certs, upstream.url));
    try {
      // An IP address as host: Node's client sends no SNI for it.
      const socket = tls.connect({ port: gw.httpsPort, host: '127.0.0.1', ca: certs.ca.pem, ALPNProtocols: ['http/1.1'] });
      await once(socket, 'secureConnect');
      assert.equal(socket.authorized, true);
      assert.equal(socket.getPeerCertificate().subject.CN, '127.0.0.1');
      socket.write('GET /no-sni HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      let text = '';
      for await (const chunk of socket) text += String(chunk);
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.equal(upstream.received.at(-1)?.url, '/no-sni');
    } finally {
      await gw.close();
      await upstream.close();
      await certs.cleanup();
    }
  });
});
