/**
 * Building the IP filters from config: `defaults.ipFilter` and each route's own (which replaces
 * the defaults' one; `ipFilter: false` turns it off for the route). List files and country
 * databases are read once per build, however many filters name them.
 */
import type { ConfigIssue } from '../../config/errors.ts';
import type { Stage } from '../../pipeline/stage.ts';
import { AddressTable, parseCidr, type Cidr } from './addresses.ts';
import { openCountryDatabase, type CountryDatabase } from './geo.ts';
import { AddressList, IpFilterStage, type CompiledIpFilter, type CountryRules, type RuleOrigin } from './ip-filter.ts';
import { readListFile, type ListFile } from './lists.ts';
import type { RawCountries, RawIpFilter } from './schema.ts';

type Mode = 'enforce' | 'shadow';

export interface IpFilters {
  /** For requests no route matches: the defaults' filter (none without defaults.ipFilter). */
  unrouted: readonly Stage[];
  /** The filter of route `index` (its own, else the defaults'), as the stage list run right after the match. */
  forRoute(index: number, routeMode: Mode): readonly Stage[];
}

interface BuildContext {
  baseDir: string;
  issues: ConfigIssue[];
  files: Map<string, Promise<ListFile>>;
  databases: Map<string, Promise<CountryDatabase | string>>;
}

const NONE: readonly Stage[] = Object.freeze([]);

export async function buildIpFilters(
  defaults: RawIpFilter | undefined,
  routes: readonly (RawIpFilter | false | undefined)[],
  baseDir: string,
  issues: ConfigIssue[],
): Promise<IpFilters> {
  const ctx: BuildContext = { baseDir, issues, files: new Map(), databases: new Map() };
  const [fallback, ...own] = await Promise.all([
    defaults ? compileIpFilter(defaults, 'defaults.ipFilter', ctx) : undefined,
    ...routes.map((r, i) => (r ? compileIpFilter(r, `routes[${i}].ipFilter`, ctx) : undefined)),
  ]);
  return {
    unrouted: fallback ? [new IpFilterStage(fallback, fallback.mode ?? 'enforce')] : NONE,
    forRoute(index, routeMode) {
      const filter = routes[index] === false ? undefined : (own[index] ?? fallback);
      return filter ? [new IpFilterStage(filter, filter.mode ?? routeMode)] : NONE;
    },
  };
}

/** One `ipFilter:` mapping; undefined (with issues) when it cannot be built. */
async function compileIpFilter(raw: RawIpFilter, at: string, ctx: BuildContext): Promise<CompiledIpFilter | undefined> {
  const before = ctx.issues.length;
  if (!raw.allow && !raw.deny && !raw.allowFile && !raw.denyFile && !raw.countries) {
    ctx.issues.push({ path: at, message: 'needs at least one of allow, deny, allowFile, denyFile or countries' });
  }
  if (raw.geoip && !raw.countries) ctx.issues.push({ path: `${at}.geoip`, message: 'is only used with countries' });
  const [deny, allow, countries] = await Promise.all([
    addressList(raw.deny, raw.denyFile, `${at}.deny`, `${at}.denyFile`, ctx),
    addressList(raw.allow, raw.allowFile, `${at}.allow`, `${at}.allowFile`, ctx),
    raw.countries ? countryRules(raw.countries, raw.geoip?.database, at, ctx) : undefined,
  ]);
  if (allow && allow.table.size === 0) {
    ctx.issues.push({ path: `${at}.allowFile`, message: 'the allow list has no entries: every client would be denied' });
  }
  if (ctx.issues.length > before) return undefined;
  return { deny, allow, countries, mode: raw.mode };
}

