/**
 * W3C Trace Context and span export.
 *
 * Every request gets a trace context: the one in a valid `traceparent` when the peer is a trusted
 * proxy (with its `tracestate`), else a new trace (a client cannot choose the trace id or the
 * sampling of its requests). The backend always receives a `traceparent` whose parent is the
 * gateway's span for the request, so its spans nest under the gateway's.
 *
 * With `tracing.otlpEndpoint` set, sampled requests are exported over OTLP/HTTP by the
 * OpenTelemetry SDK (batched, in the background). The span is created when the request has
 * finished, from what the request context recorded (start and end times, route, status, upstream
 * time, and one event per pipeline stage with its verdict), so an unsampled request costs two
 * random ids and a string, and a sampled one no SDK work while it is in flight.
 */
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { Attributes, Tracer } from '@opentelemetry/api';
import type { IdGenerator, TracerProvider } from '@opentelemetry/sdk-trace';
import type { RequestContext } from '../pipeline/context.ts';

export interface TracingSettings {
  /** OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces); empty: propagate only, export nothing. */
  endpoint: string;
  /** Share of new traces that are sampled (0..1). A trusted parent's sampled flag is followed. */
  sampleRatio: number;
  serviceName: string;
}

/** The trace of one request. */
export interface TraceState {
  traceId: string;
  /** The gateway's span for this request (the backend's parent). */
  spanId: string;
  /** The trusted caller's span, when the trace came in with the request. */
  parentSpanId: string | undefined;
  sampled: boolean;
  tracestate: string | undefined;
}

/**
 * The OpenTelemetry SDK and OTLP exporter, loaded only when spans are exported (`tracing.otlpEndpoint`):
 * a gateway without tracing never pays their ~7 MB of resident memory or their load time. All four
 * packages are loaded the same way (CommonJS), so the SDK and this module share one API instance.
 */
interface Otel {
  api: typeof import('@opentelemetry/api');
  sdk: typeof import('@opentelemetry/sdk-trace');
  resources: typeof import('@opentelemetry/resources');
  exporter: typeof import('@opentelemetry/exporter-trace-otlp-http');
}
let otelModules: Otel | undefined;
function otel(): Otel {
  if (otelModules === undefined) {
    const require = createRequire(import.meta.url);
    otelModules = {
      api: require('@opentelemetry/api') as Otel['api'],
      sdk: require('@opentelemetry/sdk-trace') as Otel['sdk'],
      resources: require('@opentelemetry/resources') as Otel['resources'],
      exporter: require('@opentelemetry/exporter-trace-otlp-http') as Otel['exporter'],
    };
  }
  return otelModules;
}

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Random ids from a pooled buffer: one syscall per 256 ids instead of one per id. */
class IdPool {
  private readonly buf = Buffer.allocUnsafe(4096);
  private pos = this.buf.length;

  hex(bytes: number): string {
    if (this.pos + bytes > this.buf.length) {
      randomFillSync(this.buf);
      this.pos = 0;
    }
    const s = this.buf.toString('hex', this.pos, this.pos + bytes);
    this.pos += bytes;
    return s;
  }

  /** A uniform number in [0, 1). */
  unit(): number {
    return Number.parseInt(this.hex(6), 16) / 2 ** 48;
  }
}

/** Hands the SDK the ids the gateway already chose (and sent to the backend) for the span it builds next. */
class ChosenIds implements IdGenerator {
  traceId = ZERO_TRACE;
  spanId = ZERO_SPAN;
  generateTraceId(): string {
    return this.traceId;
  }
  generateSpanId(): string {
    return this.spanId;
  }
}

export class Tracing {
  readonly settings: TracingSettings;
  private readonly ids = new IdPool();
  private readonly chosen = new ChosenIds();
  private readonly provider: TracerProvider | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly api: Otel['api'] | undefined;

  constructor(settings: TracingSettings) {
    this.settings = settings;
    if (settings.endpoint !== '') {
      const { api, sdk, resources, exporter } = otel();
      this.api = api;
      this.provider = new sdk.TracerProvider({
        resource: resources.resourceFromAttributes({ 'service.name': settings.serviceName }),
        idGenerator: this.chosen,
        spanProcessors: [
          new sdk.BatchSpanProcessor({
            exporter: new exporter.OTLPTraceExporter({ url: settings.endpoint, timeoutMillis: 5000 }),
            maxQueueSize: 4096,
            maxExportBatchSize: 512,
            scheduledDelayMillis: 1000,
          }),
        ],
      });
      this.tracer = this.provider.getTracer('portcullis');
    }
  }

