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
 * - `rfi.include-name`: a URL to another site in a parameter whose name says it is included or
 *   loaded (`file=`, `include=`, `template=`, `lang=`, …), or a script / text file from another site
 *   in `page=`, `path=`, `doc=`, `view=`, `src=` (`?page=http://evil.example/shell.txt`). Another site:
 *   neither the request's host nor a host of the same registrable domain (`api.example.com` and
 *   `www.example.com` are one site) — paranoia 1, unlike `rfi.off-domain-url`;
 * - `rfi.authority-confusion`: a URL whose user info or first path segment spells another host
 *   (`http://example.com@evil.com/`, `http://example.com%2f@evil.com/` decoded to
 *   `http://example.com/@evil.com/`): parsers disagree on which host it names;
 * - `rfi.off-domain-url` (paranoia 2): any URL to another host than the request's.
 */
import { findUrls } from './urls.ts';
import { C_COLON, C_QUESTION, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

const ODD_SCHEMES = new Set(['file', 'ftp', 'ftps', 'gopher', 'dict', 'ldap', 'ldaps', 'jar', 'netdoc', 'tftp', 'local_file', 'smb', 'sftp', 'nfs', 'rmi', 'iiop', 'corba', 'nds', 'dns']);
const INCLUDE_PARAMS = /(?:^|[^a-z])(?:mosconfig_absolute_path|_conf\[path\]|_server\[document_root\]|gallery_basedir|path\[docroot\]|appserv_root|config\[root_dir\]|include_path|phpbb_root_path|absolute_path|base_path|rootpath|root_path|globals\[.*\])$/;

/** Parameter names that load or include what they name. */
const LOAD_NAMES = /^(?:file|filename|file_?path|include|inc|incl|include_?file|require|template|tpl|template_?file|module|layout|lang|language|locale_?file|conf|config|config_?file|skin|theme|load|root|root_?dir|dir|folder|base_?dir|loader)$/;
/** Parameter names that load what they name when it is a script or text file. */
const PAGE_NAMES = /^(?:page|path|doc|document|view|src|source|content|show|display|read|open|cat)$/;
const SCRIPT_FILE = /\.(?:php\d?|phtml|txt|inc|jsp|asp|aspx|pl|cgi|sh|py|rb)(?:[?#]|$)/;
const TLD_HOST = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|info|biz|dev|app|me|us|uk|de|fr|ru|cn|xyz|top|site|online|local|localhost|internal|example|test)$/;

/** The last two labels of a host (`www.example.com` → `example.com`), or the host itself (IP literals too). */
function site(host: string): string {
  if (/^[\d.]+$/.test(host) || host.includes(':')) return host; // an IP literal is its own site
  const last = host.lastIndexOf('.');
  if (last <= 0) return host;
  const prev = host.lastIndexOf('.', last - 1);
  return prev === -1 ? host : host.slice(prev + 1);
}

function sameSite(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`) || site(a) === site(b);
}

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
    if (u.userinfo) {
      const user = /:\/\/([^@\s\/]*)@/.exec(value.slice(u.index, u.index + 300));
      const userHost = user === null ? '' : (user[1] as string).replace(/:.*$/, '');
      if (TLD_HOST.test(userHost)) return hit('rfi.authority-confusion', CRITICAL, 'URL whose user info spells a host', u.index);
    }
    if (/^\/(?::[^@\s\/]{0,64}@(?:[^@\s\/]{0,64}@)?|@)[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:[\/:?#]|$)/.test(u.rest)) {
      return hit('rfi.authority-confusion', CRITICAL, 'URL whose first path segment spells a host', u.index);
    }
    if (u.index === 0 && !info.key && name !== '' && requestHost !== '' && !sameSite(u.host, requestHost) && (LOAD_NAMES.test(name) || (PAGE_NAMES.test(name) && SCRIPT_FILE.test(u.rest)))) {
      return hit('rfi.include-name', CRITICAL, `URL to another site in ${name.slice(0, 40)}`, u.index);
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
