/**
 * Health of upstream targets.
 *
 * - Active: every `interval` each target gets `GET path` through its own pool (so the same TLS
 *   settings apply); `unhealthyAfter` consecutive failures (a status outside `expect`, an error or
 *   `timeout`) take it out of rotation, `healthyAfter` consecutive successes bring it back. Timers
 *   are unref'd, one per target, re-armed only after the previous check finished (never overlapping),
 *   started with the gateway and stopped when it closes.
 * - Passive: `failures` consecutive failed exchanges (connect error, timeout, malformed response or
 *   a 5xx) eject the target for `ejectFor`; it comes back on its own afterwards.
 */
import type { Pool } from 'undici';

export interface ActiveHealthSpec {
  path: string;
  interval: number;
  timeout: number;
  unhealthyAfter: number;
  healthyAfter: number;
  /** Statuses that count as healthy. */
  expect: (status: number) => boolean;
}

export interface PassiveHealthSpec {
  failures: number;
  ejectFor: number;
}

export class TargetHealth {
  /** Result of the active checks (true until they say otherwise). */
  activeHealthy = true;
  /** Passive ejection: out of rotation until this clock time. */
  ejectedUntil = 0;
  private activeOk = 0;
  private activeFail = 0;
  private passiveFail = 0;
  private readonly passive: PassiveHealthSpec | undefined;
  private readonly active: ActiveHealthSpec | undefined;

  constructor(active: ActiveHealthSpec | undefined, passive: PassiveHealthSpec | undefined) {
    this.active = active;
    this.passive = passive;
  }

  available(now: number): boolean {
    return this.activeHealthy && now >= this.ejectedUntil;
  }

  /** One exchange's outcome (passive checks). */
  report(ok: boolean, now: number): void {
    const p = this.passive;
    if (p === undefined) return;
    if (ok) {
      this.passiveFail = 0;
      return;
    }
    if (++this.passiveFail >= p.failures) {
      this.passiveFail = 0;
      this.ejectedUntil = now + p.ejectFor;
    }
  }

  /** One active check's outcome. */
  checked(ok: boolean): void {
    const a = this.active;
    if (a === undefined) return;
    if (ok) {
      this.activeFail = 0;
      if (!this.activeHealthy && ++this.activeOk >= a.healthyAfter) {
        this.activeHealthy = true;
        this.activeOk = 0;
      }
    } else {
      this.activeOk = 0;
      if (this.activeHealthy && ++this.activeFail >= a.unhealthyAfter) {
        this.activeHealthy = false;
        this.activeFail = 0;
      }
    }
  }
}

export interface Checkable {
  readonly origin: string;
  readonly pool: Pool;
  readonly health: TargetHealth;
}

/** One target's active check loop. */
export class HealthChecker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private inflight: AbortController | undefined;
  private readonly target: Checkable;
  private readonly spec: ActiveHealthSpec;
  private readonly onChange: ((target: Checkable, healthy: boolean) => void) | undefined;

  constructor(target: Checkable, spec: ActiveHealthSpec, onChange?: (target: Checkable, healthy: boolean) => void) {
    this.target = target;
    this.spec = spec;
    this.onChange = onChange;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // The first check right away: a dead target leaves rotation after unhealthyAfter intervals at most.
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inflight?.abort();
  }

  /** Runs one check now (also used by tests). */
  async check(): Promise<boolean> {
    const ac = new AbortController();
    this.inflight = ac;
    const timer = setTimeout(() => ac.abort(), this.spec.timeout);
    timer.unref();
    let ok = false;
    try {
      const res = await this.target.pool.request({
        method: 'GET',
        path: this.spec.path,
        headers: { 'user-agent': 'portcullis-health-check' },
        signal: ac.signal,
        headersTimeout: this.spec.timeout,
        bodyTimeout: this.spec.timeout,
      });
      await res.body.dump({ limit: 65_536 });
      ok = this.spec.expect(res.statusCode);
    } catch {
      ok = false;
    } finally {
      clearTimeout(timer);
      this.inflight = undefined;
    }
    if (this.stopped) return ok;
    const before = this.target.health.activeHealthy;
    this.target.health.checked(ok);
    const after = this.target.health.activeHealthy;
    if (before !== after) this.onChange?.(this.target, after);
    return ok;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check().then(() => this.schedule(this.spec.interval));
    }, delay);
    this.timer.unref();
  }
}

/** `[200, "2xx", "200-399"]` → a predicate; the default is 200–399. */
export function statusMatcher(spec: readonly (number | string)[] | undefined): (status: number) => boolean {
  if (spec === undefined || spec.length === 0) return (s) => s >= 200 && s < 400;
  const ranges: [number, number][] = [];
  for (const item of spec) {
    if (typeof item === 'number') ranges.push([item, item]);
    else if (/^[1-5]xx$/.test(item)) {
      const base = Number(item[0]) * 100;
      ranges.push([base, base + 99]);
    } else {
      const m = /^(\d{3})-(\d{3})$/.exec(item);
      if (m) ranges.push([Number(m[1]), Number(m[2])]);
    }
  }
  return (s) => ranges.some(([lo, hi]) => s >= lo && s <= hi);
}
