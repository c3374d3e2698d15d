/**
 * Address tables: a set of CIDRs compiled into sorted, disjoint ranges, looked up by binary search
 * in O(log n) with no allocation, and answering *which* rule matched (node:net BlockList answers
 * only yes or no, and takes ~380 ms to load 100,000 subnets; this table loads them in well under
 * 100 ms — see docs/ip-filtering.md, Performance).
 *
 * IPv4 is the IPv4-mapped block ::ffff:0:0/96 of IPv6 (RFC 4291 §2.5.5.2), as in node:net
 * BlockList: a rule written either way matches a client written either way. IPv4 clients and
 * rules live in a 32-bit table; an IPv6 rule inside ::ffff:0:0/96 is stored there as IPv4, and one
 * that contains the whole block (::/0, ::/64) also covers every IPv4 address.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A parsed rule: a CIDR of one family, and the index of the rule it came from. */
export interface Cidr {
  /** 4, or 6 for an address outside ::ffff:0:0/96. */
  family: 4 | 6;
  /** IPv4: [address]; IPv6: four 32-bit words, most significant first. */
  words: number[];
  prefix: number;
}

const scratch = new Uint32Array(4);
const groups = new Uint16Array(8);

/** Dotted-quad IPv4 in s[start, end) as an unsigned 32-bit number, or -1. No leading zeros. */
export function parseV4(s: string, start = 0, end = s.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? 46 : s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || octet > 255 || ++parts > 4) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero: 010 is octal to some parsers
      octet = octet * 10 + (c - 48);
      if (++digits > 3) return -1;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value : -1;
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** IPv6 text (`::`, embedded IPv4, a `%zone` is ignored) into `out` as four words; false when malformed. */
export function parseV6(s: string, out: Uint32Array): boolean {
  let end = s.indexOf('%');
  if (end === -1) end = s.length;
  let n = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let value = 0;
    let j = i;
    while (j < end) {
      const h = hex(s.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      const v4 = n <= 6 ? parseV4(s, i, end) : -1;
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      break;
    }
    if (j === i || j - i > 4 || n === 8) return false;
    groups[n++] = value;
    if (j === end) break;
    if (s.charCodeAt(j) !== 58 || ++j === end) return false;
    if (s.charCodeAt(j) === 58) {
      if (gap !== -1) return false;
      gap = n;
      j++;
    }
    i = j;
  }
  if (gap === -1 ? n !== 8 : n > 7) return false;
  if (gap !== -1) {
    const tail = n - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k] as number;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  for (let w = 0; w < 4; w++) out[w] = (((groups[2 * w] as number) << 16) | (groups[2 * w + 1] as number)) >>> 0;
  return true;
}

/** True when the four words are in ::ffff:0:0/96 (the IPv4 address is then words[3]). */
function isMapped(w: ArrayLike<number>): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

/**
 * A rule's text (`203.0.113.0/24`, `2001:db8::1`) as a CIDR; host bits are cleared (BlockList does
 * the same). Throws `Error(reason)` for anything else.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  if (/\s/.test(text)) throw new Error(`"${text}" is not an IP address or CIDR`);
  const addr = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? undefined : text.slice(slash + 1);
  let family: 4 | 6;
  let words: number[];
  if (isIPv4(addr)) {
    family = 4;
    words = [parseV4(addr)];
  } else if (isIPv6(addr) && !addr.includes('%') && parseV6(addr, scratch)) {
    family = 6;
    words = [...scratch];
  } else {
    throw new Error(`"${text}" is not an IP address or CIDR`);
  }
  if ((words[0] as number) < 0) throw new Error(`"${text}" is not an IP address or CIDR (no leading zeros in IPv4 octets)`);
  const max = family === 4 ? 32 : 128;
  const prefix = bitsText === undefined ? max : /^[0-9]{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(prefix <= max)) throw new Error(`"${text}" has an invalid prefix length (0..${max})`);
  for (let w = 0; w < words.length; w++) words[w] = maskWord(words[w] as number, prefix - 32 * w);
  if (family === 6 && prefix >= 96 && isMapped(words)) return { family: 4, words: [words[3] as number], prefix: prefix - 96 };
  return { family, words, prefix };
}

/** The first address of a network: `word` with all but its first `bits` bits (clamped to 0..32) cleared. */
function maskWord(word: number, bits: number): number {
  if (bits >= 32) return word;
  if (bits <= 0) return 0;
  return (word & (~0 << (32 - bits))) >>> 0;
}

/** The last address of the network, word `w`. */
function lastWord(word: number, bits: number): number {
  if (bits >= 32) return word;
  if (bits <= 0) return 0xffffffff;
  return (word | (0xffffffff >>> bits)) >>> 0;
}

/** An IPv6 rule shorter than /96 that contains ::ffff:0:0/96 also covers every IPv4 address. */
function coversMapped(c: Cidr): boolean {
  if (c.family !== 6 || c.prefix > 96) return false;
  const m = [0, 0, 0xffff, 0];
  for (let w = 0; w < 3; w++) if (maskWord(m[w] as number, c.prefix - 32 * w) !== c.words[w]) return false;
  return true;
}

/**
 * Sorted disjoint ranges with, for each, the rule it came from. CIDRs are either nested or
 * disjoint, so dropping every range contained in an earlier one leaves disjoint ranges, and the
 * containing rule is the one reported.
 */
