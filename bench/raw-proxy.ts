/**
 * A reference point for bench/suite.ts, not a usable proxy: node:http for the client side and a
 * hand-written HTTP/1.1 client on plain net.Socket keep-alive connections for the upstream side
 * (the request head written as one string together with a buffered body, the response parsed with
 * indexOf and handed to writeHead as a flat array). It understands only what the bench's backend
 * sends (Content-Length bodies, no chunked encoding, no 1xx, no trailers) and has no timeouts: it
 * measures how much of a Node proxy's cost is the undici client rather than Node itself.
 *
 *   node bench/raw-proxy.ts <upstream origin> [port]
 *
 * Prints `READY <port>` on stdout once listening; exits when its stdin closes or on SIGTERM/SIGINT.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { exitWithParent } from './common.ts';

const origin = process.argv[2];
if (!origin) {
  process.stderr.write('usage: node bench/raw-proxy.ts <upstream origin> [port]\n');
  process.exit(2);
}
const upstream = new URL(origin);
const upPort = Number(upstream.port);
const upHost = upstream.host;
const port = Number(process.argv[3] ?? 0);

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);
const CRLFCRLF = Buffer.from('\r\n\r\n');

class Conn {
  readonly socket: net.Socket;
  buf: Buffer | null = null;
  res: http.ServerResponse | null = null;
  constructor() {
    this.socket = net.connect(upPort, upstream.hostname);
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', () => this.fail());
    this.socket.on('close', () => this.fail());
  }
  fail(): void {
    const i = idle.indexOf(this);
    if (i !== -1) idle.splice(i, 1);
    const res = this.res;
    this.res = null;
    if (res && !res.headersSent) {
      res.writeHead(502, { 'content-length': '0' });
      res.end();
    } else res?.destroy();
  }
  onData(d: Buffer): void {
    const buf = this.buf === null ? d : Buffer.concat([this.buf, d]);
    const end = buf.indexOf(CRLFCRLF);
    if (end === -1) {
      this.buf = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end);
    const lines = head.split('\r\n');
    const status = Number((lines[0] as string).slice(9, 12));
    const headers: string[] = [];
    let length = 0;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      const lower = name.toLowerCase();
      if (lower === 'content-length') length = Number(value);
      if (HOP.has(lower)) continue;
      headers.push(name, value);
    }
    if (buf.length < end + 4 + length) {
      this.buf = buf;
      return;
    }
    this.buf = null;
    const res = this.res as http.ServerResponse;
    this.res = null;
    res.writeHead(status, headers);
    res.end(buf.subarray(end + 4, end + 4 + length));
    idle.push(this);
  }
}
const idle: Conn[] = [];

function send(head: string, body: Buffer | null, res: http.ServerResponse): void {
  const conn = idle.pop() ?? new Conn();
  conn.res = res;
  if (body) {
    conn.socket.cork();
    conn.socket.write(head, 'latin1');
    conn.socket.write(body);
    conn.socket.uncork();
  } else conn.socket.write(head, 'latin1');
}

const server = http.createServer((req, res) => {
  const raw = req.rawHeaders;
  let head = `${req.method} ${req.url} HTTP/1.1\r\nhost: ${upHost}\r\n`;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!HOP.has(name.toLowerCase())) head += `${name}: ${raw[i + 1] as string}\r\n`;
  }
  const cl = req.headers['content-length'];
  if (cl === undefined || cl === '0') {
    send(`${head}\r\n`, null, res);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => send(`${head}\r\n`, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), res));
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});

exitWithParent(() => {
  server.closeAllConnections();
  server.close();
});
