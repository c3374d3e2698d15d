/**
 * Two counters over a sliding window of `BUCKETS` buckets (e.g. calls and failures, or requests and
 * retries): adding is O(1), a total is O(BUCKETS), nothing allocates after construction and nothing
 * creates a timer — the buckets move on when the window is touched, by the injected clock.
 */
const BUCKETS = 10;

export class PairWindow {
  private readonly width: number;
  private readonly clock: () => number;
  private readonly a = new Float64Array(BUCKETS);
  private readonly b = new Float64Array(BUCKETS);
  private bucket = 0;
  private bucketStart: number;

  constructor(windowMs: number, clock: () => number) {
    this.width = windowMs / BUCKETS;
    this.clock = clock;
    this.bucketStart = clock();
  }

  /** Adds to the first and second counters of the current bucket. */
  add(a: number, b: number): void {
    this.advance();
    (this.a[this.bucket] as number) += a;
    (this.b[this.bucket] as number) += b;
  }

  /** The totals over the window: [first, second]. */
  totals(): [number, number] {
    this.advance();
    let a = 0;
    let b = 0;
    for (let i = 0; i < BUCKETS; i++) {
      a += this.a[i] as number;
      b += this.b[i] as number;
    }
    return [a, b];
  }

  reset(): void {
    this.a.fill(0);
    this.b.fill(0);
    this.bucketStart = this.clock();
  }

  private advance(): void {
    const now = this.clock();
    if (now < this.bucketStart) {
      // The clock was replaced (tests) or went back: restart the current bucket from now.
      this.bucketStart = now;
      return;
    }
    const elapsed = Math.floor((now - this.bucketStart) / this.width);
    if (elapsed <= 0) return;
    const steps = Math.min(elapsed, BUCKETS);
    for (let i = 0; i < steps; i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.a[this.bucket] = 0;
      this.b[this.bucket] = 0;
    }
    this.bucketStart += elapsed * this.width;
  }
}
