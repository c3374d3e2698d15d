/**
 * Remote file inclusion (detector `rfi`): a parameter that names code or data to fetch from
 * elsewhere.
 * - `rfi.ip-url`: an http(s)/ftp URL whose host is an IP literal — the classic include payload
 *   (`?src=http://66.240.183.75/crash.php`);
 * - `rfi.scheme`: a URL scheme an API parameter has no use for (`file:`, `ftp:`, `gopher:`, `dict:`,
 *   `ldap:`, `jar:`, `netdoc:`, `tftp:`, `url:file:`);
 * - `rfi.include-param`: a URL in a parameter known from include vulnerabilities
 *   (`mosConfig_absolute_path`, `_CONF[path]`, …);
 * - `rfi.trailing-question-mark`: a URL ending in `?`, which cuts off the suffix the application appends;
 * - `rfi.off-domain-url` (paranoia 2): any URL to another host than the request's.
 */
import { findUrls } from './urls.ts';
import { C_COLON, C_QUESTION, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

const ODD_SCHEMES = new Set(['file', 'ftp', 'ftps', 'gopher', 'dict', 'ldap', 'ldaps', 'jar', 'netdoc', 'tftp', 'local_file', 'smb', 'sftp', 'nfs', 'rmi', 'iiop', 'corba', 'nds', 'dns']);
const INCLUDE_PARAMS = /(?:^|[^a-z])(?:mosconfig_absolute_path|_conf\[path\]|_server\[document_root\]|gallery_basedir|path\[docroot\]|appserv_root|config\[root_dir\]|include_path|phpbb_root_path|absolute_path|base_path|rootpath|root_path|globals\[.*\])$/;

export function detectRfi(value: string, paranoia: Paranoia, info: ValueInfo, name = '', requestHost = ''): Hit | null {
  if ((info.chars & (C_COLON | C_QUESTION)) === 0) return null;
  // `file?`, `https?` and `https://x/y?` at the start of a value: the truncation trick.
  if (/^(?:file|ftps?|https?)(?::\/\/[^\s]*)?\?+$/.test(value) && !info.key) {
    return hit('rfi.trailing-question-mark', CRITICAL, 'URL ending in "?"');
  }
  if (!value.includes(':')) return null;
  const fileUrl = /(?:^|[\s=;'"(])(?:url:|jar:|view-source:)?(?:file|local_file|netdoc):(?:\/|[a-z]:)/.exec(value) ?? /(?:^|[\s=;'"(])(?:jar|url):[a-z]+:/.exec(value);
  if (fileUrl !== null) return hit('rfi.scheme', CRITICAL, `${fileUrl[0].trim().split(':')[0]}: URL`, fileUrl.index);
  const urls = findUrls(value);
  for (const u of urls) {
    if (ODD_SCHEMES.has(u.scheme)) return hit('rfi.scheme', CRITICAL, `${u.scheme}:// URL`, u.index);
    if (u.scheme !== 'http' && u.scheme !== 'https') continue;
    if (INCLUDE_PARAMS.test(name)) return hit('rfi.include-param', CRITICAL, `URL in include parameter ${name.slice(0, 40)}`, u.index);
    if (/^(?:\d{1,3}\.){3}\d{1,3}$/.test(u.host) || u.host.includes(':')) {
      // Private and loopback addresses are the SSRF detector's; a public IP is an include server.
      if (!/^(?:10|127|0)\.|^192\.168\.|^172\.(?:1[6-9]|2\d|3[01])\.|^169\.254\./.test(u.host) && u.host !== '::1') {
        const scriptish = /\.(?:php\d?|phtml|txt|inc|jsp|asp|aspx|pl|cgi|sh|py|gif|jpg|png)(?:[?#]|$)/.test(u.rest) || u.index === 0;
        if (scriptish || info.location !== 'header') return hit('rfi.ip-url', CRITICAL, `URL to IP address ${u.host}`, u.index);
      }
    }
    if (/\?+$/.test(u.rest) && u.index === 0) return hit('rfi.trailing-question-mark', CRITICAL, 'URL ending in "?"', u.index);
    if (paranoia >= 2 && requestHost !== '' && info.location !== 'header') {
      const own = u.host === requestHost || u.host.endsWith(`.${requestHost}`) || requestHost.endsWith(`.${u.host}`);
      if (!own) return hit('rfi.off-domain-url', paranoia >= 3 ? CRITICAL : CRITICAL, `URL to another host ${u.host.slice(0, 60)}`, u.index);
    }
  }
  if (info.location === 'path' && paranoia >= 2) {
    const p = /\/(?:https?|ftps?|file):\/*[a-z0-9]/.exec(value);
    if (p !== null) return hit('rfi.url-in-path', WARNING, 'URL inside the request path', p.index);
  }
  return null;
}
