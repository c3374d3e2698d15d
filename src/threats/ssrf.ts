/**
 * Server-side request forgery indicators (detector `ssrf`): a URL in a parameter that points where
 * an outside client has no business sending the backend —
 * - `ssrf.metadata`: cloud metadata endpoints (169.254.169.254, metadata.google.internal,
 *   100.100.100.200, fd00:ec2::254);
 * - `ssrf.loopback`: localhost in any spelling (127.0.0.1, 127.1, 2130706433, 0x7f000001, [::1],
 *   [::ffff:127.0.0.1], 0.0.0.0, *.localhost, 127.0.0.1.nip.io);
 * - `ssrf.link-local`, `ssrf.private`: 169.254/16, fe80::/10; 10/8, 172.16/12, 192.168/16,
 *   100.64/10, fc00::/7 (critical from paranoia 2, a warning at 1: intranet links are sometimes
 *   legitimate data);
 * - `ssrf.obfuscated`: a public address in a non-canonical spelling (decimal, octal, hex), which
 *   only filter evasion uses;
 * - `ssrf.scheme`: gopher:// and dict://, which speak raw TCP to internal services.
 * The Referer and Origin headers are not checked: they name the page the client came from.
 */
import { classifyHost, findUrls } from './urls.ts';
import { C_COLON, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

export function detectSsrf(value: string, paranoia: Paranoia, info: ValueInfo): Hit | null {
  if (info.location === 'header' && (info.header === 'referer' || info.header === 'origin')) return null;
  if ((info.chars & C_COLON) === 0) return null;
  const urls = findUrls(value);
  let best: Hit | null = null;
  for (const u of urls) {
    if (u.scheme === 'gopher' || u.scheme === 'dict') return hit('ssrf.scheme', CRITICAL, `${u.scheme}:// URL`, u.index);
    const kind = classifyHost(u.host);
    switch (kind) {
      case 'metadata':
        return hit('ssrf.metadata', CRITICAL, `cloud metadata endpoint ${u.host}`, u.index);
      case 'loopback':
      case 'unspecified':
        return hit('ssrf.loopback', CRITICAL, `URL to the local host (${u.host.slice(0, 40)})`, u.index);
      case 'obfuscated':
        return hit('ssrf.obfuscated', CRITICAL, `IP address in an unusual spelling (${u.host.slice(0, 40)})`, u.index);
      case 'link-local':
        return hit('ssrf.link-local', CRITICAL, `link-local address ${u.host}`, u.index);
      case 'private':
        if (paranoia >= 2) return hit('ssrf.private', CRITICAL, `private address ${u.host}`, u.index);
        best ??= hit('ssrf.private', WARNING, `private address ${u.host}`, u.index);
        break;
      default:
        break;
    }
  }
  return best;
}
