/** URLs inside a normalised value, and what their host is (for the RFI and SSRF detectors). */

export interface FoundUrl {
  scheme: string;
  /** Lower-case host without brackets, port or user info. */
  host: string;
  /** The authority had user info (`user@host`). */
  userinfo: boolean;
  index: number;
  /** Path, query and fragment after the authority (up to the next space). */
  rest: string;
}

const URL_RE = /([a-z][a-z0-9+.-]{0,19}):\/\/([^\s\/?#"'<>\\`]*)([^\s"'<>`]*)/g;

/** Every `scheme://authority…` in the value (at most 32). */
export function findUrls(v: string): FoundUrl[] {
  if (!v.includes('://')) return [];
  const out: FoundUrl[] = [];
  URL_RE.lastIndex = 0;
  for (let m = URL_RE.exec(v); m !== null && out.length < 32; m = URL_RE.exec(v)) {
    let authority = m[2] as string;
    const at = authority.lastIndexOf('@');
    const userinfo = at !== -1;
    if (userinfo) authority = authority.slice(at + 1);
    let host: string;
    if (authority.startsWith('[')) {
      const close = authority.indexOf(']');
      host = close === -1 ? authority.slice(1) : authority.slice(1, close);
    } else {
      const colon = authority.indexOf(':');
      // More than one colon without brackets: a bare IPv6 literal (malformed, still what a lenient parser sees).
      host = colon === -1 || authority.indexOf(':', colon + 1) !== -1 ? authority : authority.slice(0, colon);
    }
    if (host.endsWith('.')) host = host.slice(0, -1);
    out.push({ scheme: m[1] as string, host, userinfo, index: m.index, rest: m[3] as string });
  }
  return out;
}

export type HostKind = 'metadata' | 'loopback' | 'link-local' | 'private' | 'obfuscated' | 'ip' | 'name' | 'unspecified';

const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal', 'metadata.azure.com', 'metadata.packet.net', 'metadata.platformequinix.com', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']);
const METADATA_IPS = new Set(['169.254.169.254', '169.254.170.2', '100.100.100.200', '192.0.0.192', 'fd00:ec2::254', '169.254.169.253', '168.63.129.16']);

/** Classifies a URL host the way an SSRF filter must: by the address it reaches, whatever its spelling. */
export function classifyHost(host: string): HostKind {
  if (host === '') return 'name';
  if (METADATA_NAMES.has(host) || METADATA_IPS.has(host)) return 'metadata';
  if (host === 'localhost' || host.endsWith('.localhost') || host === 'localtest.me' || host.endsWith('.localtest.me') || host === 'ip6-localhost' || host === 'ip6-loopback') {
    return 'loopback';
  }
  if (host.includes(':')) return classifyV6(host);
  const v4 = parseIpv4Loose(host);
  if (v4 === null) {
    // nip.io / sslip.io style names that spell an address: 127.0.0.1.nip.io, 10-0-0-1.sslip.io
    const wild = /^(?:.*[.-])?(\d{1,3})[.-](\d{1,3})[.-](\d{1,3})[.-](\d{1,3})\.(?:nip\.io|sslip\.io|xip\.io|traefik\.me|lvh\.me)$/.exec(host);
    if (wild !== null) {
      const k = classifyV4([Number(wild[1]), Number(wild[2]), Number(wild[3]), Number(wild[4])]);
      return k === 'ip' ? 'name' : k;
    }
    if (host === 'lvh.me' || host.endsWith('.lvh.me')) return 'loopback';
    return 'name';
  }
  const kind = classifyV4(v4.octets);
  if (kind === 'ip' && !v4.canonical) return 'obfuscated';
  return kind;
}

function classifyV4(o: readonly number[]): HostKind {
  const [a = 0, b = 0, c = 0, d = 0] = o;
  const dotted = `${a}.${b}.${c}.${d}`;
  if (METADATA_IPS.has(dotted)) return 'metadata';
  if (a === 127) return 'loopback';
  if (a === 0) return a === 0 && b === 0 && c === 0 && d === 0 ? 'unspecified' : 'private';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || (a === 198 && (b === 18 || b === 19))) {
    return 'private';
  }
  return 'ip';
}

function classifyV6(host: string): HostKind {
  const h = host.replace(/%.*$/, '');
  if (h === '::1' || /^0{0,4}(?::0{0,4}){6}:0{0,3}1$/.test(h)) return 'loopback';
  if (h === '::' || /^0{0,4}(?::0{0,4}){7}$/.test(h)) return 'unspecified';
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h) ?? /^::(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped !== null) {
    const v4 = parseIpv4Loose(mapped[1] as string);
    if (v4 !== null) {
      const k = classifyV4(v4.octets);
      return k === 'ip' ? 'obfuscated' : k;
    }
  }
  if (/^fe[89ab][0-9a-f]:/.test(h)) return 'link-local';
  if (/^f[cd][0-9a-f]{2}:/.test(h)) return h === 'fd00:ec2::254' ? 'metadata' : 'private';
  if (/^[0-9a-f:]+$/.test(h)) return 'ip';
  return 'name';
}

/**
 * IPv4 in any spelling `inet_aton` accepts: dotted with 1–4 parts, each decimal, octal (`0177`) or
 * hex (`0x7f`): `127.1`, `2130706433`, `0x7f000001`, `0177.0.0.01`. `canonical` is false for
 * anything but the plain dotted-quad form.
 */
export function parseIpv4Loose(host: string): { octets: number[]; canonical: boolean } | null {
  if (!/^[0-9a-fx.]+$/.test(host) || !/^[0-9]/.test(host)) return null;
  const parts = host.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return null;
  const nums: number[] = [];
  let canonical = parts.length === 4;
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/.test(p)) {
      n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
      canonical = false;
    } else if (/^0[0-7]+$/.test(p)) {
      n = parseInt(p, 8);
      canonical = false;
    } else if (/^\d+$/.test(p)) {
      n = Number(p);
    } else return null;
    nums.push(n);
  }
  const last = nums[nums.length - 1] as number;
  const head = nums.slice(0, -1);
  if (head.some((n) => n > 255)) return null;
  const restBytes = 4 - head.length;
  if (last >= 2 ** (8 * restBytes)) return null;
  const octets = [...head];
  for (let i = restBytes - 1; i >= 0; i--) octets.push(Math.floor(last / 2 ** (8 * i)) % 256);
  return { octets, canonical };
}
