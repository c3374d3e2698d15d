/**
 * The authenticate stage: the route's authenticators, any one of which must accept the request,
 * tried in the configured order. The client learns only "missing" or "invalid" credentials (401
 * with an RFC 6750 challenge) or "cannot check now" (503); the decision record and the log say
 * which authenticator rejected what, and why.
 */
import { presentedCredential, repeatedCredential, type AuthInput, type AuthResult, type Authenticator, type CredentialLocation } from '../../auth/authenticator.ts';
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';

const REALM = 'portcullis';

export class AuthenticateStage implements Stage {
  readonly name = 'authenticate';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  private readonly authenticators: readonly Authenticator[];
  private readonly missingChallenge: string;
  private readonly invalidChallenge: string;
  /** Where the authenticators read credentials (each checked for repetition). */
  private readonly locations: readonly CredentialLocation[];

  /**
   * Called when a credential was presented and rejected (brute-force counting), with the request and
   * the credential it presented first (unverified; undefined for mTLS).
   */
  private readonly onInvalid: ((ctx: RequestContext, credential: string | undefined) => void) | undefined;

  constructor(
    authenticators: readonly Authenticator[],
    mode: 'enforce' | 'shadow',
    onInvalid?: (ctx: RequestContext, credential: string | undefined) => void,
  ) {
    this.authenticators = authenticators;
    this.mode = mode;
    this.onInvalid = onInvalid;
    this.locations = authenticators.flatMap((a) => (a.location ? [a.location] : []));
    const schemes = new Set(authenticators.map((a) => a.scheme));
    const bearer = schemes.has('Bearer');
    const apiKey = schemes.has('ApiKey');
    // RFC 6750 §3: no error code when the request carried no credential at all.
    this.missingChallenge = [bearer ? `Bearer realm="${REALM}"` : '', apiKey ? `ApiKey realm="${REALM}"` : ''].filter(Boolean).join(', ');
    this.invalidChallenge = [bearer ? `Bearer realm="${REALM}", error="invalid_token"` : '', apiKey ? `ApiKey realm="${REALM}"` : '']
      .filter(Boolean)
      .join(', ');
  }

  run(ctx: RequestContext): void | Promise<void> {
    const req = ctx.request;
    const input: AuthInput = {
      headers: req.headers, query: ctx.query, socket: req.socket, method: ctx.method, url: req.url, rawHeaders: req.rawHeaders, secure: ctx.secure, explain: ctx.explain,
    };
    const failures: string[] = [];
    // A credential given twice is ambiguous: the authenticator would check the first, while the
    // backend, which receives the whole request, might read the other. Refused as invalid.
    for (const loc of this.locations) {
      const repeated = repeatedCredential(req.rawHeaders, ctx.query, loc);
      if (repeated !== undefined) {
        failures.push(`more than one ${repeated}`);
        return this.next(ctx, input, this.authenticators.length, failures, true, false);
      }
    }
    return this.next(ctx, input, 0, failures, false, false);
  }

  private next(ctx: RequestContext, input: AuthInput, from: number, failures: string[], invalidSeen: boolean, unavailableSeen: boolean): void | Promise<void> {
    for (let i = from; i < this.authenticators.length; i++) {
      const a = this.authenticators[i] as Authenticator;
      const r = a.authenticate(input);
      if (r instanceof Promise) {
        return r.then((res) => {
          const state = this.apply(ctx, a, res, failures);
          if (state === 'ok') return;
          return this.next(ctx, input, i + 1, failures, invalidSeen || state === 'invalid', unavailableSeen || state === 'unavailable');
        });
      }
      const state = this.apply(ctx, a, r, failures);
      if (state === 'ok') return;
      if (state === 'invalid') invalidSeen = true;
      if (state === 'unavailable') unavailableSeen = true;
    }
    const reason = failures.length > 0 ? failures.join('; ') : 'no credentials';
    if (unavailableSeen) {
      throw new GatewayError('PCL_AUTHN_UNAVAILABLE', reason, { headers: { 'retry-after': '5' } });
    }
    if (invalidSeen) {
      if (this.onInvalid && !ctx.explain) this.onInvalid(ctx, presentedCredential(ctx.request.rawHeaders, ctx.query, this.locations));
      throw new GatewayError('PCL_AUTHN_INVALID_CREDENTIALS', reason, this.invalidChallenge ? { headers: { 'www-authenticate': this.invalidChallenge } } : {});
    }
    throw new GatewayError('PCL_AUTHN_MISSING_CREDENTIALS', reason, this.missingChallenge ? { headers: { 'www-authenticate': this.missingChallenge } } : {});
  }

  private apply(ctx: RequestContext, a: Authenticator, r: AuthResult, failures: string[]): AuthResult['outcome'] {
    switch (r.outcome) {
      case 'ok':
        ctx.identity = r.identity;
        return 'ok';
      case 'invalid':
      case 'unavailable':
        failures.push(`${a.name}: ${r.reason}`);
        return r.outcome;
      default:
        return 'absent';
    }
  }
}
