/**
 * The IP and country filter: the first check of a request, right after the route match. On the
 * client address (resolved through server.trustedProxies): the deny list, then the allow list (an
 * allow list means every other address is denied), then the country rules. Deny wins everywhere;
 * a request passes only when every configured check lets it through.
 *
 * Per request: the address is parsed into scratch space and looked up by binary search, with no
 * allocation; a country lookup is a walk of the database's search tree (decoded records cached).
 */
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import { findClient, formatV4, parseClient, type AddressTable } from './addresses.ts';
import type { CountryDatabase } from './geo.ts';

/** Describes rule k of a contiguous run of rules from one origin (an inline list, a file). */
export interface RuleOrigin {
  from: number;
  to: number;
  describe(k: number): string;
}

/** An address table with the origin of each of its rules, for the decision record. */
export class AddressList {
  readonly table: AddressTable;
  /** Where this list is configured: defaults.ipFilter.allow, or .allow + allowFile. */
  readonly where: string;
  private readonly origins: readonly RuleOrigin[];

  constructor(table: AddressTable, where: string, origins: readonly RuleOrigin[]) {
    this.table = table;
    this.where = where;
    this.origins = origins;
  }

  /** `203.0.113.0/24 (defaults.ipFilter.deny[0])`, `1.10.16.0/20 (defaults.ipFilter.denyFile drop.txt line 12)`. */
  describe(rule: number): string {
    for (const o of this.origins) if (rule >= o.from && rule < o.to) return o.describe(rule - o.from);
    return `rule ${rule} (${this.where})`;
  }
}

export interface CountryRules {
  db: CountryDatabase;
  allow: ReadonlySet<string> | undefined;
  deny: ReadonlySet<string> | undefined;
  unknownDenied: boolean;
  /** e.g. defaults.ipFilter.countries */
  where: string;
}

/** One compiled `ipFilter:`; shared by every route that uses it. */
export interface CompiledIpFilter {
  deny: AddressList | undefined;
  allow: AddressList | undefined;
  countries: CountryRules | undefined;
  /** Its own `mode:`, when it has one (else the route's). */
  mode: 'enforce' | 'shadow' | undefined;
}

/** Throws the GatewayError that denies `ip` under `filter`, or returns when it passes. */
export function checkClient(filter: CompiledIpFilter, ip: string): void {
  const client = parseClient(ip);
  if (client.family === 0) throw new GatewayError('PCL_IP_DENIED', `client address ${JSON.stringify(ip.slice(0, 64))} is not an IP address`);
  const deny = filter.deny;
  if (deny !== undefined) {
    const rule = findClient(deny.table, client);
    if (rule !== -1) throw new GatewayError('PCL_IP_DENIED', `deny ${deny.describe(rule)}`);
  }
  const allow = filter.allow;
  if (allow !== undefined && findClient(allow.table, client) === -1) {
    throw new GatewayError('PCL_IP_DENIED', `not in the allow list (${allow.where})`);
  }
  const countries = filter.countries;
  if (countries === undefined) return;
  // The database is keyed by IPv4 for IPv4 (it has no ::ffff:0:0/96 aliases), and knows no zones.
  const key = client.family === 4 ? (ip.includes(':') ? formatV4(client.v4) : ip) : ip.includes('%') ? ip.slice(0, ip.indexOf('%')) : ip;
  let code: string | undefined;
  try {
    code = countries.db.country(key);
  } catch (err) {
    // A damaged database: fail closed rather than let every country through.
    throw new GatewayError('PCL_COUNTRY_DENIED', `country lookup failed in ${countries.db.file}: ${(err as Error).message}`);
  }
  if (code === undefined) {
    if (countries.unknownDenied) throw new GatewayError('PCL_COUNTRY_DENIED', `unknown country denied (${countries.where}.unknown)`);
    return;
  }
  if (countries.deny !== undefined && countries.deny.has(code)) {
    throw new GatewayError('PCL_COUNTRY_DENIED', `country ${code} denied (${countries.where}.deny)`);
  }
  if (countries.allow !== undefined && !countries.allow.has(code)) {
    throw new GatewayError('PCL_COUNTRY_DENIED', `country ${code} not in the allow list (${countries.where}.allow)`);
  }
}

export class IpFilterStage implements Stage {
  readonly name = 'ip-filter';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  readonly filter: CompiledIpFilter;

  constructor(filter: CompiledIpFilter, mode: 'enforce' | 'shadow') {
    this.filter = filter;
    this.mode = mode;
  }

  run(ctx: RequestContext): void {
    checkClient(this.filter, ctx.clientIp);
  }
}
