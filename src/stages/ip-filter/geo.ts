/**
 * The country database: a MaxMind DB file read whole at config build and searched with the
 * `maxmind` reader. The default is the bundled @ip-location-db/geo-whois-asn-country-mmdb
 * (records `{ country_code }`); MaxMind GeoLite2 / GeoIP2 Country and City files (records
 * `{ country: { iso_code } }`) work too. A file that is missing, not a MaxMind DB, or not a
 * country database fails the config: country rules never silently allow everything.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Reader, type Response } from 'maxmind';

const BUNDLED_PACKAGE = '@ip-location-db/geo-whois-asn-country-mmdb';

/** The bundled database file (IPv4 and IPv6 in one); resolved when asked, so a broken install only fails country rules. */
export function bundledDatabase(): string {
  return createRequire(import.meta.url).resolve(`${BUNDLED_PACKAGE}/geo-whois-asn-country.mmdb`);
}

/** Decoded records kept by data offset. A country database has a few hundred distinct records. */
const RECORD_CACHE_MAX = 4096;

interface CountryRecord {
  country_code?: unknown;
  country?: { iso_code?: unknown };
  registered_country?: { iso_code?: unknown };
}

/** The decoder's record cache, bounded: cleared when full (nothing grows without limit). */
class BoundedCache {
  private readonly map = new Map<string | number, unknown>();
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size >= RECORD_CACHE_MAX) this.map.clear();
    this.map.set(key, value);
  }
}

export class CountryDatabase {
  /** The file, resolved. */
  readonly file: string;
  readonly type: string;
  readonly builtAt: Date;
  /** False for an IPv4-only database: IPv6 clients are then of unknown country. */
  readonly ipv6: boolean;
  private readonly reader: Reader<Response>;

  constructor(file: string, buffer: Buffer) {
    this.file = file;
    this.reader = new Reader<Response>(buffer, { cache: new BoundedCache() });
    this.type = this.reader.metadata.databaseType;
    this.builtAt = this.reader.metadata.buildEpoch;
    this.ipv6 = this.reader.metadata.ipVersion === 6;
  }

  /**
   * The ISO 3166-1 alpha-2 code of `ip` (IPv4 dotted or IPv6), or undefined when the database has
   * none. The location (`country`) wins over the registration (`registered_country`). Throws on a
   * corrupt database.
   */
  country(ip: string): string | undefined {
    if (!this.ipv6 && ip.includes(':')) return undefined;
    const r = this.reader.get(ip) as CountryRecord | null;
    if (r === null) return undefined;
    const code = r.country_code ?? r.country?.iso_code ?? r.registered_country?.iso_code;
    return typeof code === 'string' ? code : undefined;
  }
}

/**
 * Opens a country database for the config; `file` undefined means the bundled one. Returns the
 * database, or the reason it cannot be used (naming the file).
 */
export async function openCountryDatabase(file: string | undefined, baseDir: string): Promise<CountryDatabase | string> {
  let resolved: string;
  try {
    resolved = file === undefined ? bundledDatabase() : path.resolve(baseDir, file);
  } catch (err) {
    return `the bundled country database (npm package ${BUNDLED_PACKAGE}) is not installed: ${(err as Error).message.split('\n')[0]}`;
  }
  const shown = file === undefined ? `the bundled country database ${resolved}` : resolved === file ? file : `${file} (${resolved})`;
  let buffer: Buffer;
  try {
    buffer = await readFile(resolved);
  } catch (err) {
    return `cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  let db: CountryDatabase;
  try {
    db = new CountryDatabase(resolved, buffer);
    // A truncated or damaged search tree passes the metadata check; a few lookups walk it.
    for (const probe of ['1.1.1.1', '8.8.8.8', '2001:4860:4860::8888', '2a00:1450::1']) db.country(probe);
  } catch (err) {
    return `${shown} is not a usable MaxMind DB file: ${(err as Error).message}`;
  }
  if (!/country|city|enterprise/i.test(db.type)) {
    return `${shown} is a "${db.type}" database; a country (or city) database is needed`;
  }
  return db;
}
