/**
 * W3C trace context and OTLP export, end to end: a local OTLP/HTTP collector (a plain HTTP server
 * that records what the OpenTelemetry exporter posts), a recording upstream, requests over loopback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers/harness.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number; doubleValue?: number } }[];
  events?: { name: string; attributes: { key: string; value: { stringValue?: string } }[] }[];
  status?: { code?: number };
}

interface Collector {
  url: string;
  spans: OtlpSpan[];
  resources: unknown[];
  close(): Promise<void>;
}

async function startCollector(): Promise<Collector> {
  const spans: OtlpSpan[] = [];
  const resources: unknown[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.method === 'POST') {
        const doc = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of doc.resourceSpans) {
          resources.push(rs.resource);
          for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    spans,
    resources,
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function config(upstreamUrl: string, collectorUrl: string, extra: { trusted?: boolean; ratio?: number }): string {
  return `
server:
  http: { host: 127.0.0.1, port: 0, redirectToHttps: false }
  ${extra.trusted ? 'trustedProxies: [127.0.0.1]' : ''}
logging: { level: silent, accessLog: "off" }
tracing:
  otlpEndpoint: ${collectorUrl}
  sampleRatio: ${extra.ratio ?? 1}
  serviceName: gw-under-test
upstreams:
  backend: { targets: [${upstreamUrl}], timeout: 5s }
routes:
  - name: traced
    match: { path: /traced/* }
    auth: public
    upstream: backend
`;
}

const TP_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
const attr = (s: OtlpSpan, key: string): unknown => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.doubleValue);
};

describe('tracing', () => {
  let upstream: TestUpstream;
  let collector: Collector;

  before(async () => {
    upstream = await startUpstream();
    collector = await startCollector();
  });
  after(async () => {
    await upstream?.close();
    await collector?.close();
  });

  it('from an untrusted client: its traceparent is ignored, a new trace is started, the backend gets it and the span reaches the collector', async () => {
    const gw: TestGateway = await startGateway(config(upstream.url, collector.url, {}));
    const spoofed = '00-11111111111111111111111111111111-2222222222222222-01';
    try {
      const res = await request(`http://127.0.0.1:${gw.httpPort}/traced/a?x=1`, { headers: { traceparent: spoofed, tracestate: 'evil=1' } });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    } finally {
      await gw.close(); // flushes the exporter
    }
    const got = upstream.received.at(-1);
    assert.ok(got);
    const tp = TP_RE.exec(got.headers.traceparent as string);
    assert.ok(tp, `traceparent ${got.headers.traceparent}`);
    assert.notEqual(tp[1], '11111111111111111111111111111111', 'the client cannot choose the trace');
    assert.equal(tp[3], '01');
    assert.equal(got.headers.tracestate, undefined, 'an untrusted tracestate is dropped');
    const span = collector.spans.find((s) => s.traceId === tp[1]);
    assert.ok(span, `span of trace ${tp[1]} exported (got ${collector.spans.length})`);
    assert.equal(span.spanId, tp[2], "the backend's parent is the gateway's span");
    assert.equal(span.parentSpanId ?? '', '');
    assert.equal(span.name, 'GET traced');
    assert.equal(span.kind, 2, 'SERVER');
    assert.equal(attr(span, 'http.route'), 'traced');
    assert.equal(attr(span, 'http.response.status_code'), 200);
    assert.equal(attr(span, 'portcullis.upstream'), 'backend');
    assert.ok(collector.resources.some((r) => JSON.stringify(r).includes('gw-under-test')));
  });

  it('from a trusted proxy: the trace continues (same trace id, parent = the incoming span), tracestate kept; stages are span events', async () => {
    const gw = await startGateway(config(upstream.url, collector.url, { trusted: true }).replace('auth: public', 'auth: public\n    rateLimit: [{ by: ip, limit: 100, per: 1m }]'));
    const incoming = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    try {
      const res = await request(`http://127.0.0.1:${gw.httpPort}/traced/b`, { headers: { traceparent: incoming, tracestate: 'vendor=abc' } });
      await res.body.dump();
    } finally {
      await gw.close();
    }
    const got = upstream.received.at(-1);
    const tp = TP_RE.exec(got?.headers.traceparent as string);
    assert.ok(tp);
    assert.equal(tp[1], '0af7651916cd43dd8448eb211c80319c');
    assert.notEqual(tp[2], 'b7ad6b7169203331', 'a new span for the gateway');
    assert.equal(got?.headers.tracestate, 'vendor=abc');
    const span = collector.spans.find((s) => s.spanId === tp[2]);
    assert.ok(span);
    assert.equal(span.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(span.parentSpanId, 'b7ad6b7169203331');
    const stages = (span.events ?? []).map((e) => [e.name, e.attributes.find((a) => a.key === 'portcullis.decision')?.value.stringValue]);
    assert.ok(stages.some(([n, d]) => n === 'stage pre-auth-limit' && d === 'allow'), JSON.stringify(stages));
  });

  it('an unsampled trusted parent and sampleRatio 0: traceparent still propagated (flag 00), nothing exported', async () => {
    const before = collector.spans.length;
    const gw = await startGateway(config(upstream.url, collector.url, { trusted: true, ratio: 0 }));
    try {
      for (const headers of [{}, { traceparent: '00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-00' }, { traceparent: 'garbage' }]) {
        const res = await request(`http://127.0.0.1:${gw.httpPort}/traced/c`, { headers });
        await res.body.dump();
        const tp = TP_RE.exec(upstream.received.at(-1)?.headers.traceparent as string);
        assert.ok(tp);
        assert.equal(tp[3], '00');
      }
      assert.equal(TP_RE.exec(upstream.received.at(-2)?.headers.traceparent as string)?.[1], 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    } finally {
      await gw.close();
    }
    assert.equal(collector.spans.length, before);
  });

  it('a rejected request is traced too, with its error code; a 5xx is an error span', async () => {
    const gw = await startGateway(config('http://127.0.0.1:9', collector.url, {}));
    try {
      const res = await request(`http://127.0.0.1:${gw.httpPort}/traced/down`);
      assert.equal(res.statusCode, 502);
      await res.body.dump();
    } finally {
      await gw.close();
    }
    const span = collector.spans.find((s) => attr(s, 'url.path') === '/traced/down');
    assert.ok(span);
    assert.equal(attr(span, 'portcullis.error_code'), 'PCL_UPSTREAM_UNREACHABLE');
    assert.equal(span.status?.code, 2, 'ERROR');
  });

  it('a malformed otlpEndpoint is a config error at its path', async () => {
    await assert.rejects(startGateway(config(upstream.url, 'ftp://x', {})), (err: Error & { issues?: { path: string }[] }) =>
      err.issues?.some((i) => i.path === 'tracing.otlpEndpoint') === true);
  });
});
