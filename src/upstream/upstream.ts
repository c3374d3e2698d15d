/**
 * An upstream: a named set of targets, each with its own undici keep-alive Pool, chosen by smooth
 * weighted round-robin (nginx's algorithm: even spread, no bursts to the heavy target).
 */
import { Pool } from 'undici';

export interface TargetSpec {
  url: string;
  weight: number;
}

export interface UpstreamSpec {
  name: string;
  targets: TargetSpec[];
  /** Time to the response head and longest gap between body chunks, ms. */
  timeout: number;
  connectTimeout: number;
  maxConnections: number;
}

export class Target {
  readonly origin: string;
  readonly url: URL;
  readonly weight: number;
  readonly pool: Pool;
  /** Smooth weighted round-robin state. */
  current = 0;

  constructor(spec: TargetSpec, upstream: UpstreamSpec) {
    this.url = new URL(spec.url);
    this.origin = this.url.origin;
    this.weight = spec.weight;
    this.pool = new Pool(this.origin, {
      connections: upstream.maxConnections,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 600_000,
      headersTimeout: upstream.timeout,
      bodyTimeout: upstream.timeout,
      connect: { timeout: upstream.connectTimeout },
      // The gateway enforces its own limits on what it accepts; responses are streamed.
      maxResponseSize: -1,
      strictContentLength: true,
    });
  }
}

export class Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  readonly timeout: number;
  private readonly totalWeight: number;
  private readonly uniform: boolean;
  private next = 0;

  constructor(spec: UpstreamSpec) {
    this.name = spec.name;
    this.timeout = spec.timeout;
    this.targets = spec.targets.map((t) => new Target(t, spec));
    this.totalWeight = this.targets.reduce((sum, t) => sum + t.weight, 0);
    this.uniform = this.targets.every((t) => t.weight === this.targets[0]?.weight);
  }

  pick(): Target {
    const targets = this.targets;
    if (targets.length === 1) return targets[0] as Target;
    if (this.uniform) {
      const t = targets[this.next] as Target;
      this.next = (this.next + 1) % targets.length;
      return t;
    }
    let best = targets[0] as Target;
    for (const t of targets) {
      t.current += t.weight;
      if (t.current > best.current) best = t;
    }
    best.current -= this.totalWeight;
    return best;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.targets.map((t) => t.pool.close()));
  }
}
