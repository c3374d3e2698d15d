/**
 * Circuit breaker of one upstream: closed → open after `failures` consecutive failures (or a failure
 * ratio over a sliding window) → half-open after `cooldown`, when exactly one probe is let through →
 * closed on its success, open again (for another cooldown) on its failure. While open, requests are
 * answered 503 at once without touching the backend.
 *
 * The clock is a field so that tests can drive it; nothing here creates a timer.
 */

import { PairWindow } from './window.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSpec {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** How long the circuit stays open before one probe is let through, ms. */
  cooldown: number;
  /** Optional: open when failures / calls over `window` reaches this ratio (with at least `minCalls` calls). */
  ratio?: { threshold: number; window: number; minCalls: number } | undefined;
}

export class CircuitBreaker {
  /** Milliseconds, monotonic; replaced by tests. */
  clock: () => number;
  private readonly spec: BreakerSpec;
  private stateValue: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;
  /** Calls and failures over the ratio window (when a ratio is configured). */
  private readonly window: PairWindow | undefined;

  constructor(spec: BreakerSpec, clock: () => number = () => performance.now()) {
    this.spec = spec;
    this.clock = clock;
    this.window = spec.ratio ? new PairWindow(spec.ratio.window, () => this.clock()) : undefined;
  }

  get state(): BreakerState {
    return this.stateValue;
  }

  /** Ms until a probe may go through (0 unless open). */
  retryAfter(): number {
    if (this.stateValue !== 'open') return 0;
    return Math.max(0, this.openedAt + this.spec.cooldown - this.clock());
  }

  /**
   * May a call go to the backend now? In half-open exactly one call (the probe) gets `true` until its
   * outcome is reported with `success`, `failure` or `release`.
   */
  allow(): boolean {
    switch (this.stateValue) {
      case 'closed':
        return true;
      case 'open':
        if (this.clock() - this.openedAt < this.spec.cooldown) return false;
        this.stateValue = 'half-open';
        this.probing = true;
        return true;
      case 'half-open':
        if (this.probing) return false;
        this.probing = true;
        return true;
    }
  }

  success(): void {
    this.record(false);
    this.consecutive = 0;
    if (this.stateValue === 'half-open') {
      this.stateValue = 'closed';
      this.probing = false;
      this.resetWindow();
    }
  }

  failure(): void {
    this.record(true);
    this.consecutive++;
    if (this.stateValue === 'half-open') {
      this.open();
      return;
    }
    if (this.stateValue === 'closed' && (this.consecutive >= this.spec.failures || this.ratioExceeded())) this.open();
  }

  /** The call ended without an outcome (the client went away): a half-open breaker lets another probe through. */
  release(): void {
    if (this.stateValue === 'half-open') this.probing = false;
  }

  private open(): void {
    this.stateValue = 'open';
    this.openedAt = this.clock();
    this.probing = false;
    this.consecutive = 0;
    this.resetWindow();
  }

  private record(failed: boolean): void {
    this.window?.add(1, failed ? 1 : 0);
  }

  private ratioExceeded(): boolean {
    const r = this.spec.ratio;
    if (!r || this.window === undefined) return false;
    const [calls, fails] = this.window.totals();
    return calls >= r.minCalls && fails / calls >= r.threshold;
  }

  private resetWindow(): void {
    this.window?.reset();
  }
}
