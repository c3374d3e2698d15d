/**
 * Shadow traffic: `routes[].mirror: { upstream, percent, timeout?, maxInFlight? }` sends a copy of a
 * sample of the route's requests to another upstream and throws its answer away.
 *
 * The copy has the method, path (after stripPrefix), headers (after the route's transform) and body
 * of the forwarded request, plus `x-portcullis-mirror: 1`. It is dispatched alongside the real request
 * on the mirror upstream's own undici pools, and nothing of it ever reaches the client exchange:
 * - its status, errors, slowness and timeout are only counted here — never reported to any upstream's
 *   passive health or circuit breaker (the primary's or the mirror's: shadow traffic must not eject
 *   a target that real traffic uses), never retried;
 * - it has its own deadline (`timeout`, head and body together) so it cannot hold a pool
 *   connection for long;
 * - at most `maxInFlight` copies of this route are in flight; beyond that a copy is dropped, so a
 *   hanging mirror costs bounded memory and connections.
 * Bodies: a body the gateway buffered (a route with validate / body threat inspection) is mirrored
 * byte for byte; a streamed body is not copied (teeing it would tie the client's upload to the
 * mirror's speed), so such a request is not mirrored at all. Requests without a body always are.
 * A client-sent `x-portcullis-mirror` header is removed from the forwarded request, so a backend can
 * trust the marker.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { Dispatcher } from 'undici';
import type { ConfigIssue } from '../config/errors.ts';
import { DURATION_PATTERN, parseDuration } from '../config/units.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { Upstream } from './upstream.ts';

export const MIRROR_HEADER = 'x-portcullis-mirror';

export const MirrorSchema = Type.Object(
  {
    upstream: Type.String({ minLength: 1, description: 'Name of the upstream that receives the copies.' }),
    percent: Type.Optional(
      Type.Number({ minimum: 0, maximum: 100, default: 100, description: 'Share of the requests copied, 0-100 (fractions allowed).' }),
    ),
    timeout: Type.Optional(
      Type.String({ pattern: DURATION_PATTERN, default: '5s', description: "Deadline of one copy (head and body); the client never waits for it." }),
    ),
    maxInFlight: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Copies of this route in flight at once; more are dropped.' }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Shadow traffic: copies of a share of requests go to another upstream; its answers are discarded.',
  },
);

export type RawMirror = Static<typeof MirrorSchema>;

/** Most bytes of a mirror response read before the connection is dropped instead. */
const DUMP_LIMIT = 64 * 1024;

export class Mirror {
  readonly upstream: Upstream;
  readonly percent: number;
  readonly timeout: number;
  readonly maxInFlight: number;
  /** Counters (tests; metrics later): copies in flight, sent, completed, failed or timed out, dropped, not sent (streamed body). */
  inFlight = 0;
  sent = 0;
  completed = 0;
  failed = 0;
  dropped = 0;
  skipped = 0;
  private readonly random: () => number;
  private readonly noteSent: string;
  private readonly noteDropped: string;

  constructor(spec: { upstream: Upstream; percent: number; timeout: number; maxInFlight: number; random?: () => number }) {
    this.upstream = spec.upstream;
    this.percent = spec.percent;
    this.timeout = spec.timeout;
    this.maxInFlight = spec.maxInFlight;
    this.random = spec.random ?? Math.random;
    this.noteSent = `mirror ${spec.upstream.name}`;
    this.noteDropped = `mirror ${spec.upstream.name} dropped (${spec.maxInFlight} in flight)`;
  }

  /**
   * Maybe sends a copy of the request about to be forwarded. `headers` are the forwarded ones (a
   * client-sent marker is removed from them in place); `body` is what goes to the primary.
   */
  send(ctx: RequestContext, method: string, path: string, headers: string[], body: unknown): void {
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      if ((headers[i] as string).length === MIRROR_HEADER.length && (headers[i] as string).toLowerCase() === MIRROR_HEADER) headers.splice(i, 2);
    }
    if (this.percent <= 0 || (this.percent < 100 && this.random() * 100 >= this.percent)) return;
    if (body !== null && !Buffer.isBuffer(body)) {
      this.skipped++;
      return;
    }
    if (this.inFlight >= this.maxInFlight) {
      this.dropped++;
      ctx.note(this.noteDropped);
      return;
    }
    const target = this.upstream.pick(ctx);
    if (target === undefined) {
      this.dropped++;
      return;
    }
    const copy = headers.slice();
    copy.push(MIRROR_HEADER, '1');
    this.inFlight++;
    this.sent++;
    ctx.note(this.noteSent);
    let pending: Promise<Dispatcher.ResponseData>;
    try {
      pending = target.pool.request({
        path,
        method: method as Dispatcher.HttpMethod,
        headers: copy,
        body: body as Buffer | null,
        headersTimeout: this.timeout,
        bodyTimeout: this.timeout,
        // The whole copy, queueing in the pool included: a hung mirror frees its slot on time.
        signal: AbortSignal.timeout(this.timeout),
        idempotent: false,
      });
    } catch {
      // Never let a copy's problem reach the real exchange (e.g. a closed pool during a reload).
      this.onError();
      return;
    }
    pending.then(this.onResponse, this.onError);
  }

  private readonly onResponse = (res: Dispatcher.ResponseData): void => {
    res.body.dump({ limit: DUMP_LIMIT }).then(this.onEnd, this.onError);
  };

  private readonly onEnd = (): void => {
    this.inFlight--;
    this.completed++;
  };

  private readonly onError = (): void => {
    this.inFlight--;
    this.failed++;
  };
}

/** Builds a route's mirror; problems go to `issues` at `at` (the path of `routes[i].mirror`). */
export function buildMirror(
  raw: RawMirror,
  at: string,
  resolve: (name: string, path: string) => Upstream | undefined,
  primary: string | undefined,
  issues: ConfigIssue[],
): Mirror | undefined {
  const before = issues.length;
  const upstream = resolve(raw.upstream, `${at}.upstream`);
  if (primary !== undefined && raw.upstream === primary) {
    issues.push({ path: `${at}.upstream`, message: `"${primary}" is the route's own upstream; a mirror sends copies to another one` });
  }
  const timeout = parseDuration(raw.timeout ?? '5s');
  if (timeout < 1) issues.push({ path: `${at}.timeout`, message: 'must be at least 1ms' });
  if (issues.length > before || upstream === undefined) return undefined;
  return new Mirror({ upstream, percent: raw.percent ?? 100, timeout, maxInFlight: raw.maxInFlight ?? 100 });
}
