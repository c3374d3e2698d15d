/**
 * gRPC through the gateway: a real @grpc/grpc-js client speaks HTTP/2 over TLS to the gateway, which
 * proxies to a real @grpc/grpc-js server over cleartext HTTP/2 (upstream protocol h2c) or HTTP/2
 * over TLS (protocol h2). Unary and server-streaming calls, grpc-status / grpc-message trailers
 * after data, `te: trailers` and the forwarding headers at the backend, an API-key route (401 from
 * the gateway is UNAUTHENTICATED for the client, the backend sees nothing), and trailers relayed to
 * an HTTP/1.1 client as a chunked trailer.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { Agent, request } from 'undici';
import { newApiKey } from '../../src/auth/api-key.ts';
import { makeCerts, startGateway, type CertFiles, type TestGateway } from '../helpers/harness.ts';

const JWT_SECRET = 'grpc-test-secret-0123456789abcdef0123456789';
const pass = (b: Buffer): Buffer => b;
const method = (name: string, responseStream: boolean, requestStream = false) => ({
  path: `/test.Orders/${name}`,
  requestStream,
  responseStream,
  requestSerialize: pass,
  requestDeserialize: pass,
  responseSerialize: pass,
  responseDeserialize: pass,
  originalName: name,
});
/** A service without .proto: messages are raw bytes. */
const SERVICE = {
  get: method('Get', false),
  list: method('List', true),
  failing: method('Failing', true),
  chat: method('Chat', true, true),
} as unknown as grpc.ServiceDefinition;

interface Backend {
  port: number;
  /** Metadata of every call that reached the backend. */
  calls: grpc.Metadata[];
  server: grpc.Server;
}

async function startBackend(credentials: grpc.ServerCredentials): Promise<Backend> {
  const calls: grpc.Metadata[] = [];
  const server = new grpc.Server();
  server.addService(SERVICE, {
    get: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls.push(call.metadata);
      cb(null, Buffer.concat([Buffer.from('order:'), call.request]));
    },
    list: async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      calls.push(call.metadata);
      for (let i = 0; i < 3; i++) {
        call.write(Buffer.from(`item-${i}`));
        await new Promise((r) => setTimeout(r, 20));
      }
      call.end();
    },
    chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      calls.push(call.metadata);
      call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('echo:'), m])));
      call.on('end', () => call.end());
    },
    failing: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      calls.push(call.metadata);
      call.write(Buffer.from('partial'));
      // After a message: grpc-status and grpc-message go out as real trailers.
      setTimeout(() => call.emit('error', { code: grpc.status.NOT_FOUND, details: 'no such order' }), 10);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, calls, server };
}

const Client = grpc.makeGenericClientConstructor(SERVICE, 'Orders');
type OrdersClient = grpc.Client & {
  get(req: Buffer, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  list(req: Buffer, md?: grpc.Metadata): grpc.ClientReadableStream<Buffer>;
  failing(req: Buffer, md?: grpc.Metadata): grpc.ClientReadableStream<Buffer>;
  chat(md?: grpc.Metadata): grpc.ClientDuplexStream<Buffer, Buffer>;
};

function unary(client: OrdersClient, body: string, md = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => client.get(Buffer.from(body), md, (err, res) => (err ? reject(err) : resolve(res as Buffer))));
}

