/**
 * API-key authenticator. Keys are stored only as hashes: `sha256:<hex>` of the key, or
 * `hmac-sha256:<hex>` keyed with a pepper from the environment (so a leaked config alone cannot be
 * brute-forced offline). Lookup is O(1) by hash, then confirmed with a constant-time comparison.
 * A key is read from one header or one query parameter; a key sent in the query string when the
 * authenticator reads a header is refused (query strings end up in logs and browser history).
 */
import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ABSENT, invalid, type AuthInput, type AuthResult, type Authenticator, type CredentialLocation } from './authenticator.ts';
import type { Identity } from './identity.ts';

export interface ApiKeyConsumer {
  id: string;
  keyHash: string;
  scopes: string[];
  groups: string[];
  metadata: Record<string, unknown>;
}

export interface ApiKeyOptions {
  name: string;
  in: 'header' | 'query';
  /** Header name (lower-case) or query parameter name. */
  field: string;
  consumers: ApiKeyConsumer[];
  pepper: string | undefined;
}

export const HASH_RE = /^(sha256|hmac-sha256):([0-9a-f]{64})$/;

export class ApiKeyAuthenticator implements Authenticator {
  readonly name: string;
  readonly type = 'apiKey' as const;
  readonly scheme = 'ApiKey' as const;
  readonly location: CredentialLocation;
  private readonly o: ApiKeyOptions;
  private readonly byHash = new Map<string, { digest: Buffer; identity: Identity }>();
  private readonly hmac: boolean;

  constructor(options: ApiKeyOptions) {
    this.o = options;
    this.name = options.name;
    this.location = options.in === 'header' ? { header: options.field } : { query: options.field };
    this.hmac = options.pepper !== undefined;
    for (const c of options.consumers) {
      const m = HASH_RE.exec(c.keyHash) as RegExpExecArray;
      const digest = Buffer.from(m[2] as string, 'hex');
      this.byHash.set(m[2] as string, {
        digest,
        identity: {
          authenticator: options.name,
          type: 'apiKey',
          subject: c.id,
          consumerId: c.id,
          scopes: new Set(c.scopes),
          roles: new Set(),
          groups: new Set(c.groups),
          claims: { consumer: c.id, ...c.metadata },
          expiresAt: undefined,
        },
      });
    }
  }

  /** Nothing to count beyond the outcomes, which the metrics take from the decision record. */
  readonly stats: Readonly<Record<string, number>> = {};

  authenticate(input: AuthInput): AuthResult {
    let key: string | undefined;
    const inQuery = queryValue(input.query, this.o.field);
    if (this.o.in === 'header') {
      const v = input.headers[this.o.field];
      key = Array.isArray(v) ? v[0] : v;
      if (key === undefined && inQuery !== undefined) return invalid(`API key in the query string (${this.o.field}) is not allowed`);
    } else {
      key = inQuery;
    }
    if (key === undefined || key === '') return ABSENT;
    if (key.length > 512) return invalid('API key too long');
    const hex = this.digest(key);
    const entry = this.byHash.get(hex);
    if (!entry || !timingSafeEqual(entry.digest, Buffer.from(hex, 'hex'))) return invalid('unknown API key');
    return { outcome: 'ok', identity: entry.identity };
  }

  private digest(key: string): string {
    return this.hmac ? createHmac('sha256', this.o.pepper as string).update(key).digest('hex') : hash('sha256', key, 'hex');
  }
}

function queryValue(query: string, name: string): string | undefined {
  if (query === '') return undefined;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if ((eq === -1 ? pair : pair.slice(0, eq)) !== name) continue;
    try {
      return decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      return pair.slice(eq + 1);
    }
  }
  return undefined;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * A new API key: a recognisable prefix (so secret scanners can find leaked keys) and 32 random
 * bytes in base62 (~190 bits), with the hash line for the config.
 */
export function newApiKey(prefix = 'pcl_', pepper?: string): { key: string; keyHash: string } {
  // Rejection sampling keeps every base62 digit uniform.
  let body = '';
  while (body.length < 32) {
    for (const b of randomBytes(48)) {
      if (b < 248 && body.length < 32) body += BASE62[b % 62];
    }
  }
  const key = prefix + body;
  const keyHash = pepper !== undefined
    ? `hmac-sha256:${createHmac('sha256', pepper).update(key).digest('hex')}`
    : `sha256:${hash('sha256', key, 'hex')}`;
  return { key, keyHash };
}
