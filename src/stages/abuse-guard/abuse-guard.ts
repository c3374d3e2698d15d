/**
 * Brute-force guard (defaults.bruteForce): failed authentications are counted per client IP over a
 * window; at `maxFailures` the IP is banned for `ban`. The ban is checked before authentication
 * runs, so a banned client never reaches the authenticators again. Counters and bans live in the
 * store (shared by every instance with Redis). A success resets nothing: one client's success
 * cannot clear another's failures, and a failure never affects clients on other IPs.
 */
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import type { Store } from '../../store/store.ts';

export interface BruteForceSettings {
  maxFailures: number;
  windowMs: number;
  banMs: number;
}

export class BruteForceGuard {
  readonly settings: BruteForceSettings;
  private readonly store: Store;
  bans = 0;

  constructor(settings: BruteForceSettings, store: Store) {
    this.settings = settings;
    this.store = store;
  }

  /** Milliseconds of ban left for `ip` (0: not banned). */
  banned(ip: string): number | Promise<number> {
    return this.store.flagTtl(`ban:ip:${ip}`);
  }

  /** Records a failed authentication from `ip`; bans it at the threshold. Never throws. */
  async recordFailure(ip: string): Promise<void> {
    try {
      const n = await this.store.increment(`bf:ip:${ip}`, this.settings.windowMs);
      if (n >= this.settings.maxFailures) {
        await this.store.setFlag(`ban:ip:${ip}`, this.settings.banMs);
        await this.store.deleteKey(`bf:ip:${ip}`);
        this.bans++;
      }
    } catch {
      // The store is down: failures go uncounted (the rate limits' onError policy still applies).
    }
  }

  async unban(ip: string): Promise<void> {
    await this.store.deleteKey(`ban:ip:${ip}`);
  }
}

export class AbuseGuardStage implements Stage {
  readonly name = 'abuse-guard';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  readonly guard: BruteForceGuard;

  constructor(guard: BruteForceGuard, mode: 'enforce' | 'shadow') {
    this.guard = guard;
    this.mode = mode;
  }

  run(ctx: RequestContext): void | Promise<void> {
    let left: number | Promise<number>;
    try {
      left = this.guard.banned(ctx.clientIp);
    } catch {
      return; // store down: the ban cannot be read; the pre-auth rate limit still protects
    }
    if (left instanceof Promise) return left.then((ms) => this.check(ms), () => undefined);
    this.check(left);
  }

  private check(ms: number): void {
    if (ms > 0) {
      throw new GatewayError('PCL_ABUSE_BANNED', `client IP banned for another ${ms}ms after repeated failed authentications`, {
        headers: { 'retry-after': String(Math.ceil(ms / 1000)) },
      });
    }
  }
}
