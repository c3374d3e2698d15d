/**
 * How probes are sent: ordinary requests through undici, byte-exact ones (smuggling, oversize,
 * slow heads) over a raw socket. Every call has a deadline.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Agent, request } from 'undici';

export interface ProbeTarget {
  port: number;
  https: boolean;
}

export interface ProbeAnswer {
  /** 0: no HTTP answer (connection refused, reset, timed out). */
  status: number;
  code: string | undefined;
  error?: string;
}

/** A probe that gets no answer within this is reported as such (the gateway under test is local). */
export const PROBE_TIMEOUT_MS = 5000;

export function createAgent(): Agent {
  return new Agent({
    connect: { rejectUnauthorized: false, timeout: PROBE_TIMEOUT_MS },
    headersTimeout: PROBE_TIMEOUT_MS,
    bodyTimeout: PROBE_TIMEOUT_MS,
    connections: 8,
  });
}

export async function send(
  agent: Agent,
  target: ProbeTarget,
  req: { method: string; path: string; headers: Record<string, string>; body?: string },
): Promise<ProbeAnswer> {
  const origin = `${target.https ? 'https' : 'http'}://127.0.0.1:${target.port}`;
  try {
    const res = await request(`${origin}${req.path}`, {
      method: req.method as 'GET',
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      dispatcher: agent,
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    const text = await res.body.text();
    return { status: res.statusCode, code: problemCode(text) };
  } catch (err) {
    return { status: 0, code: undefined, error: (err as Error).message };
  }
}

function problemCode(text: string): string | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `payload` as is and reads until the server closes or `waitMs` passes (then gives up). */
export async function sendRaw(target: ProbeTarget, payload: string, waitMs = 1500): Promise<ProbeAnswer & { closed: boolean }> {
  const socket: net.Socket = target.https
    ? tls.connect({ port: target.port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    : net.connect({ port: target.port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    socket.once('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
    socket.once(target.https ? 'secureConnect' : 'connect', () => socket.write(payload));
  });
  socket.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
  const body = text.indexOf('\r\n\r\n');
  return { status, code: body === -1 ? undefined : problemCode(text.slice(body + 4)), closed };
}