export class AddressTable {
  readonly size: number;
  private readonly v4Start: Uint32Array;
  private readonly v4End: Uint32Array;
  private readonly v4Rule: Int32Array;
  /** Four words per range. */
  private readonly v6Start: Uint32Array;
  private readonly v6End: Uint32Array;
  private readonly v6Rule: Int32Array;

  /** `rules[i]` is the CIDR of rule i (the caller keeps each rule's text and origin). */
  constructor(rules: readonly Cidr[]) {
    this.size = rules.length;
    // Each range's first and last address, computed once: the sorts compare them ~n log n times.
    const first4 = new Float64Array(rules.length);
    const last4 = new Float64Array(rules.length);
    const first6 = new Uint32Array(rules.length * 4);
    const last6 = new Uint32Array(rules.length * 4);
    const v4: number[] = [];
    const v6: number[] = [];
    rules.forEach((c, i) => {
      if (c.family === 4) {
        first4[i] = c.words[0] as number;
        last4[i] = lastWord(c.words[0] as number, c.prefix);
        v4.push(i);
        return;
      }
      if (coversMapped(c)) {
        first4[i] = 0;
        last4[i] = 0xffffffff;
        v4.push(i);
      }
      for (let w = 0; w < 4; w++) {
        first6[i * 4 + w] = c.words[w] as number;
        last6[i * 4 + w] = lastWord(c.words[w] as number, c.prefix - 32 * w);
      }
      v6.push(i);
    });
    // By first address, then widest first, then rule order: a range inside the one kept before it is dropped.
    v4.sort((a, b) => (first4[a] as number) - (first4[b] as number) || (last4[b] as number) - (last4[a] as number) || a - b);
    const kept4: number[] = [];
    for (const i of v4) {
      const prev = kept4[kept4.length - 1];
      if (prev !== undefined && (first4[i] as number) <= (last4[prev] as number)) continue;
      kept4.push(i);
    }
    this.v4Start = Uint32Array.from(kept4, (i) => first4[i] as number);
    this.v4End = Uint32Array.from(kept4, (i) => last4[i] as number);
    this.v4Rule = Int32Array.from(kept4);

    v6.sort((a, b) => compareWords(first6, a * 4, first6, b * 4) || compareWords(last6, b * 4, last6, a * 4) || a - b);
    const kept6: number[] = [];
    for (const i of v6) {
      const prev = kept6[kept6.length - 1];
      if (prev !== undefined && compareWords(first6, i * 4, last6, prev * 4) <= 0) continue;
      kept6.push(i);
    }
    this.v6Start = new Uint32Array(kept6.length * 4);
    this.v6End = new Uint32Array(kept6.length * 4);
    kept6.forEach((i, k) => {
      this.v6Start.set(first6.subarray(i * 4, i * 4 + 4), k * 4);
      this.v6End.set(last6.subarray(i * 4, i * 4 + 4), k * 4);
    });
    this.v6Rule = Int32Array.from(kept6);
  }

  /** The rule covering an IPv4 address (unsigned 32-bit), or -1. */
  findV4(addr: number): number {
    const starts = this.v4Start;
    let lo = 0;
    let hi = starts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] as number) <= addr) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return at !== -1 && addr <= (this.v4End[at] as number) ? (this.v4Rule[at] as number) : -1;
  }

  /** The rule covering an IPv6 address (four words, outside ::ffff:0:0/96), or -1. */
  findV6(addr: Uint32Array): number {
    const starts = this.v6Start;
    let lo = 0;
    let hi = this.v6Rule.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compareWords(starts, mid * 4, addr, 0) <= 0) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return at !== -1 && compareWords(this.v6End, at * 4, addr, 0) >= 0 ? (this.v6Rule[at] as number) : -1;
  }
}

/** Compares a[ao..ao+4) with b[bo..bo+4) as 128-bit unsigned numbers: <0, 0 or >0. */
function compareWords(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number): number {
  for (let w = 0; w < 4; w++) {
    const d = (a[ao + w] as number) - (b[bo + w] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** A client address, parsed once per request into the module's scratch space. */
export interface ParsedClient {
  /** 0 when the address is not an IP address. */
  family: 0 | 4 | 6;
  v4: number;
  v6: Uint32Array;
}

const client: ParsedClient = { family: 0, v4: 0, v6: new Uint32Array(4) };

/**
 * Parses `ip` for lookups, without allocating: `::ffff:a.b.c.d` and `::ffff:xxxx:xxxx` become IPv4.
 * The result is shared scratch space, valid until the next call (requests are checked synchronously).
 */
export function parseClient(ip: string): ParsedClient {
  const v4 = ip.length <= 15 ? parseV4(ip) : -1;
  if (v4 >= 0) {
    client.family = 4;
    client.v4 = v4;
  } else if (parseV6(ip, client.v6)) {
    if (isMapped(client.v6)) {
      client.family = 4;
      client.v4 = client.v6[3] as number;
    } else {
      client.family = 6;
    }
  } else {
    client.family = 0;
  }
  return client;
}

/** The rule of `table` covering the client, or -1. */
export function findClient(table: AddressTable, c: ParsedClient): number {
  return c.family === 4 ? table.findV4(c.v4) : c.family === 6 ? table.findV6(c.v6) : -1;
}

/** `203.0.113.7` for a parsed IPv4 client (for the country lookup of a hex-mapped address). */
export function formatV4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}
