/**
 * Circuit breaker of one upstream: closed → open after `failures` consecutive failures (or a failure
 * ratio over a sliding window) → half-open after `cooldown`, when exactly one probe is let through →
 * closed on its success, open again (for another cooldown) on its failure. While open, requests are
 * answered 503 at once without touching the backend.
 *
 * The clock is a field so that tests can drive it; nothing here creates a timer.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSpec {
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** How long the circuit stays open before one probe is let through, ms. */
  cooldown: number;
  /** Optional: open when failures / calls over `window` reaches this ratio (with at least `minCalls` calls). */
  ratio?: { threshold: number; window: number; minCalls: number } | undefined;
}

const BUCKETS = 10;

export class CircuitBreaker {
  /** Milliseconds, monotonic; replaced by tests. */
  clock: () => number;
  private readonly spec: BreakerSpec;
  private stateValue: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;
  // Ratio window: BUCKETS buckets of window/BUCKETS ms each (calls and failures).
  private readonly calls: Int32Array;
  private readonly fails: Int32Array;
  private bucketStart = 0;
  private bucket = 0;

  constructor(spec: BreakerSpec, clock: () => number = () => performance.now()) {
    this.spec = spec;
    this.clock = clock;
    this.calls = new Int32Array(spec.ratio ? BUCKETS : 0);
    this.fails = new Int32Array(spec.ratio ? BUCKETS : 0);
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
    if (!this.spec.ratio) return;
    this.advance();
    (this.calls[this.bucket] as number)++;
    if (failed) (this.fails[this.bucket] as number)++;
  }

  private ratioExceeded(): boolean {
    const r = this.spec.ratio;
    if (!r) return false;
    let calls = 0;
    let fails = 0;
    for (let i = 0; i < BUCKETS; i++) {
      calls += this.calls[i] as number;
      fails += this.fails[i] as number;
    }
    return calls >= r.minCalls && fails / calls >= r.threshold;
  }

  private advance(): void {
    const width = (this.spec.ratio as { window: number }).window / BUCKETS;
    const now = this.clock();
    const elapsed = Math.floor((now - this.bucketStart) / width);
    if (elapsed <= 0) return;
    const steps = Math.min(elapsed, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.calls[this.bucket] = 0;
      this.fails[this.bucket] = 0;
    }
    this.bucketStart += elapsed * width;
  }

  private resetWindow(): void {
    this.calls.fill(0);
    this.fails.fill(0);
    this.bucketStart = this.clock();
  }
}
