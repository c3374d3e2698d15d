/**
 * The authorize stage: required scopes (all of them), roles (any one), groups (any one) and claim
 * equality rules, checked against the identity the authenticate stage established.
 * 403, with `error="insufficient_scope"` (RFC 6750 §3.1) when scopes are missing on a Bearer route.
 */
import { claimAt } from '../../auth/identity.ts';
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';

export interface AuthorizeRules {
  scopes: string[];
  roles: string[];
  groups: string[];
  /** claim path → accepted values (any one). */
  claims: [string, (string | number | boolean)[]][];
}

export class AuthorizeStage implements Stage {
  readonly name = 'authorize';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  private readonly rules: AuthorizeRules;
  private readonly scopeChallenge: string;

  constructor(rules: AuthorizeRules, mode: 'enforce' | 'shadow') {
    this.rules = rules;
    this.mode = mode;
    this.scopeChallenge = `Bearer realm="portcullis", error="insufficient_scope", scope="${rules.scopes.join(' ')}"`;
  }

  run(ctx: RequestContext): void {
    const id = ctx.identity;
    if (!id) throw new GatewayError('PCL_AUTHZ_FORBIDDEN', 'no authenticated identity');
    const { scopes, roles, groups, claims } = this.rules;
    for (const s of scopes) {
      if (!id.scopes.has(s)) {
        throw new GatewayError('PCL_AUTHZ_INSUFFICIENT_SCOPE', `${id.authenticator}: missing scope ${s}`, {
          ...(id.type === 'jwt' || id.type === 'introspection' ? { headers: { 'www-authenticate': this.scopeChallenge } } : {}),
        });
      }
    }
    if (roles.length > 0 && !roles.some((r) => id.roles.has(r))) {
      throw new GatewayError('PCL_AUTHZ_FORBIDDEN', `${id.authenticator}: none of the roles ${roles.join(', ')}`);
    }
    if (groups.length > 0 && !groups.some((g) => id.groups.has(g))) {
      throw new GatewayError('PCL_AUTHZ_FORBIDDEN', `${id.authenticator}: none of the groups ${groups.join(', ')}`);
    }
    for (const [path, accepted] of claims) {
      const v = claimAt(id.claims, path);
      const ok = Array.isArray(v) ? v.some((x) => accepted.includes(x as string)) : accepted.includes(v as string);
      if (!ok) throw new GatewayError('PCL_AUTHZ_FORBIDDEN', `${id.authenticator}: claim ${path} does not match`);
    }
  }
}
