/**
 * Path traversal and local file inclusion (detector `lfi`): on the path view of the normalised value
 * (`\` and `;` as `/`, `0x2e` spellings decoded),
 * - `lfi.traversal`: a `..` (or `...`) path segment: `../../x`, `..\x`, `..;/`, `/..`;
 * - `lfi.sensitive-file`: a file or directory that only an attacker asks for: `/etc/passwd`,
 *   `/proc/self/environ`, `win.ini`, `.env`, `.git/`, `.ssh/id_rsa`, `.aws/credentials`, …;
 * - `lfi.restricted-extension` (request path only): backups, dumps, keys and logs (`.bak`, `.sql`,
 *   `.pem`, `~`) that a web server should never hand out.
 *
 * All patterns are linear (no nested quantifiers); a cheap character check skips values that hold
 * neither a `.` next to a separator nor a known directory name.
 */
import { pathView } from './normalize.ts';
import { C_BACKSLASH, C_DIGIT, C_DOT, C_SEMI, C_SLASH, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

const TRAVERSAL = /(?:^|\/)\.{2,}(?:\/|$)/;

/** Directories of a Unix or Windows system whose next segment decides (the Set of that directory). */
const SYSTEM_DIR = /(?:^|[^a-z0-9_.-])(etc|proc|sys|root|var|usr|dev|home|windows|winnt|system32|inetpub|boot|opt)\/([a-z0-9_.@-]*)/g;

const ETC = new Set([
  'passwd', 'shadow', 'group', 'gshadow', 'hosts', 'issue', 'master.passwd', 'subuid', 'subgid', 'sudoers', 'sudoers.d',
  'crontab', 'cron.d', 'cron.daily', 'apache', 'apache2', 'httpd', 'nginx', 'mysql', 'ssh', 'ssl', 'letsencrypt', 'security',
  'pam.d', 'profile', 'bashrc', 'bash.bashrc', 'resolv.conf', 'fstab', 'motd', 'os-release', 'lsb-release', 'hostname',
  'environment', 'init.d', 'systemd', 'php', 'php5', 'php7', 'php8', 'my.cnf', 'redis', 'docker', 'kubernetes', 'shells',
  'inittab', 'inetd.conf', 'xinetd.d', 'exports', 'hosts.allow', 'hosts.deny', 'network', 'networks', 'netplan',
  'nsswitch.conf', 'ld.so.conf', 'ld.so.preload', 'modules', 'mtab', 'login.defs', 'logrotate.conf', 'rc.local', 'syslog.conf',
  'rsyslog.conf', 'aliases', 'postfix', 'vsftpd.conf', 'proftpd', 'samba', 'openvpn', 'wireguard', 'tomcat', 'tomcat7',
  'tomcat8', 'tomcat9', 'haproxy', 'squid', 'named.conf', 'bind', 'dovecot', 'exim4', 'ldap', 'openldap', 'krb5.conf',
  'krb5.keytab', 'pki', 'machine-id', 'timezone', 'localtime', 'passwd-', 'shadow-', 'group-', 'debian_version',
  'redhat-release', 'centos-release', 'alpine-release', 'apt', 'yum.conf', 'yum.repos.d', 'sysctl.conf', 'sysctl.d',
  'selinux', 'audit', 'apparmor', 'apparmor.d', 'default', 'skel', 'sudo.conf', 'doas.conf', 'polkit-1', 'dbus-1',
  'wpa_supplicant', 'config', 'secrets', 'gitlab', 'grafana', 'prometheus', 'consul', 'vault', 'nomad', 'elasticsearch',
  'mongod.conf', 'postgresql', 'memcached.conf', 'supervisor', 'supervisord.conf', 'lighttpd', 'caddy', 'traefik',
]);
const PROC = /^(?:self|thread-self|\d+|version|cpuinfo|meminfo|mounts|net|sys|interrupts|cmdline|environ|kcore|kallsyms|modules|partitions|stat|uptime|loadavg|devices|filesystems|config\.gz|sched_debug|iomem|ioports|vmallocinfo|keys|key-users|crypto|swaps|diskstats|zoneinfo|slabinfo|pagetypeinfo|buddyinfo|fb|dma|misc|mdstat|locks|timer_list|cgroups|kmsg|sysvipc|tty|driver|bus|irq|acpi|scsi|fs)$/;
const SYS = /^(?:class|kernel|devices|module|firmware|power|block|bus|fs|hypervisor)$/;
const VAR = /^(?:log|logs|run|lib|mail|spool|backups|www|db|cache|adm|opt|tmp|secrets|backup)$/;
const DEV = /^(?:tcp|udp|shm|mem|kmem|port|stdin|stdout|stderr|fd|random|urandom|mapper|disk|sda|nvme0n1|vda|xvda)$/;
const WINDOWS = /^(?:system32|syswow64|win\.ini|system\.ini|repair|panther|debug|temp|tasks|inf|minidump|memory\.dmp|windowsupdate\.log|microsoft\.net|sysnative|config|drivers|prefetch|ntds|boot|logs)$/;

/** Dot-files and dot-directories: the name after `/`, a start, `=`, `:`, space or a quote. */
const DOT_NAME = /(?:^|[/\s=:'"`(,])(\.[a-z0-9_][a-z0-9_.-]*)/g;
/** Secrets and repository metadata: suspect in any value. */
const DOT_SECRETS = new Set([
  '.env', '.git', '.gitconfig', '.git-credentials', '.svn', '.hg', '.bzr', '.cvs', '.htaccess', '.htpasswd', '.htdigest',
  '.ssh', '.aws', '.azure', '.gcloud', '.kube', '.docker', '.dockercfg', '.dockerenv', '.npmrc', '.yarnrc', '.pypirc', '.netrc',
  '.pgpass', '.my.cnf', '.mysql_history', '.psql_history', '.bash_history', '.zsh_history', '.sh_history', '.history',
  '.python_history', '.node_repl_history', '.rediscli_history', '.lesshst', '.viminfo', '.bashrc', '.bash_profile',
  '.bash_logout', '.zshrc', '.profile', '.cshrc', '.tcshrc', '.kshrc', '.xinitrc', '.rhosts', '.shosts', '.forward',
  '.gnupg', '.vault-token', '.terraformrc', '.tfstate', '.boto', '.s3cfg', '.passwd-s3fs', '.user.ini', '.php_history',
]);
/** Tool and editor directories: suspect as a request path (nobody serves them on purpose), not inside text. */
const DOT_TOOLS = new Set([
  '.ds_store', '.idea', '.vscode', '.config', '.local', '.cache', '.composer', '.gem', '.m2', '.gradle', '.ivy2', '.sbt',
  '.cargo', '.rustup', '.wget-hsts', '.subversion', '.claude', '.cursor', '.continue', '.aider', '.roo', '.zed', '.cline',
  '.kiro', '.windsurf', '.rovodev', '.codex', '.opencode', '.a0proj', '.plandex', '.fabric', '.n8n', '.junie',
  '.aiignore', '.cursorignore', '.cursorrules', '.windsurfrules', '.clinerules', '.github', '.gitlab-ci.yml',
  '.travis.yml', '.circleci', '.terraform', '.pki',
]);

/** Well-known sensitive file names, wherever they stand. */
const FILE_NAME = /(?:^|[^a-z0-9_.-])(?:(?:win|boot|system|php|desktop)\.ini|web\.config|applicationhost\.config|wp-config\.php|configuration\.php|localsettings\.php|id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?|authorized_keys2?|known_hosts|master\.passwd|ntds\.dit|httpd\.conf|apache2\.conf|nginx\.conf|my\.cnf|pagefile\.sys|hiberfil\.sys|autoexec\.bat|unattend\.xml|sysprep\.inf|credentials\.xml|server\.key|privkey\.pem|docker-compose\.ya?ml|\.?bash_history|sam\.bak|boot\.ini|(?:backup|dump|database|db)\.sql(?:\.(?:gz|zip|bz2|xz|7z|tar))?|debug\.log|error\.log|errors\.log|access\.log)(?![a-z0-9_-])/;

const FILE_NAME_GATE = /\.(?:ini|config|php|conf|cnf|sys|bat|xml|inf|dit|key|pem|ya?ml|sql|log|pub|bak)|id_|_keys|known_hosts|passwd|history/;

/** Extensions a web server never hands out (request path only). */
const RESTRICTED_EXT = /\.(?:bak|backup|old|orig|original|save|swp|swo|tmp|temp|sql|sqlite|sqlite3|db|mdb|rdb|dump|dmp|log|pem|key|crt|p12|pfx|jks|keystore|kdbx|ovpn|cer|der|asc|gpg|pgp|htpasswd|htaccess|ini|conf|cfg|config|inc|lock|sh|bash|bat|cmd|ps1|vbs|dll|exe|msi|war|ear|class|py|rb|pl|cgi|env|yml|yaml|toml|properties|git|svn|hg|tar|tgz|gz|zip|7z|rar|bz2|xz|zst)(?:$|\/)|~$/;
/** Of those, the ones that are also a routine API resource (`.json` is not listed): scored lower. */
const COMMON_EXT = /\.(?:ini|conf|cfg|config|yml|yaml|toml|properties|py|rb|pl|sh|bat|cmd|ps1|lock|class|exe|msi|dll|tar|tgz|gz|zip|7z|rar|bz2|xz|zst|cer|der|asc|crt)(?:$|\/)/;

export function detectLfi(value: string, paranoia: Paranoia, info: ValueInfo): Hit | null {
  if ((info.chars & (C_SLASH | C_BACKSLASH | C_DOT | C_SEMI)) === 0 && !((info.chars & C_DIGIT) !== 0 && value.includes('0x'))) return null;
  const v = pathView(value);
  const inPath = info.location === 'path';
  const t = TRAVERSAL.exec(v);
  if (t !== null) {
    // In prose a single `../` is a relative link; two in a row, or one that starts the value, is traversal.
    const weak = !inPath && prose(v, t.index) && !/(?:^|\/)\.{2,}\/\.{2,}(?:\/|$)/.test(v);
    if (!weak || paranoia >= 2) return hit('lfi.traversal', CRITICAL, 'path traversal segment', t.index);
    return hit('lfi.traversal', WARNING, 'relative path in text', t.index);
  }
  const f = sensitiveFile(v, inPath);
  if (f !== null) {
    if (f.score === CRITICAL && !inPath && paranoia < 2 && prose(v, f.at)) return hit(f.rule, WARNING, `${f.reason} (in text)`, f.at);
    return f;
  }
  if (inPath) {
    const e = RESTRICTED_EXT.exec(v);
    if (e !== null && !v.startsWith('/.well-known/')) {
      const common = COMMON_EXT.test(e[0]);
      if (!common) return hit('lfi.restricted-extension', CRITICAL, `restricted file extension ${e[0].replace(/\/$/, '')}`, e.index);
      if (paranoia >= 2) return hit('lfi.restricted-extension', WARNING, `file extension ${e[0].replace(/\/$/, '')}`, e.index);
    }
  } else if (paranoia >= 3 && /(?:^|[\s=])\.\.(?:$|\s)/.test(v)) {
    return hit('lfi.traversal', WARNING, 'bare .. segment', v.indexOf('..'));
  }
  return null;
}

/** A value without `/`, `\`, `.` or `;` cannot name a path. */
function mayHoldPath(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 47 || c === 92 || c === 46 || c === 59) return true;
  }
  return false;
}

/**
 * The evidence at `at` stands inside prose: preceded by a space, in a value of several words. A path
 * that is the whole value, or follows `=` / a quote / a command, is not prose.
 */
function prose(v: string, at: number): boolean {
  let i = at;
  while (i > 0 && v.charCodeAt(i - 1) !== 32 && v.charCodeAt(i - 1) !== 10) i--;
  if (i === 0) return false;
  let spaces = 0;
  for (let k = 0; k < v.length && spaces < 3; k++) if (v.charCodeAt(k) === 32) spaces++;
  return spaces >= 3;
}

function sensitiveFile(v: string, inPath: boolean): Hit | null {
  if (v.includes('/')) {
    SYSTEM_DIR.lastIndex = 0;
    for (let m = SYSTEM_DIR.exec(v); m !== null; m = SYSTEM_DIR.exec(v)) {
      const dir = m[1] as string;
      const name = m[2] as string;
      if (isSensitive(dir, name, v, m.index + m[0].length)) {
        const at = m.index + (m[0].charCodeAt(0) === 47 || /^[a-z]/.test(m[0]) ? 0 : 1);
        return hit('lfi.sensitive-file', CRITICAL, `system file ${dir}/${name}`.slice(0, 80), at);
      }
    }
  }
  if (v.includes('.')) {
    DOT_NAME.lastIndex = 0;
    for (let m = DOT_NAME.exec(v); m !== null; m = DOT_NAME.exec(v)) {
      const name = (m[1] as string).replace(/[.]+$/, '');
      const at = m.index + m[0].length - (m[1] as string).length;
      if (DOT_SECRETS.has(name) || (name.startsWith('.env.') && name.length < 24)) {
        return hit('lfi.sensitive-file', CRITICAL, `sensitive dot-file ${name}`.slice(0, 80), at);
      }
      if (inPath && DOT_TOOLS.has(name)) return hit('lfi.sensitive-file', CRITICAL, `tool directory ${name}`.slice(0, 80), at);
    }
    const f = FILE_NAME_GATE.test(v) ? FILE_NAME.exec(v) : null;
    if (f !== null) return hit('lfi.sensitive-file', CRITICAL, `sensitive file ${f[0].trim()}`.slice(0, 80), f.index);
  }
  return null;
}

function isSensitive(dir: string, name: string, v: string, end: number): boolean {
  switch (dir) {
    case 'etc':
      return ETC.has(name) || name.startsWith('passwd') || name.startsWith('shadow');
    case 'proc':
      return PROC.test(name);
    case 'sys':
      return SYS.test(name);
    case 'var':
      return VAR.test(name) && (name !== 'www' || v.charCodeAt(end) === 47);
    case 'usr':
      // `/usr/bin/env` is every shebang line; only server configuration counts.
      return name === 'local' && /^\/(?:etc|apache\d?|apps|nginx|lib\/php|php)\//.test(v.slice(end, end + 16));
    case 'dev':
      return DEV.test(name);
    case 'root':
      return name.length > 0;
    case 'home':
      return /\/\.(?:ssh|aws|bash_history|docker|kube|gnupg|config)/.test(v.slice(end, end + 64));
    case 'windows':
    case 'winnt':
      return WINDOWS.test(name);
    case 'system32':
      return /^(?:config|drivers|cmd\.exe|inetsrv|logfiles|wbem|windowspowershell|tasks|sam)$/.test(name);
    case 'inetpub':
      return /^(?:wwwroot|logs|ftproot|mailroot|temp)$/.test(name);
    case 'boot':
      return /^(?:grub|vmlinuz|initrd|config-|system\.map)/.test(name);
    case 'opt':
      return false;
    default:
      return false;
  }
}
