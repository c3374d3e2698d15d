/**
 * Who is the client? The socket peer, unless the peer is a trusted proxy: then the right-most
 * address of X-Forwarded-For (or Forwarded) that is not itself a trusted proxy. Headers from an
 * untrusted peer are ignored, so a client cannot spoof its address by sending X-Forwarded-For.
 */
import { BlockList, isIP } from 'node:net';

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  /** Throws with the entry's text on a malformed address or CIDR. */
  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) addEntry(this.list, entry);
  }

  has(ip: string): boolean {
    if (this.empty) return false;
    const family = isIP(ip);
    if (family === 0) return false;
    return this.list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Adds an address or CIDR to a BlockList; throws `Error(reason)` for a malformed entry. */
export function addEntry(list: BlockList, entry: string): void {
  const slash = entry.indexOf('/');
  const addr = normalizeIp(slash === -1 ? entry : entry.slice(0, slash));
  const family = isIP(addr);
  if (family === 0) throw new Error(`"${entry}" is not an IP address or CIDR`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (slash === -1) {
    list.addAddress(addr, type);
    return;
  }
  const bitsText = entry.slice(slash + 1);
  const bits = Number(bitsText);
  const max = family === 6 ? 128 : 32;
  if (!/^[0-9]{1,3}$/.test(bitsText) || bits > max) throw new Error(`"${entry}" has an invalid prefix length`);
  list.addSubnet(addr, bits, type);
}

/** `::ffff:10.0.0.1` → `10.0.0.1`, so IPv4 rules apply to IPv4-mapped IPv6 peers. */
export function normalizeIp(ip: string): string {
  if (ip.length > 7 && ip.charCodeAt(0) === 58 && ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  return ip;
}

/**
 * The client address for a request from `peer` carrying `xff` / `forwarded`. Walks the chain from
 * the right; each hop that is a trusted proxy hands over to the one on its left.
 */
export function resolveClientIp(
  peer: string,
  xff: string | undefined,
  forwarded: string | undefined,
  trusted: TrustedProxies,
): string {
  if (!trusted.has(peer)) return peer;
  const chain = xff !== undefined ? xff.split(',') : forwarded !== undefined ? forwardedFor(forwarded) : undefined;
  if (!chain) return peer;
  let client = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = normalizeIp(stripPort((chain[i] as string).trim()));
    if (isIP(hop) === 0) break; // garbage from the left of a trusted hop: keep the last good address
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/** The `for=` values of an RFC 7239 Forwarded header, in order. */
function forwardedFor(header: string): string[] {
  const out: string[] = [];
  for (const element of header.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      out.push(pair.slice(eq + 1).trim().replace(/^"|"$/g, ''));
    }
  }
  return out;
}

/** `1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`, `[::1]` → `::1`. */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    return end === -1 ? hop : hop.slice(1, end);
  }
  const colon = hop.indexOf(':');
  if (colon !== -1 && colon === hop.lastIndexOf(':')) return hop.slice(0, colon);
  return hop;
}
