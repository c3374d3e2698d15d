/**
 * Brute-force guard (defaults.bruteForce): failed authentications are counted per client IP and per
 * presented credential over a window; at `maxFailures` that IP, or that credential, is banned for
 * `ban`. Bans are checked before authentication runs, so a banned client never reaches the
 * authenticators again, and a credential replayed from many addresses (a leaked, revoked or expired
 * token hammering the introspection endpoint from a botnet) stops costing anything. A banned
 * credential is one that failed `maxFailures` times: banning it cannot lock out its legitimate owner,
 * whose valid credential is a different string. Counters and bans live in the store (shared by every
 * instance with Redis). A success resets nothing: one client's success cannot clear another's
 * failures, and a failure never affects clients on other IPs.
 */
import { presentedCredential, type CredentialLocation } from '../../auth/authenticator.ts';
import { credentialKey } from '../../auth/token-cache.ts';
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import type { Store } from '../../store/store.ts';

export interface BruteForceSettings {
  maxFailures: number;
  windowMs: number;
  banMs: number;
  /** Count per client IP. */
  byIp: boolean;
  /** Count per presented credential (its SHA-256; the credential itself is never a key). */
  byCredential: boolean;
}

export class BruteForceGuard {
  readonly settings: BruteForceSettings;
  private readonly store: Store;
  bans = 0;

  constructor(settings: BruteForceSettings, store: Store) {
    this.settings = settings;
    this.store = store;
  }

  /** The store keys of a request's bans: its IP's, its credential's (by fingerprint). */
  banKeys(ip: string, fingerprint: string | undefined): string[] {
    const keys: string[] = [];
    if (this.settings.byIp) keys.push(`ban:ip:${ip}`);
    if (fingerprint !== undefined) keys.push(`ban:cred:${fingerprint}`);
    return keys;
  }

  /** Milliseconds of ban left for each of `keys` (0: not banned), in one store call. */
  banned(keys: readonly string[]): number[] | Promise<number[]> {
    return this.store.flagTtls(keys);
  }

  /** Records a failed authentication from `ip` presenting `credential`; bans at the threshold. Never throws. */
  recordFailure(ip: string, credential: string | undefined): void {
    if (this.settings.byIp) void this.count('ip', ip);
    if (this.settings.byCredential && credential !== undefined && credential !== '') void this.count('cred', credentialKey(credential));
  }

  private async count(kind: 'ip' | 'cred', id: string): Promise<void> {
    try {
      const n = await this.store.increment(`bf:${kind}:${id}`, this.settings.windowMs);
      if (n >= this.settings.maxFailures) {
        await this.store.setFlag(`ban:${kind}:${id}`, this.settings.banMs);
        await this.store.deleteKey(`bf:${kind}:${id}`);
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
  /** Where the route's authenticators read credentials (empty: count by IP only). */
  private readonly locations: readonly CredentialLocation[];

  constructor(guard: BruteForceGuard, mode: 'enforce' | 'shadow', locations: readonly CredentialLocation[] = []) {
    this.guard = guard;
    this.mode = mode;
    this.locations = guard.settings.byCredential ? locations : [];
  }

  run(ctx: RequestContext): void | Promise<void> {
    let fingerprint: string | undefined;
    if (this.locations.length > 0) {
      const credential = presentedCredential(ctx.request.rawHeaders, ctx.query, this.locations);
      if (credential !== undefined && credential !== '') fingerprint = credentialKey(credential);
    }
    const keys = this.guard.banKeys(ctx.clientIp, fingerprint);
    if (keys.length === 0) return;
    let left: number[] | Promise<number[]>;
    try {
      left = this.guard.banned(keys);
    } catch {
      return; // store down: the ban cannot be read; the pre-auth rate limit still protects
    }
    if (left instanceof Promise) return left.then((ms) => this.check(keys, ms), () => undefined);
    this.check(keys, left);
  }

  private check(keys: readonly string[], left: readonly number[]): void {
    for (let i = 0; i < left.length; i++) {
      const ms = left[i] as number;
      if (ms <= 0) continue;
      const what = (keys[i] as string).startsWith('ban:ip:') ? 'client IP' : 'presented credential';
      throw new GatewayError('PCL_ABUSE_BANNED', `${what} banned for another ${ms}ms after repeated failed authentications`, {
        headers: { 'retry-after': String(Math.ceil(ms / 1000)) },
      });
    }
  }
}
