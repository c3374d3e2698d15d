/**
 * mTLS end to end: server.https.clientCertificates (optional and required) with an `mtls`
 * authenticator that allows CN=billing-service. Client certificates from the configured CA with the
 * allowed and another CN, from another CA, with a server-only EKU, and none at all; over HTTP/1.1
 * and HTTP/2. Every rejection also asserts that nothing reached the upstream.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { createCa, createLeaf, type PemPair } from '../../src/tls/certs.ts';
import { makeCerts, startGateway, startUpstream, type CertFiles, type LoggedRequest, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

interface Result {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | undefined;
  text: string;
}

interface ClientCert {
  cert?: string;
  key?: string;
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** An HTTP/1.1 GET over TLS with the given client certificate (or none), on a fresh connection. */
async function h1get(port: number, ca: string, reqPath: string, client: ClientCert, headers: Record<string, string> = {}): Promise<Result> {
  const dispatcher = new Agent({ connect: { ca, servername: 'localhost', ...client } });
  try {
    const res = await request(`https://127.0.0.1:${port}${reqPath}`, { dispatcher, headers, headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body: parse(text), text };
  } finally {
    await dispatcher.close();
  }
}

/** An HTTP/2 GET over TLS with the given client certificate (or none), bounded. */
function h2get(port: number, ca: string, reqPath: string, client: ClientCert, headers: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost', ...client });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`HTTP/2 ${reqPath}: no answer in 5s`));
    }, 5000);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    const stream = session.request({ ':method': 'GET', ':path': reqPath, ...headers });
    let status = 0;
    let resHeaders: Record<string, string | string[] | undefined> = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      resHeaders = h as Record<string, string | string[] | undefined>;
    });
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (text += c));
    stream.on('error', fail);
    const noResponse = (): void => fail(new Error(`HTTP/2 ${reqPath}: stream closed without a response (RST ${stream.rstCode})`));
    stream.on('close', () => {
      if (status === 0) noResponse();
    });
    stream.on('end', () => {
      if (status === 0) return noResponse();
      clearTimeout(timer);
      session.close();
      resolve({ status, headers: resHeaders, body: parse(text), text });
    });
  });
}

/**
 * A raw TLS connection that sends one request once the client side of the handshake is done, and
 * reports what came back before the server closed (bounded).
 */