  get exporting(): boolean {
    return this.tracer !== undefined;
  }

  /** The request's trace: continued from a trusted `traceparent`, else new. */
  begin(traceparent: string | undefined, tracestate: string | undefined, trusted: boolean): TraceState {
    if (trusted && traceparent !== undefined) {
      const m = TRACEPARENT_RE.exec(traceparent.trim());
      if (m !== null && m[1] !== ZERO_TRACE && m[2] !== ZERO_SPAN) {
        return {
          traceId: m[1] as string,
          spanId: this.ids.hex(8),
          parentSpanId: m[2],
          sampled: (Number.parseInt(m[3] as string, 16) & 1) === 1,
          tracestate: tracestate !== undefined && tracestate.length <= 512 ? tracestate : undefined,
        };
      }
    }
    const ratio = this.settings.sampleRatio;
    return {
      traceId: this.ids.hex(16),
      spanId: this.ids.hex(8),
      parentSpanId: undefined,
      sampled: ratio >= 1 ? true : ratio <= 0 ? false : this.ids.unit() < ratio,
      tracestate: undefined,
    };
  }

  /** The `traceparent` the backend receives: this trace, the gateway's span as parent. */
  static header(t: TraceState): string {
    return `00-${t.traceId}-${t.spanId}-${t.sampled ? '01' : '00'}`;
  }

  /** Exports the span of a finished request (sampled only). */
  finish(ctx: RequestContext, now: number): void {
    const t = ctx.trace;
    const tracer = this.tracer;
    const api = this.api;
    if (t === undefined || !t.sampled || tracer === undefined || api === undefined) return;
    const { trace, ROOT_CONTEXT, TraceFlags, SpanKind, SpanStatusCode } = api;
    const origin = performance.timeOrigin;
    const parent = t.parentSpanId !== undefined
      ? trace.setSpanContext(ROOT_CONTEXT, { traceId: t.traceId, spanId: t.parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true })
      : ROOT_CONTEXT;
    const attributes: Attributes = {
      'http.request.method': ctx.method,
      'url.path': ctx.path,
      'server.address': ctx.host,
      'client.address': ctx.clientIp,
      'network.protocol.version': ctx.httpVersion,
      'http.response.status_code': ctx.status,
      'portcullis.request_id': ctx.requestId,
    };
    if (ctx.route !== undefined) {
      attributes['http.route'] = ctx.route.name;
      attributes['portcullis.route'] = ctx.route.name;
    }
    if (ctx.upstream !== undefined) attributes['portcullis.upstream'] = ctx.upstream.name;
    if (ctx.upstreamMs >= 0) attributes['portcullis.upstream_ms'] = ctx.upstreamMs;
    if (ctx.errorCode !== undefined) attributes['portcullis.error_code'] = ctx.errorCode;
    if (ctx.identity?.consumerId !== undefined) attributes['portcullis.consumer'] = ctx.identity.consumerId;
    this.chosen.traceId = t.traceId;
    this.chosen.spanId = t.spanId;
    const span = tracer.startSpan(
      ctx.route !== undefined ? `${ctx.method} ${ctx.route.name}` : ctx.method,
      { kind: SpanKind.SERVER, startTime: origin + ctx.startedAt, attributes },
      parent,
    );
    // Stages run one after the other from the start of the request: each event is placed at the
    // end of its stage (durations are exact; the gaps between stages, e.g. reading the body, are not shown).
    let at = ctx.startedAt;
    for (const d of ctx.decisions) {
      at += d.ms;
      const ev: Attributes = { 'portcullis.decision': d.decision, 'portcullis.stage_ms': d.ms };
      if (d.code !== undefined) ev['portcullis.code'] = d.code;
      span.addEvent(`stage ${d.stage}`, ev, origin + Math.min(at, now));
    }
    if (ctx.status >= 500 || ctx.status === 0) span.setStatus({ code: SpanStatusCode.ERROR, ...(ctx.errorCode ? { message: ctx.errorCode } : {}) });
    span.end(origin + now);
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