/** The inline entries and the files of one list (deny or allow) as one table. */
async function addressList(
  inline: readonly string[] | undefined,
  files: string | readonly string[] | undefined,
  inlineAt: string,
  filesAt: string,
  ctx: BuildContext,
): Promise<AddressList | undefined> {
  if (inline === undefined && files === undefined) return undefined;
  const cidrs: Cidr[] = [];
  const origins: RuleOrigin[] = [];
  if (inline !== undefined) {
    const texts: string[] = [];
    const positions: number[] = [];
    inline.forEach((text, j) => {
      try {
        cidrs.push(parseCidr(text));
        texts.push(text);
        positions.push(j);
      } catch (err) {
        ctx.issues.push({ path: `${inlineAt}[${j}]`, message: (err as Error).message });
      }
    });
    origins.push({ from: 0, to: cidrs.length, describe: (k) => `${texts[k]} (${inlineAt}[${positions[k]}])` });
  }
  const names = files === undefined ? [] : typeof files === 'string' ? [files] : files;
  const lists = await Promise.all(names.map((name) => listFile(name, ctx)));
  lists.forEach((list, i) => {
    const at = typeof files === 'string' ? filesAt : `${filesAt}[${i}]`;
    for (const problem of list.problems) ctx.issues.push({ path: at, message: problem });
    const from = cidrs.length;
    for (const c of list.cidrs) cidrs.push(c); // a loop: push(...list) overflows the stack at ~100k entries
    origins.push({ from, to: cidrs.length, describe: (k) => `${list.texts[k]} (${at} ${list.name} line ${list.lines[k]})` });
  });
  const where = [inline !== undefined ? inlineAt : undefined, files !== undefined ? filesAt : undefined].filter(Boolean).join(' + ');
  return new AddressList(new AddressTable(cidrs), where, origins);
}

function listFile(name: string, ctx: BuildContext): Promise<ListFile> {
  const key = `${ctx.baseDir}\0${name}`;
  let p = ctx.files.get(key);
  if (!p) {
    p = readListFile(name, ctx.baseDir);
    ctx.files.set(key, p);
  }
  return p;
}

const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

/** Why `code` (already two upper-case letters) is not a country code, or undefined. */
function countryProblem(code: string): string | undefined {
  let canonical: string | undefined;
  let name: string | undefined;
  try {
    canonical = new Intl.Locale(`und-${code}`).region;
    name = regionNames.of(code);
  } catch {
    return `"${code}" is not an ISO 3166-1 alpha-2 country code`;
  }
  // UK, SU, YU...: aliases the databases never return.
  if (canonical !== undefined && canonical !== code) return `"${code}" is not an ISO 3166-1 alpha-2 country code; use "${canonical}"`;
  if (name === undefined) return `"${code}" is not an assigned ISO 3166-1 alpha-2 country code`;
  return undefined;
}

async function countryRules(raw: RawCountries, database: string | undefined, at: string, ctx: BuildContext): Promise<CountryRules | undefined> {
  const where = `${at}.countries`;
  const before = ctx.issues.length;
  if (!raw.allow && !raw.deny) ctx.issues.push({ path: where, message: 'needs allow or deny' });
  for (const key of ['allow', 'deny'] as const) {
    raw[key]?.forEach((code, j) => {
      const problem = countryProblem(code);
      if (problem) ctx.issues.push({ path: `${where}.${key}[${j}]`, message: problem });
    });
  }
  const dbKey = database === undefined ? '' : `${ctx.baseDir}\0${database}`;
  let opening = ctx.databases.get(dbKey);
  if (!opening) {
    opening = openCountryDatabase(database, ctx.baseDir);
    ctx.databases.set(dbKey, opening);
  }
  const db = await opening;
  if (typeof db === 'string') ctx.issues.push({ path: database === undefined ? where : `${at}.geoip.database`, message: db });
  if (ctx.issues.length > before || typeof db === 'string') return undefined;
  return {
    db,
    allow: raw.allow ? new Set(raw.allow) : undefined,
    deny: raw.deny ? new Set(raw.deny) : undefined,
    unknownDenied: raw.unknown === 'deny',
    where,
  };
}
