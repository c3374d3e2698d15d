/**
 * Test harness: real upstream servers on port 0 that record what they received, a gateway started
 * in-process from YAML text, generated certificates, and a raw-socket client for byte-exact tests.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { buildGatewayFromText } from '../../src/config/gateway.ts';
import type { DecisionEntry, RequestContext } from '../../src/pipeline/context.ts';
import { GatewayServer } from '../../src/server/gateway-server.ts';
import type { AccessLog } from '../../src/observability/logger.ts';
import { createCa, createLeaf, type Issuer } from '../../src/tls/certs.ts';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface TestUpstream {
  port: number;
  url: string;
  received: Received[];
  server: http.Server;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

const defaultHandler: UpstreamHandler = (req, res) => {
  const body = JSON.stringify({ ok: true, method: req.method, url: req.url });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

/** An upstream that records every request (with its whole body) before calling `handler`. */
export async function startUpstream(handler: UpstreamHandler = defaultHandler, options: { stream?: boolean } = {}): Promise<TestUpstream> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    if (options.stream) {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) });
      handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    server,
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

export interface TestGateway {
  server: GatewayServer;
  /** Access-log records, one per finished request. */
  log: LoggedRequest[];
  httpsPort: number;
  httpPort: number;
  close(): Promise<void>;
}

export interface LoggedRequest {
  requestId: string;
  route: string | undefined;
  upstream: string | undefined;
  status: number;
  code: string | undefined;
  clientIp: string;
  path: string;
  /** The stage decisions (shadow-deny records what a shadow route would have rejected). */
  decisions: DecisionEntry[];
}

/** Builds the gateway from YAML and starts it; listeners should use port 0. */
export async function startGateway(
  yaml: string,
  options: { env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): Promise<TestGateway> {
  const gateway = await buildGatewayFromText(yaml, {
    env: { ...process.env, ...options.env },
    ...(options.baseDir ? { baseDir: options.baseDir } : {}),
  });
  const log: LoggedRequest[] = [];
  const accessLog: AccessLog = {
    write(ctx: RequestContext) {
      log.push({
        requestId: ctx.requestId,
        route: ctx.route?.name,
        upstream: ctx.upstream?.name,
        status: ctx.status,
        code: ctx.errorCode,
        clientIp: ctx.clientIp,
        path: ctx.path,
        decisions: [...ctx.decisions],
      });
    },
    flush: async () => {},
  };
  const server = await GatewayServer.start(gateway, { logger: pino({ level: 'silent' }), accessLog });
  const addresses = server.addresses();
  return {
    server,
    log,
    httpsPort: addresses.find((a) => a.name === 'https')?.port ?? 0,
    httpPort: addresses.find((a) => a.name === 'http')?.port ?? 0,
    close: () => server.stop(2000),
  };
}

/** A plain-HTTP gateway config in front of `upstreamUrl` with `routes` (YAML list items) and extra server keys. */
export function plainConfig(upstreamUrl: string, routes?: string, serverExtra = ''): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
${serverExtra}
logging: { level: silent, accessLog: "off" }
upstreams:
  backend:
    targets: [${upstreamUrl}]
    timeout: 5s
routes:
${routes ?? `  - name: all
    match: { path: /* }
    auth: public
    upstream: backend`}
`;
}

export interface CertFiles {
  dir: string;
  ca: Issuer;
  caFile: string;
  /** name → { cert, key } file paths */
  files: Record<string, { cert: string; key: string }>;
  cleanup(): Promise<void>;
}

/** Generates a CA and one leaf per entry of `leaves` (name → SAN list) into a temp directory. */
export async function makeCerts(leaves: Record<string, string[]>): Promise<CertFiles> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-certs-'));
  const ca = await createCa();
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, ca.pem);
  const files: Record<string, { cert: string; key: string }> = {};
  for (const [name, sans] of Object.entries(leaves)) {
    const pair = await createLeaf(ca, sans);
    const cert = path.join(dir, `${name}.pem`);
    const key = path.join(dir, `${name}-key.pem`);
    await writeFile(cert, pair.cert);
    await writeFile(key, pair.key);
    files[name] = { cert, key };
  }
  return { dir, ca, caFile, files, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface RawResponse {
  /** Everything the server sent before closing (or before the timeout). */
  text: string;
  status: number;
  closed: boolean;
}

/**
 * Writes raw bytes and reads until the server closes or `waitMs` passes: for smuggling and
 * framing tests that no well-behaved client would send.
 */
export async function rawRequest(
  port: number,
  payload: string | Buffer,
  options: { tls?: boolean; servername?: string; waitMs?: number; ca?: string } = {},
): Promise<RawResponse> {
  const socket: net.Socket = options.tls
    ? tls.connect({ port, host: '127.0.0.1', servername: options.servername ?? 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    : net.connect({ port, host: '127.0.0.1' });
  await once(socket, options.tls ? 'secureConnect' : 'connect');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const done = new Promise<void>((resolve) => {
    socket.once('close', () => {
      closed = true;
      resolve();
    });
    setTimeout(resolve, options.waitMs ?? 1500).unref();
  });
  socket.write(payload);
  await done;
  socket.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  return { text, status, closed };
}

/** Parses the JSON body of the first response in a raw response text. */
export function rawJsonBody(text: string): Record<string, unknown> | undefined {
  const start = text.indexOf('\r\n\r\n');
  if (start === -1) return undefined;
  try {
    return JSON.parse(text.slice(start + 4)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits what the server sent into HTTP/1 responses (Content-Length or chunked bodies). */
export function parseResponses(text: string): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    rest = rest.slice(end + 4);
    let body = '';
    if (status >= 200 && headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      body = rest.slice(0, len);
      rest = rest.slice(len);
    } else if (status >= 200 && headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const eol = rest.indexOf('\r\n');
        const size = Number.parseInt(rest.slice(0, eol), 16);
        rest = rest.slice(eol + 2);
        if (!(size > 0)) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else if (status >= 200) {
      body = rest;
      rest = '';
    }
    out.push({ status, headers, body });
  }
  return out;
}

export function problemCode(res: ParsedResponse | undefined): string | undefined {
  if (!res) return undefined;
  assert.equal(res.headers['content-type'], 'application/problem+json', 'a rejection is application/problem+json');
  return (JSON.parse(res.body) as { code?: string }).code;
}

export interface UpstreamHead {
  line: string;
  /** The whole request arrived (the body ended properly). */
  complete: boolean;
  /** The connection closed before the request was complete. */
  aborted: boolean;
}

/** Every request head the upstream sees, complete or not (the harness records only complete requests). */
export function watchHeads(upstream: TestUpstream): UpstreamHead[] {
  const heads: UpstreamHead[] = [];
  upstream.server.on('request', (req: http.IncomingMessage) => {
    const head: UpstreamHead = { line: `${req.method} ${req.url}`, complete: false, aborted: false };
    heads.push(head);
    req.once('end', () => (head.complete = true));
    req.once('close', () => (head.aborted = !req.complete));
  });
  return heads;
}

