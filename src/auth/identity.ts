/**
 * The authenticated identity of a request: who (subject, consumer), with what rights (scopes, roles,
 * groups) and the raw claims, whichever authenticator produced it. Later stages (authorization, rate
 * limits by consumer, header templates) read only this.
 */

export interface Identity {
  /** Name of the authenticator that accepted the request. */
  readonly authenticator: string;
  readonly type: 'jwt' | 'introspection' | 'apiKey' | 'mtls' | 'signature';
  readonly subject: string | undefined;
  /** `${consumer.id}`: the API-key consumer id, else the token's client id or subject. */
  readonly consumerId: string | undefined;
  readonly scopes: ReadonlySet<string>;
  readonly roles: ReadonlySet<string>;
  readonly groups: ReadonlySet<string>;
  /** Token claims, introspection response, consumer metadata or certificate fields. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Epoch ms after which this identity must not be reused from a cache (token `exp`). */
  readonly expiresAt: number | undefined;
}

/** Where an authenticator finds the identity fields in its claims (dotted paths). */
export interface IdentityMapping {
  subject: string;
  consumer: string | undefined;
  scopes: string | undefined;
  roles: string | undefined;
  groups: string | undefined;
}

/** Reads `a.b.c` from a claims object; never walks into the prototype. */
export function claimAt(claims: unknown, path: string): unknown {
  let node: unknown = claims;
  let start = 0;
  while (node !== null && typeof node === 'object') {
    const dot = path.indexOf('.', start);
    const key = dot === -1 ? path.slice(start) : path.slice(start, dot);
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
    if (dot === -1) return node;
    start = dot + 1;
  }
  return undefined;
}

/** A space-separated string (OAuth `scope`) or an array of strings (`scp`, role lists) as a set. */
export function stringSet(value: unknown): Set<string> {
  const out = new Set<string>();
  if (typeof value === 'string') {
    for (const s of value.split(' ')) if (s) out.add(s);
  } else if (Array.isArray(value)) {
    for (const s of value) if (typeof s === 'string' && s) out.add(s);
  }
  return out;
}

export function identityFromClaims(
  authenticator: string,
  type: Identity['type'],
  claims: Record<string, unknown>,
  mapping: IdentityMapping,
  expiresAt: number | undefined,
): Identity {
  const subject = claimAt(claims, mapping.subject);
  const consumer = mapping.consumer ? claimAt(claims, mapping.consumer) : undefined;
  let scopes = stringSet(mapping.scopes ? claimAt(claims, mapping.scopes) : undefined);
  // RFC 9068 / RFC 8693: `scope` is space-separated; Azure AD and others use an `scp` array or string.
  if (mapping.scopes === 'scope' && scopes.size === 0) scopes = stringSet(claimAt(claims, 'scp'));
  const subjectText = typeof subject === 'string' || typeof subject === 'number' ? String(subject) : undefined;
  const consumerText = typeof consumer === 'string' || typeof consumer === 'number' ? String(consumer) : undefined;
  return {
    authenticator,
    type,
    subject: subjectText,
    consumerId: consumerText ?? (typeof claims.client_id === 'string' ? claims.client_id : undefined) ?? subjectText,
    scopes,
    roles: stringSet(mapping.roles ? claimAt(claims, mapping.roles) : undefined),
    groups: stringSet(mapping.groups ? claimAt(claims, mapping.groups) : undefined),
    claims,
    expiresAt,
  };
}