async function attempt(port: number, ca: string, client: ClientCert, alpn: string): Promise<{ error: string | undefined; response: string; closed: boolean }> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ALPNProtocols: [alpn], ...client });
  let error: string | undefined;
  let response = '';
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => (response += c));
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  socket.once('secureConnect', () => {
    if (alpn === 'http/1.1') socket.write('GET /public/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    else socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  });
  await new Promise<void>((resolve) => {
    socket.once('close', () => {
      closed = true;
      resolve();
    });
    setTimeout(resolve, 3000).unref();
  });
  socket.destroy();
  return { error, response, closed };
}

function config(certs: CertFiles, clientCaFile: string, upstreamUrl: string, mode: 'optional' | 'required'): string {
  return `
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates:
      - { cert: ${certs.files.gw?.cert}, key: ${certs.files.gw?.key} }
    clientCertificates: { ca: ${clientCaFile}, mode: ${mode} }
logging: { level: silent, accessLog: "off" }
authenticators:
  billing:
    type: mtls
    subjects: ["CN=billing-service"]
upstreams:
  backend: { targets: [${upstreamUrl}], timeout: 5s }
routes:
  - name: billing
    match: { path: /billing/* }
    auth: billing
    upstream: backend
    transform:
      request:
        setHeaders:
          x-consumer-id: "\${consumer.id}"
  - { name: public, match: { path: /public/* }, auth: public, upstream: backend }
`;
}

describe('mTLS: client certificates and the mtls authenticator', () => {
  let certs: CertFiles;
  let dir: string;
  let upstream: TestUpstream;
  let optional: TestGateway;
  let required: TestGateway;
  let billing: PemPair; // client CA, CN=billing-service
  let reporting: PemPair; // client CA, CN=reporting-service
  let serverEku: PemPair; // client CA, CN=billing-service, serverAuth only
  let foreign: PemPair; // another CA with the client CA's name, CN=billing-service
  let stranger: PemPair; // another CA with another name, CN=billing-service

  before(async () => {
    certs = await makeCerts({ gw: ['localhost', '127.0.0.1'] });
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-mtls-'));
    const clientCa = await createCa('Portcullis Client CA');
    const otherCa = await createCa('Portcullis Client CA'); // same name, different key
    const strangerCa = await createCa('Somebody Else CA');
    const clientCaFile = path.join(dir, 'client-ca.pem');
    await writeFile(clientCaFile, clientCa.pem);
    [billing, reporting, serverEku, foreign, stranger] = await Promise.all([
      createLeaf(clientCa, [], { commonName: 'billing-service', client: true }),
      createLeaf(clientCa, [], { commonName: 'reporting-service', client: true }),
      createLeaf(clientCa, [], { commonName: 'billing-service', client: false }),
      createLeaf(otherCa, [], { commonName: 'billing-service', client: true }),
      createLeaf(strangerCa, [], { commonName: 'billing-service', client: true }),
    ]);
    upstream = await startUpstream();
    optional = await startGateway(config(certs, clientCaFile, upstream.url, 'optional'));
    required = await startGateway(config(certs, clientCaFile, upstream.url, 'required'));
  });

  after(async () => {
    await optional?.close();
    await required?.close();
    await upstream?.close();
    await certs?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function logOf(gw: TestGateway, requestId: unknown): Promise<LoggedRequest> {
    for (let i = 0; i < 100; i++) {
      const entry = gw.log.find((l) => l.requestId === requestId);
      if (entry) return entry;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`no access-log record for ${String(requestId)}`);
  }

  for (const [proto, get] of [['HTTP/1.1', h1get], ['HTTP/2', h2get]] as const) {
    describe(`optional mode, ${proto}`, () => {
      it('a certificate from the CA with CN=billing-service: 200, ${consumer.id} = billing-service', async () => {
        const n = upstream.received.length;
        const r = await get(optional.httpsPort, certs.ca.pem, '/billing/invoices', billing, { 'x-consumer-id': 'admin' });
        assert.equal(r.status, 200, r.text);
        assert.equal(upstream.received.length, n + 1);
        assert.equal(upstream.received[n]?.headers['x-consumer-id'], 'billing-service');
      });

      const refused: [string, () => ClientCert, string, RegExp][] = [
        ['a certificate from the CA with another CN', () => reporting, 'PCL_AUTHN_INVALID_CREDENTIALS', /not allowed/],
        ['a certificate from another CA with the same name (same CN)', () => foreign, 'PCL_AUTHN_INVALID_CREDENTIALS', /not verified: CERT_SIGNATURE_FAILURE/],
        ['a certificate from another CA (same CN)', () => stranger, 'PCL_AUTHN_INVALID_CREDENTIALS', /not verified: UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
        ['a certificate from the CA without the clientAuth EKU', () => serverEku, 'PCL_AUTHN_INVALID_CREDENTIALS', /not verified: INVALID_PURPOSE/],
        ['no certificate', () => ({}), 'PCL_AUTHN_MISSING_CREDENTIALS', /no credentials/],
      ];
      for (const [name, client, code, reason] of refused) {
        it(`${name}: 401, nothing forwarded`, async () => {
          const n = upstream.received.length;
          const r = await get(optional.httpsPort, certs.ca.pem, '/billing/invoices', client());
          assert.equal(r.status, 401, r.text);
          assert.equal(r.body?.code, code);
          assert.equal(r.headers['content-type'], 'application/problem+json');
          assert.doesNotMatch(r.text, /CN=|billing|reporting|certificate|verif/i);
          assert.equal(upstream.received.length, n);
          const entry = await logOf(optional, r.headers['x-request-id']);
          assert.equal(entry.code, code);
          assert.match(String(entry.decisions.find((d) => d.stage === 'authenticate')?.detail), reason);
        });
      }

      it('no certificate, or one the mtls route refuses: a public route of the same listener still answers 200', async () => {
        for (const client of [{}, foreign, stranger, serverEku, reporting]) {
          const n = upstream.received.length;
          const r = await get(optional.httpsPort, certs.ca.pem, '/public/x', client);
          assert.equal(r.status, 200, r.text);
          assert.equal(upstream.received.length, n + 1);
        }
      });
    });
  }

  describe('required mode', () => {
    it('a certificate from the CA: the handshake succeeds and the mtls route answers 200 (HTTP/1.1 and HTTP/2)', async () => {
      const r1 = await h1get(required.httpsPort, certs.ca.pem, '/billing/x', billing);
      assert.equal(r1.status, 200, r1.text);
      const r2 = await h2get(required.httpsPort, certs.ca.pem, '/billing/x', billing);
      assert.equal(r2.status, 200, r2.text);
      // Required only means "verified by the CA": the route still checks the subject.
      const r3 = await h1get(required.httpsPort, certs.ca.pem, '/billing/x', reporting);
      assert.equal(r3.status, 401);
    });

    for (const [name, client] of [
      ['a certificate from another CA with the same name', () => foreign],
      ['a certificate from another CA', () => stranger],
      ['a certificate without the clientAuth EKU', () => serverEku],
      ['no certificate', () => ({})],
    ] as const) {
      for (const alpn of ['http/1.1', 'h2']) {
        it(`${name} (${alpn}): the connection is refused at the handshake, no request is read or forwarded`, async () => {
          const n = upstream.received.length;
          const logged = required.log.length;
          const { error, response, closed } = await attempt(required.httpsPort, certs.ca.pem, client(), alpn);
          assert.equal(response, '', 'not one byte of an HTTP answer');
          assert.equal(closed, true, 'the server closed the connection');
          // Without a certificate OpenSSL itself fails the handshake with an alert; with one that does
          // not verify, Node closes the socket as the handshake completes (the client may see no error).
          if (name === 'no certificate') assert.match(String(error), /ALERT/);
          else if (error !== undefined) assert.match(error, /ALERT|ECONNRESET|EPIPE/);
          assert.equal(upstream.received.length, n);
          assert.equal(required.log.length, logged, 'no request reached the gateway');
        });
      }
      it(`${name}: clients fail the request (HTTP/1.1 and HTTP/2)`, async () => {
        const n = upstream.received.length;
        await assert.rejects(h1get(required.httpsPort, certs.ca.pem, '/public/x', client()));
        await assert.rejects(h2get(required.httpsPort, certs.ca.pem, '/public/x', client()));
        assert.equal(upstream.received.length, n);
      });
    }
  });
});