function collect(stream: grpc.ClientReadableStream<Buffer>): Promise<{ messages: string[]; error: grpc.ServiceError | undefined }> {
  const messages: string[] = [];
  return new Promise((resolve) => {
    stream.on('data', (m: Buffer) => messages.push(m.toString()));
    stream.on('error', (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on('end', () => resolve({ messages, error: undefined }));
  });
}

describe('gRPC through the gateway', () => {
  let certs: CertFiles;
  let h2c: Backend;
  let h2: Backend;
  let gw: TestGateway;
  let client: OrdersClient;
  const key = newApiKey();
  /** A bare node:http2 cleartext server: request headers as received, and trailers of its own. */
  let raw: http2.Http2Server;
  const rawHeaders: http2.IncomingHttpHeaders[] = [];

  before(async () => {
    certs = await makeCerts({ api: ['localhost'], backend: ['localhost'] });
    h2c = await startBackend(grpc.ServerCredentials.createInsecure());
    raw = http2.createServer();
    raw.on('stream', (stream, headers) => {
      rawHeaders.push(headers);
      stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc123' }));
      stream.end('raw body');
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const backendFiles = certs.files.backend as { cert: string; key: string };
    h2 = await startBackend(grpc.ServerCredentials.createSsl(null, [{
      cert_chain: await readFile(backendFiles.cert),
      private_key: await readFile(backendFiles.key),
    }]));
    gw = await startGateway(`
server:
  https:
    host: 127.0.0.1
    port: 0
    certificates: [{ cert: ${certs.files.api?.cert}, key: ${certs.files.api?.key} }]
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
logging: { level: silent, accessLog: "off" }
authenticators:
  keys:
    type: apiKey
    consumers: [{ id: alpha, keyHash: "${key.keyHash}" }]
  hs:
    type: jwt
    issuer: https://hs.example.com/
    secret: \${JWT_SECRET}
    algorithms: [HS256]
upstreams:
  cleartext: { targets: [http://127.0.0.1:${h2c.port}], protocol: h2c, timeout: 5s }
  raw: { targets: [http://127.0.0.1:${(raw.address() as AddressInfo).port}], protocol: h2c, timeout: 5s }
  secure:
    targets: [https://127.0.0.1:${h2.port}]
    protocol: h2
    timeout: 5s
    tls: { ca: ${certs.caFile}, servername: localhost }
routes:
  - { name: raw, match: { path: /raw }, auth: public, upstream: raw }
  - { name: get, match: { path: /test.Orders/Get }, auth: [keys, hs], upstream: cleartext }
  - { name: streams, match: { path: /test.Orders/* }, auth: public, upstream: cleartext }
  - { name: over-tls, match: { host: tls.localhost, path: /test.Orders/* }, auth: public, upstream: secure }
`, { env: { JWT_SECRET: JWT_SECRET } });
    client = new Client(`127.0.0.1:${gw.httpsPort}`, grpc.credentials.createSsl(Buffer.from(certs.ca.pem)), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'localhost',
    }) as unknown as OrdersClient;
  });

  after(async () => {
    client?.close();
    await gw?.close();
    h2c?.server.forceShutdown();
    h2?.server.forceShutdown();
    raw?.close();
    await certs?.cleanup();
  });

  it('unary call with a key: the answer, and the forwarding headers at the backend', async () => {
    const md = new grpc.Metadata();
    md.set('x-api-key', key.key);
    const res = await unary(client, '42', md);
    assert.equal(res.toString(), 'order:42');
    const seen = h2c.calls.at(-1);
    assert.ok(seen);
    assert.deepEqual(seen.get('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(seen.get('x-forwarded-proto'), ['https']);
  });

  it('unary call without a key: the gateway answers 401, the client sees UNAUTHENTICATED, the backend nothing', async () => {
    const before = h2c.calls.length;
    await assert.rejects(unary(client, '42'), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAUTHENTICATED);
      return true;
    });
    assert.equal(h2c.calls.length, before);
  });

  it('unary call with a JWT (Authorization metadata) passes; a bad one is UNAUTHENTICATED', async () => {
    const token = await new SignJWT({ sub: 'svc' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://hs.example.com/')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    assert.equal((await unary(client, '7', md)).toString(), 'order:7');
    const bad = new grpc.Metadata();
    bad.set('authorization', `Bearer ${token.slice(0, -4)}AAAA`);
    await assert.rejects(unary(client, '7', bad), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
  });

  it('server streaming: every message in order, then OK', async () => {
    const { messages, error } = await collect(client.list(Buffer.from('all')));
    assert.equal(error, undefined);
    assert.deepEqual(messages, ['item-0', 'item-1', 'item-2']);
  });

  it('bidirectional streaming: each answer arrives before the next message is sent (nothing buffered)', async () => {
    const call = client.chat();
    const replies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = new Promise<Buffer>((resolve) => call.once('data', resolve));
      call.write(Buffer.from(`m${i}`));
      replies.push((await reply).toString());
    }
    const ended = new Promise((resolve) => call.once('status', resolve));
    call.end();
    const status = (await ended) as grpc.StatusObject;
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(replies, ['echo:m0', 'echo:m1', 'echo:m2']);
  });

  it('grpc-status and grpc-message trailers after data reach the client', async () => {
    const { messages, error } = await collect(client.failing(Buffer.from('x')));
    assert.deepEqual(messages, ['partial']);
    assert.equal(error?.code, grpc.status.NOT_FOUND);
    assert.equal(error?.details, 'no such order');
  });

  it('to an HTTP/2-over-TLS backend (protocol h2)', async () => {
    const tlsClient = new Client(`127.0.0.1:${gw.httpsPort}`, grpc.credentials.createSsl(Buffer.from(certs.ca.pem)), {
      'grpc.ssl_target_name_override': 'localhost',
      'grpc.default_authority': 'tls.localhost',
    }) as unknown as OrdersClient;
    try {
      const before = h2.calls.length;
      const { messages, error } = await collect(tlsClient.failing(Buffer.from('x')));
      assert.deepEqual(messages, ['partial']);
      assert.equal(error?.code, grpc.status.NOT_FOUND);
      assert.equal(error?.details, 'no such order');
      assert.equal(h2.calls.length, before + 1);
    } finally {
      tlsClient.close();
    }
  });

  it('relays the trailers to an HTTP/1.1 client as a chunked trailer', async () => {
    const agent = new Agent();
    try {
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), Buffer.from('x')]);
      const res = await request(`http://127.0.0.1:${gw.httpPort}/test.Orders/Failing`, {
        method: 'POST',
        headers: { 'content-type': 'application/grpc', te: 'trailers' },
        body: frame,
        dispatcher: agent,
      });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^application\/grpc/);
      const body = Buffer.from(await res.body.arrayBuffer());
      assert.equal(body.subarray(5).toString(), 'partial');
      assert.equal(res.trailers['grpc-status'], String(grpc.status.NOT_FOUND));
      // Percent-encoded on the wire (gRPC over HTTP/2 spec), relayed as is.
      assert.equal(res.trailers['grpc-message'], 'no%20such%20order');
    } finally {
      await agent.close();
    }
  });

  it('h2c backend: te: trailers is forwarded when the client sent it, and the backend trailers come back (HTTP/2 client)', async () => {
    const session = http2.connect(`https://127.0.0.1:${gw.httpsPort}`, { ca: certs.ca.pem, servername: 'localhost' });
    try {
      const req = session.request({ ':path': '/raw', te: 'trailers' });
      req.end();
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.once('trailers', resolve));
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      await new Promise((resolve) => req.once('end', resolve));
      assert.equal(Buffer.concat(chunks).toString(), 'raw body');
      assert.equal((await trailers)['x-checksum'], 'abc123');
      assert.equal(rawHeaders.at(-1)?.te, 'trailers');
      // Without TE: trailers from the client, the gateway does not ask for them.
      const plain = session.request({ ':path': '/raw' });
      plain.end();
      plain.resume();
      await new Promise((resolve) => plain.once('end', resolve));
      assert.equal(rawHeaders.at(-1)?.te, undefined);
    } finally {
      session.close();
    }
  });
});
