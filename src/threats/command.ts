/**
 * OS command injection (detector `rce`). The value is read as a shell would read it:
 *
 * 1. the shell view removes what a shell removes or expands to nothing — quotes inside words
 *    (`c'a't`, `c""at`), backslash escapes (`c\at`), unset variables and positional parameters
 *    (`cu$@rl`, `c${x}url`, `$9`), empty substitutions (`` ` ` ``, `$()`, `<()`), single-character
 *    globs (`/etc/pas[s]wd`); `$IFS` becomes a space;
 * 2. the view is cut into commands at shell separators (`;` `|` `&` newline `` ` `` `$(` `(` `{`);
 *    each command's first word, after `sudo` / `nohup` / `time` / `env` / `VAR=x` prefixes and a
 *    `/usr/bin/`-style path, is looked up in the lists of Unix and Windows commands;
 * 3. a known command is judged by what surrounds it: after a separator (`;id`, `|whoami`,
 *    `$(curl …)`) it is an injection; at the start of the value it needs shell-looking arguments
 *    (`ls -la`, `cat /etc/passwd`, `ping 127.0.0.1`) — `cat food` or `time flies` are words, not commands;
 *    commands that are also English words need more evidence than `whoami` does.
 *
 * Plus structures that are shell and nothing else: `$(…)`, `${IFS}`, `/dev/tcp/`, here-strings,
 * brace expansion `{cat,/etc/passwd}`, glob paths `/???/??t`, Shellshock `() {`, fork bombs,
 * Windows `cmd /c`, `for %x in (…) do`, `if exist`, PowerShell (`-enc`, `iex(`, `Invoke-*`), and
 * SMTP / IMAP / POP3 commands after a line break (mail header and command injection).
 */
import { F_LEADING_NEWLINE } from './normalize.ts';
import { C_AMP, C_ANGLE, C_EQUALS, C_BACKSLASH, C_BACKTICK, C_BRACE, C_DASH, C_DIGIT, C_DOLLAR, C_NEWLINE, C_PAREN, C_PERCENT, C_PIPE, C_QUOTE, C_SEMI, C_SLASH, C_SPACE, C_TILDE, CRITICAL, ERROR, hit, NOTICE, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

/**
 * Unix commands that are not English words: their name alone, in command position after a shell
 * separator, is an injection.
 */
const UNIX_STRONG = new Set(`
flock perf lastlog lastlogin uconv ssh-copy-id ssh-keygen rmt-tar rmt-dump visudo cscli
whoami uname ifconfig ipconfig netstat nslookup wget curl ncat netcat socat telnet zsh ksh csh tcsh busybox chmod
chown chgrp chattr lsattr mkfifo mknod useradd adduser usermod userdel passwd sudo crontab systemctl iptables
ip6tables nmap tcpdump base64 base32 xxd hexdump python2 python3 php nodejs lua luajit irb gcc c89 c99 g++ clang awk
gawk mawk nawk grep egrep fgrep rgrep xargs nohup setsid strace ltrace gdb bsdtar unzip gzip gunzip bzip2 bunzip2 xz
unxz zstd zcat bzcat xzcat zstdcat 7z 7za unrar scp sftp ssh rsync tftp whois traceroute tracepath arp lsof pkill
killall pgrep pwd env printenv hostname ls rm cp mv mkdir rmdir chroot shred dmesg lsmod insmod rmmod modprobe fdisk
mkfs uptime htop vi vim nvim nano emacs pico visudo cscli crictl ctr runc ansible ansible-playbook ansible-galaxy
ansible-vault ansible-console ansible-pull ansible-inventory ansible-config ansible-doc chef-client chef-shell
chef-vault chef-run chef-solo getent getfacl setfacl openssl sqlite3 mysql psql mongosh redis-cli nmcli iwconfig
netcat.openbsd nc.traditional ncat.exe curl.exe wget.exe certutil bitsadmin powershell pwsh cmd wmic rundll32
regsvr32 mshta cscript wscript netsh schtasks tasklist taskkill systeminfo icacls cacls takeown vssadmin wevtutil
bcdedit bcdboot diskpart findstr reg whoami.exe cmd.exe powershell.exe msiexec msbuild installutil regasm regsvcs
odbcconf cmstp forfiles pcalua wsl bash.exe sh.exe uniq md5sum sha1sum sha256sum sha512sum cksum objdump readelf nm
ldd file.exe tac chpasswd newgrp sg runuser pkexec doas tmux tclsh jrunscript jjs jshell php-cgi php7 php8 perl5
python3.8 python3.9 python3.10 python3.11 python3.12 ruby2 ruby3 gccgo tcc pdksh mksh yash rbash rzsh lynx w3m elinks
aria2c axel ftp ldapsearch smbclient rpcclient enum4linux hashcat msfconsole msfvenom sqlmap nikto dirb gobuster
sudoedit nsenter unshare capsh setcap getcap systemd-run atq atrm mesg ulimit umask rmt cpulimit regedit
`.trim().split(/\s+/));

/**
 * Tool names that mean a command line even alone at the start of a value (`whoami`,
 * `ansible-config dump`): no sentence starts with them.
 */
const RARE = /^(?:whoami|ifconfig|ipconfig|netstat|nslookup|uname|visudo|cscli|wget|busybox|mkfifo|socat|ncat|netcat|useradd|usermod|crontab|systemctl|iptables|chmod|chown|powershell|pwsh|certutil|bitsadmin|mshta|rundll32|regsvr32|wmic|schtasks|tasklist|taskkill|systeminfo|lsof|pkill|killall|strace|ltrace|xxd|hexdump|nohup|setsid|getfacl|setfacl|lsattr|chattr|dmesg|insmod|modprobe|tcpdump|nmap|flock|lastlog|uconv|pkexec|nsenter|unshare|capsh|setcap|getcap|msfconsole|msfvenom|sqlmap|hydra|ansible(?:-[a-z]+)?|chef-[a-z]+|knife|ssh-copy-id|ssh-keygen|ssh-keyscan|rmt-[a-z]+|[a-z]+-(?:shell|vault|console))$/;

/** Commands that are also everyday words or abbreviations: they need shell-looking context. */
const UNIX_WORDS = new Set(`
cat id echo printf sleep find locate which whereis type more less head tail sort cut tr tee fold comm diff patch file
stat free top kill time date watch yes expr eval exec source alias unalias set unset export trap history jobs wait
touch ln ping host w who last finger groups users write nice renice split join paste look man info help test true
false read exit logout dir copy move del erase ren rd md cd call start format print tree more label mount umount make
install service shutdown reboot halt poweroff init sync tail tac column convert view edit open run sudo script expect
screen wall at batch logger route links fish strings groovy wish chef knife puppet john hydra medusa dig tar ash dash
node ruby perl python cc bash sh nc dd wc mongo scala sed rev od nl su ps du df ex ip
`.trim().split(/\s+/));

/**
 * Developer tools: in support tickets and comments as often as in attacks. They count only after a
 * shell separator (`;docker run …`), never at the start of a value or a line.
 */
const DEVOPS = new Set('kubectl docker podman npm npx yarn pnpm pip pip3 gem bundle rake cargo go git make brew apt apt-get yum dnf apk snap helm terraform mvn gradle dotnet composer aptitude'.split(' '));

/** Windows shell built-ins and PowerShell aliases that matter after a separator. */
const WINDOWS_WORDS = new Set('net ver vol assoc ftype chcp cls pushd popd title color mklink robocopy xcopy attrib cipher compact expand replace subst'.split(' '));

/** Quotes that split a word (`c''at`, `w"h"oami`): shell syntax, not an apostrophe. */
const QUOTE_EVASION = /[a-z](?:''|"")[a-z]|(?:^|[a-z])['"][a-z]{1,8}['"][a-z]/;
/** A value that starts with a rare tool name (see RARE). */
const RARE_START = /^(?:if\s+(?:\/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\s+\S+\s+@?(?:echo|set|goto|call|cmd|del|copy|move|start|exit|type|dir|ren|mkdir|rmdir|md|rd|cls|\()\b|if\s+(?:\/i\s+)?(?:not\s+)?[^\s=]+\s*==\s*\S+\s+@?(?:echo|set|goto|call|cmd|del|copy|move|start|exit|type|dir|ren|mkdir|rmdir|md|rd|cls|\()\b|whoami|ifconfig|ipconfig|netstat|nslookup|uname|visudo|cscli|wget|ansible|chef-|ssh-copy-id|rmt-|lastlog|flock)/;

/** `time whoami`, `nohup id`: a prefix and a command, without any metacharacter. */
const PREFIXED = /^(?:sudo|nohup|time|env|exec|timeout|nice|setsid|strace|doas|cpulimit|chroot|watch) +[a-z]/;

/** Prefixes that run the next word as a command. */
const PREFIX = new Set(['sudo', 'nohup', 'time', 'env', 'exec', 'command', 'builtin', 'nice', 'xargs', 'busybox', 'timeout', 'setsid', 'strace', 'ltrace', 'doas', 'stdbuf', 'unbuffer', 'cpulimit', 'chroot', 'watch', 'then', 'do', 'else', '!']);

/** The shell view: what a shell executes after quote removal and expansion of unset variables. */
export function shellView(v: string): string {
  let s = v;
  // `cat+/etc/passwd`, `;+cat+/etc`, `ls+-la`: in a value without spaces, a `+` after a separator or
  // before an argument (`/`, `~`, `$`, `-`) stood for a space (a form encoded twice); `;set+@`, `c++` keep it.
  if (s.includes('+') && !s.includes(' ')) s = s.replace(/(?<=[;|&`(])\+|\+(?=[\/~$-])/g, ' ');
  if (s.includes('$')) {
    if (s.includes('=')) s = expandAssignments(s);
    s = s
      .replace(/\$\{?ifs\}?(?:\$\d)?/g, ' ')
      .replace(/\$\{[a-z_][a-z0-9_.:-]{0,32}\}/g, '')
      .replace(/\$[@*#?!$0-9-]/g, '')
      .replace(/\$(?=['"])/g, '')
      .replace(/\$\(\)/g, '')
      .replace(/\$[a-z_][a-z0-9_]{0,31}(?=[\\'"]|$|[^a-z0-9_])/g, (m, off: number) => {
        // `$a` between letters (`c$uat`, `n$u\c`) expands to nothing; `$home` before a space is a word.
        const prev = s.charCodeAt(off - 1);
        return (prev >= 97 && prev <= 122) || prev === 92 ? '' : m;
      });
  }
  if (s.includes('``')) s = s.replace(/``/g, '');
  if (s.includes('()')) s = s.replace(/[<>]\(\)/g, '');
  if (s.includes('[')) s = s.replace(/\[([a-z0-9.\/])\]/g, '$1');
  if (s.includes('\\')) s = s.replace(/\\(?=[a-z0-9\/.\-])/g, '').replace(/\\\n/g, '');
  if (s.includes("'") || s.includes('"')) s = s.replace(/(?<=[a-z0-9_\/.-]|^|[;|&\n`(]\s{0,8})(?:''|""|['"])(?=[a-z0-9_\/.-])/g, '').replace(/(?<=[a-z0-9_\/.-])['"](?=\s|$|[;|&])/g, '');
  return s;
}

/**
 * Variables the value itself assigns, substituted where it uses them: `c=cat&&$c /etc/passwd`,
 * `d=/dev&&sh 0>$d/tcp/…`, `c1=c;c2=a;c3=t;$c1$c2$c3 …` — what the shell runs. At most 16
 * assignments; a variable assigned twice keeps its last value.
 */
const ASSIGNMENT = /(?:^|[\s;|&`(])([a-z_][a-z0-9_]{0,31})=('[^']{0,64}'|"[^"]{0,64}"|(?:\\.|[^\s;|&`()\\'"]){0,64})/g;

export function expandAssignments(v: string): string {
  const vars = new Map<string, string>();
  ASSIGNMENT.lastIndex = 0;
  for (let m = ASSIGNMENT.exec(v); m !== null && vars.size < 16; m = ASSIGNMENT.exec(v)) {
    let val = m[2] as string;
    if (val.startsWith("'") || val.startsWith('"')) val = val.slice(1, -1);
    else val = val.replace(/\\(.)/g, '$1');
    vars.set(m[1] as string, val);
  }
  if (vars.size === 0) return v;
  return v.replace(/\$\{([a-z_][a-z0-9_]{0,31})\}|\$([a-z_][a-z0-9_]{0,31})/g, (all, a: string | undefined, b: string | undefined) => {
    // Names are read greedily, as the shell does (`$c1$c2` is `$c1` then `$c2`); an unassigned one stays for shellView.
    return vars.get((a ?? b) as string) ?? all;
  });
}

/** Where a command can start: after these, skipping spaces. */
const SEPARATOR = /[;|&\n`({!]|\$\(|<\(|>\(/g;

/** What a command's first word looks like: optional path, then the name. */
const WORD = /^(?:(?:\/(?:usr\/)?(?:local\/)?s?bin\/|\.\/|\/bin\/|\/usr\/bin\/|c:\/windows\/system32\/|%[a-z]+%\/)?)([a-z0-9_][a-z0-9_.+-]{0,31})/;

interface Candidate {
  name: string;
  at: number;
  rest: string;
  /** After a shell separator (not at the start of the value). */
  separated: boolean;
  separator: string;
  /** The separator stands between spaces (`a & b`). */
  spaced: boolean;
  /** Introduced by `sudo` / `nohup` / `time` / …: a command line for sure. */
  prefixed: boolean;
}

/** A value without any of these cannot hold a command line worth reporting at paranoia 1–2. */
// Quotes, `?`, `*` and `!` alone (prose: "O'Brien", "why?") are not enough; in real payloads they
// come with a separator, a slash or a substitution.
const GATE_CHARS = C_SEMI | C_PIPE | C_AMP | C_BACKTICK | C_DOLLAR | C_NEWLINE | C_PAREN | C_BRACE | C_ANGLE | C_PERCENT | C_BACKSLASH | C_SLASH | C_TILDE;

export function detectCommand(value: string, paranoia: Paranoia, info: ValueInfo): Hit | null {
  if (paranoia < 3 && (info.chars & GATE_CHARS) === 0 && (info.flags & F_LEADING_NEWLINE) === 0 && !((info.chars & C_SPACE) !== 0 && ((info.chars & (C_DASH | C_DIGIT)) !== 0 || (!info.key && PREFIXED.test(value)))) && !((info.chars & C_QUOTE) !== 0 && (QUOTE_EVASION.test(value) || (!info.key && /^['"][a-z]/.test(value)))) && !(!info.key && RARE_START.test(value)) && !((info.chars & C_EQUALS) !== 0 && value.includes('alias'))) return null;
  if (value.length < 2) return paranoia >= 3 && info.location !== 'path' && /^[;|&`]$/.test(value) ? hit('rce.metachar', NOTICE, 'lone shell metacharacter') : null;
  const structural = shellStructures((info.chars & C_DOLLAR) !== 0 && (info.chars & C_EQUALS) !== 0 ? expandAssignments(value) : value, paranoia, info.chars);
  if (structural !== null && structural.score === CRITICAL) return structural;
  // A line break the normaliser trimmed from the start still puts the first word at the start of a line.
  const mail = info.location === 'path' ? null : mailInjection((info.flags & F_LEADING_NEWLINE) !== 0 ? `\n${value}` : value);
  if (mail !== null) return mail;
  const win = windowsShell(value, paranoia);
  if (win !== null && win.score === CRITICAL) return win;
  const sv = shellView(value);
  let best: Hit | null = structural ?? win;
  for (const c of candidates(sv)) {
    const h = judge(c, paranoia, info);
    if (h !== null && (best === null || h.score > best.score)) {
      best = h;
      if (h.score >= CRITICAL) return h;
    }
  }
  if (best === null && info.location === 'path') return null;
  return best;
}

/** The command candidates of a shell view: the value start, and after every separator. */
function* candidates(sv: string): Generator<Candidate> {
  const first = readCommand(sv, 0, false, '', false);
  if (first !== null) yield first;
  SEPARATOR.lastIndex = 0;
  let count = 0;
  for (let m = SEPARATOR.exec(sv); m !== null && count < 256; m = SEPARATOR.exec(sv)) {
    count++;
    const end = m.index + m[0].length;
    const spaced = m.index > 0 && /\s/.test(sv[m.index - 1] as string) && end < sv.length && /\s/.test(sv[end] as string);
    const c = readCommand(sv, end, true, m[0], spaced);
    if (c !== null) yield c;
  }
}

/** `a-z`, `0-9`, `_`: what a command name starts with (WORD). */
function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95;
}

/**
 * Fast rejection before `readCommand`'s regexes and slices: the plain word at `from` (no path prefix,
 * no `a=b` assignment, no `$var`) names nothing `judge` reports. Most candidates in prose are such
 * words (`hi`, `thanks`, `have`), so most values never pay for the slices.
 */
function plainNonCommand(sv: string, from: number): boolean {
  let i = from;
  while (i < sv.length && (sv.charCodeAt(i) === 32 || sv.charCodeAt(i) === 10 || sv.charCodeAt(i) === 9)) i++;
  if (i >= sv.length) return true;
  if (!isNameStart(sv.charCodeAt(i))) {
    // WORD needs a name character; only path prefixes (`/bin/x`, `./x`, `%x%/`) and `$var` assignments differ.
    const c = sv.charCodeAt(i);
    return c !== 47 && c !== 46 && c !== 37 && c !== 36;
  }
  let j = i + 1;
  while (j < sv.length && j - i < 32) {
    const c = sv.charCodeAt(j);
    if (isNameStart(c) || c === 46 || c === 43 || c === 45) j++;
    else break;
  }
  if (j - i >= 32) return false;
  const next = j < sv.length ? sv.charCodeAt(j) : 0;
  // `a=b cmd` (an assignment first) and `c:/windows/system32/cmd` take the full reading.
  if (next === 61 || next === 58 || next === 47) return false;
  // `ca?`, `wh??mi`: a glob in command position is resolved against the command lists (readCommand).
  if (next === 63 || next === 42) return false;
  let name = sv.slice(i, j);
  if (name.endsWith('.exe')) name = name.slice(0, -4);
  return !(UNIX_STRONG.has(name) || UNIX_WORDS.has(name) || WINDOWS_WORDS.has(name) || DEVOPS.has(name) || PREFIX.has(name));
}

function readCommand(sv: string, from: number, separated: boolean, separator: string, spaced: boolean): Candidate | null {
  if (plainNonCommand(sv, from)) return null;
  let i = from;
  let prefixed = false;
  for (let guard = 0; guard < 6; guard++) {
    while (i < sv.length && (sv.charCodeAt(i) === 32 || sv.charCodeAt(i) === 10 || sv.charCodeAt(i) === 9)) i++;
    const rest = sv.slice(i, i + 200);
    // Environment assignments before the command: `a=x cmd`.
    const assign = /^(?:[a-z_][a-z0-9_]*=[^\s;|&]*|\$[a-z_][a-z0-9_]*)\s+/.exec(rest);
    if (assign !== null) {
      i += assign[0].length;
      continue;
    }
    const w = WORD.exec(rest);
    if (w === null) return null;
    let name = (w[1] as string).replace(/\.exe$/, '');
    let after = i + w[0].length;
    const g = sv.charCodeAt(after);
    if ((g === 63 || g === 42) && !isCommand(name)) {
      // A glob in command position (`/bin/ca? /etc/passwd`): the shell runs the command it matches.
      const tail = /^[a-z0-9_.?*-]{0,16}/.exec(sv.slice(after, after + 16)) as RegExpExecArray;
      const resolved = globCommand(name + tail[0]);
      if (resolved !== null) {
        name = resolved;
        after += tail[0].length;
      }
    }
    if (PREFIX.has(name) && PREFIX_ARGS.test(sv.slice(after, after + 24))) {
      // `time whoami`, `sudo -u x id`, `timeout 5 sh`: the next word is the command.
      i = after;
      const opts = /^(?:\s+-{1,2}[a-z][a-z0-9-]*(?:[= ][a-z0-9_]+)?)*\s*(?:\d+[smhd]?\s+)?/.exec(sv.slice(i, i + 64));
      i += opts === null ? 0 : opts[0].length;
      const next = WORD.exec(sv.slice(i, i + 40));
      if (next !== null && isCommand((next[1] as string).replace(/\.exe$/, ''))) {
        prefixed = true;
        continue;
      }
      return { name, at: after - w[0].length, rest: sv.slice(after, after + 200), separated, separator, spaced, prefixed };
    }
    return { name, at: i, rest: sv.slice(after, after + 200), separated, separator, spaced, prefixed };
  }
  return null;
}

const PREFIX_ARGS = /^\s+\S/;

let GLOB_LIST: string[] | null = null;

/**
 * The command a glob word names (`ca?` → `cat`, `wh??mi` → `whoami`, `/?s?/?i?/c?t` → `cat`), or
 * null. At least two literal characters, and `*` only with three: `c*` or `s**t` names nothing.
 */
export function globCommand(word: string): string | null {
  const base = word.slice(word.lastIndexOf('/') + 1);
  if (base.length > 24 || !/[?*]/.test(base)) return null;
  const literal = base.replace(/[?*]/g, '').length;
  if (literal < 2 || (base.includes('*') && literal < 3)) return null;
  const re = new RegExp(`^${base.replace(/[.+-]/g, '\\$&').replace(/\?/g, '.').replace(/\*/g, '[a-z0-9_.-]*')}$`);
  GLOB_LIST ??= [...UNIX_STRONG].filter((n) => !n.includes('.')).concat([...UNIX_WORDS].filter((n) => n.length >= 2));
  for (const n of GLOB_LIST) if (re.test(n)) return n;
  return null;
}

function isCommand(name: string): boolean {
  return UNIX_STRONG.has(name) || UNIX_WORDS.has(name) || WINDOWS_WORDS.has(name);
}

/** Arguments that look like a shell command line rather than words of a sentence. */
const SHELL_ARGS = /^(?:\s*$|\s*#(?![0-9a-z])|\s*(?:[;|><`]|&&|&(?!\s))|\s*\)|\s+-{1,2}[a-z0-9]|\s+[~.]?\/|\s+\$|\s+\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\s+[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|sh|ru|cn|xyz|tk|top|info|biz|me|co|de|uk|fr|php|txt|sh|py|pl|gz|zst|bz2|tar|zip|log|conf|cfg|ini|db|sql|bak|key|pem|exe|dll|bat|ps1|so|out|evil|attacker)(?:[\s/:;|&]|$)|\s+%[a-z_]+%|\s+[a-z]:\/|\s+\*|\s+[a-z0-9_.\/-]*\/[a-z0-9_.-]+)/;

function judge(c: Candidate, paranoia: Paranoia, info: ValueInfo): Hit | null {
  const devops = DEVOPS.has(c.name);
  const strong = UNIX_STRONG.has(c.name);
  const word = !strong && (UNIX_WORDS.has(c.name) || WINDOWS_WORDS.has(c.name));
  if (!strong && !word && !devops) return null;
  if (info.key && !c.separated) return null; // a parameter named `cmd` or `id` is a name, not a command
  const lineStart = c.separated && c.separator === '\n';
  if (devops) {
    const hardSep = c.separated && !lineStart && /^(?:;|\|\|?|&&?|`|\$\()$/.test(c.separator);
    if (hardSep && SHELL_ARGS.test(c.rest)) return hit('rce.unix-command', CRITICAL, `command after "${c.separator}": ${c.name}`, c.at);
    return paranoia >= 3 && SHELL_ARGS.test(c.rest) ? hit('rce.unix-command', WARNING, `command line: ${c.name}`, c.at) : null;
  }
  const shellArgs = SHELL_ARGS.test(c.rest);
  const reason = `${c.separated ? `command after "${c.separator.trim() || 'newline'}"` : 'command line'}: ${c.name}`;
  // Inside a header such as User-Agent the value is never a command line: `Mozilla/5.0 (Linux; ...)`.
  if (c.separated && !lineStart) {
    // `rock & roll`: an ampersand between spaces is the word "and" as often as a background job.
    const spacedAmp = c.separator === '&' && c.spaced;
    const hard = c.separator !== '(' && c.separator !== '{' && c.separator !== '!' && !/^(?:then|do|else)$/.test(c.separator) && !spacedAmp;
    if (hard && strong) return hit('rce.unix-command', CRITICAL, reason, c.at);
    if (hard && word && shellArgs && !proseAfter(c)) return hit('rce.unix-command', CRITICAL, reason, c.at);
    if (!hard && strong && shellArgs) return hit('rce.unix-command', paranoia >= 2 ? CRITICAL : ERROR, reason, c.at);
    if (hard && word && paranoia >= 2) return hit('rce.unix-command', WARNING, reason, c.at);
    return null;
  }
  // At the start of the value: a command line only with shell-looking arguments.
  if (info.location === 'header' && info.header === 'user-agent' && /^[a-z0-9._-]+\/\d/.test(c.name + c.rest)) return null;
  if ((strong || (word && shellArgs)) && c.prefixed) return hit('rce.unix-command', CRITICAL, `${reason} (after a command prefix)`, c.at);
  if ((strong || RARE.test(c.name)) && RARE.test(c.name) && info.location !== 'path' && !(info.location === 'header' && info.header === 'user-agent' && /^\//.test(c.rest))) {
    return hit('rce.unix-command', CRITICAL, `${reason} (tool name)`, c.at);
  }
  if (strong && shellArgs && !(c.rest.trim() === '' && info.location === 'path')) {
    if (c.rest.trim() === '') return paranoia >= 2 ? hit('rce.unix-command', CRITICAL, reason, c.at) : hit('rce.unix-command', WARNING, reason, c.at);
    return hit('rce.unix-command', CRITICAL, reason, c.at);
  }
  if (word && shellArgs && c.rest.trim() !== '' && !proseAfter(c)) return hit('rce.unix-command', CRITICAL, reason, c.at);
  if (strong && paranoia >= 2) return hit('rce.unix-command', WARNING, reason, c.at);
  if (word && paranoia >= 3 && (c.rest.trim() === '' || shellArgs)) return hit('rce.unix-command', WARNING, reason, c.at);
  return null;
}

/** `cat - the best pet` / `time / money`: an argument, then more plain words than a command line has. */
function proseAfter(c: Candidate): boolean {
  const words = c.rest.trim().split(/\s+/, 8);
  if (words.length < 4) return false;
  let plain = 0;
  for (const w of words) if (/^[a-z]{2,}[,.]?$/.test(w)) plain++;
  return plain >= 4;
}

/** Shell-only structures: no natural language or ordinary data has these. */
function shellStructures(v: string, paranoia: Paranoia, chars: number): Hit | null {
  if (v.includes('$')) {
    const ifs = /\$\{?ifs\b/.exec(v);
    if (ifs !== null) return hit('rce.shell-syntax', CRITICAL, '$IFS word splitting', ifs.index);
    const sub = /\$\(\s*[a-z_\/.`$'"]/.exec(v);
    if (sub !== null) {
      const inner = shellView(v.slice(sub.index + 2, sub.index + 120));
      const w = WORD.exec(inner.trimStart());
      if (w !== null && isCommand((w[1] as string).replace(/\.exe$/, ''))) return hit('rce.substitution', CRITICAL, `command substitution $(${w[1]}`, sub.index);
    }
    const ar = /\$\(\(|\$\[|\$\{[a-z_][a-z0-9_]*(?:[#%\/^,]{1,2}|:[-=?+]|:\d)|\$\{!|\$\{#[a-z_]/.exec(v);
    if (ar !== null) return hit('rce.shell-syntax', CRITICAL, 'shell arithmetic or parameter expansion', ar.index);
    const bq = /\$\{[^}]{0,64}`/.exec(v);
    if (bq !== null) return hit('rce.substitution', CRITICAL, 'backticks inside ${…}', bq.index);
  }
  if (v.includes('`')) {
    const re = /`([^`]{1,200})`/g;
    for (let m = re.exec(v); m !== null; m = re.exec(v)) {
      const inner = shellView(m[1] as string).trim();
      const w = WORD.exec(inner);
      if (w === null) continue;
      const name = (w[1] as string).replace(/\.exe$/, '');
      const rest = inner.slice(w[0].length, w[0].length + 100);
      if (UNIX_STRONG.has(name) || ((UNIX_WORDS.has(name) || WINDOWS_WORDS.has(name)) && SHELL_ARGS.test(rest) && (rest.trim() !== '' || /^(?:id|w|who|ls|pwd|date|ps)$/.test(name)))) {
        // Markdown inline code in a sentence (`run \`ls -la\` to see`) reads like a command too: a warning at paranoia 1.
        const inProse = paranoia < 2 && (v.match(/ /g)?.length ?? 0) >= 6 && /(?:^|\s)$/.test(v.slice(0, m.index)) && /^(?:$|[\s.,;:!?)])/.test(v.slice(m.index + m[0].length));
        return hit('rce.substitution', inProse ? WARNING : CRITICAL, `backtick command ${name}`, m.index);
      }
    }
  }
  if (v.includes('<(') || v.includes('>(')) {
    const ps = /[<>]\(\s*([a-z][a-z0-9_.-]*)/.exec(v);
    if (ps !== null && isCommand(ps[1] as string)) return hit('rce.substitution', CRITICAL, `process substitution ${ps[0]}`, ps.index);
  }
  if (v.includes('[') && v.includes('/')) {
    const gc = /\/[a-z0-9_.-]*\[!?[^\]\/\s]{1,12}\][a-z0-9_.-]*/.exec(v);
    if (gc !== null && !/\[\d+\]/.test(gc[0])) return hit('rce.glob', CRITICAL, 'glob character class in a path', gc.index);
  }
  if (v.includes('/dev/')) {
    const d = /\/dev\/(?:tcp|udp)\/|[<>]&\s*\/dev\//.exec(v);
    if (d !== null) return hit('rce.reverse-shell', CRITICAL, 'socket redirection /dev/tcp', d.index);
  }
  const rs = !(v.includes('-') || v.includes('>&') || v.includes('<<<') || v.includes('mkfifo') || v.includes('exec')) ? null : /\b(?:bash|sh|zsh)\s+-i\b|\bnc(?:at)?\s+(?:-[a-z]*\s+)*-[a-z]*[ec]\s|\bmkfifo\s|\b0>&1\b|>&\s*\d|\bexec\s+\d+<>|<<<\s*\S/.exec(v);
  if (rs !== null) return hit('rce.shell-syntax', CRITICAL, 'shell redirection or reverse shell', rs.index);
  if (v.includes('(')) {
    const ss = /^\s*\(\s*\)\s*\{|[;&|]\s*\(\s*\)\s*\{|(?:^|[;\s])[\w:.]{1,16}\s*\(\s*\)\s*\{[^}]{0,64}\|[^}]{0,64}&[^}]{0,16}\}\s*;/.exec(v);
    if (ss !== null) return hit('rce.shellshock', CRITICAL, 'shell function definition (Shellshock / fork bomb)', ss.index);
  }
  if (v.includes('{') && v.includes(',')) {
    const be = braceExpansion(v, paranoia);
    if (be !== null) return be;
  }
  // Glob paths that spell a binary or file without its letters: /???/??t, /b?n/c?t /e??/p?ss??
  if (v.includes('/') && (v.includes('?') || v.includes('*'))) {
    const g = /(?:^|[\s;|&`=(])\/(?:[a-z0-9?*]{1,12}\/)+[a-z0-9?*]{1,12}/.exec(v);
    if (g !== null) {
      const path = g[0].replace(/^[\s;|&`=(]/, '');
      const wild = (path.match(/[?*]/g) ?? []).length;
      const segments = path.split('/').length - 1;
      if (wild >= 2 && segments >= 2 && /\/[?*]+\/|\/[a-z]?\?[a-z?]*\//.test(path + '/')) return hit('rce.glob', CRITICAL, 'wildcard path', g.index);
    }
  }
  if (v.includes('<<')) {
    const hd = /<<-?\s*['"]?[a-z_]+['"]?\s*\n/.exec(v);
    if (hd !== null && paranoia >= 2) return hit('rce.shell-syntax', WARNING, 'here-document', hd.index);
  }
  return (chars & FORM_CHARS) === 0 ? null : shellForms(v, paranoia, chars);
}

/**
 * Brace expansion: `{cat,/etc/passwd}`, `c{a,oun}t`, `{l,-lh}s`, `{,ifconfig,eth0}`,
 * `{,/?s?/?i?/c?t,/e??/p??s??,}` — the shell expands the braces to words and runs the first one.
 * The words are built (prefix + alternative + suffix, empty words dropped, shell view applied); a
 * command first is an injection when something marks it as a command line: an option, a path,
 * a comment or a glob among the other words, a prefix or suffix around the braces, an empty
 * alternative, a tool name, or a glob spelling the command. `{id,name}` (a field list) is not one.
 */
const BRACE = /([a-z0-9_\/.?*$\\-]{0,32})\{([^{}\s]{0,160},[^{}\s]{0,160})\}([a-z0-9_\/.?*-]{0,32})/g;

function braceExpansion(v: string, paranoia: Paranoia): Hit | null {
  BRACE.lastIndex = 0;
  let n = 0;
  for (let m = BRACE.exec(v); m !== null && n < 16; m = BRACE.exec(v), n++) {
    const pre = m[1] as string;
    const suf = m[3] as string;
    const alts = (m[2] as string).split(',');
    const words = alts.map((a) => shellView(pre + a + suf)).filter((w) => w !== '');
    const first = words[0];
    if (first === undefined) continue;
    const base = first.slice(first.lastIndexOf('/') + 1);
    const globbed = /[?*]/.test(base) ? globCommand(first) : null;
    const name = globbed ?? base;
    if (!isCommand(name)) continue;
    const args = words.slice(1);
    // An empty alternative (`{,id}`, `{id,}`) only makes sense to a shell.
    const marked = globbed !== null || RARE.test(name) || alts.includes('') || pre !== '' || suf !== '' || args.some((a) => /^[-\/#~.]|[\/?*]/.test(a));
    if (marked) return hit('rce.brace-expansion', CRITICAL, `brace expansion {${name},…}`, m.index);
    if (paranoia >= 2 && args.length > 0) return hit('rce.brace-expansion', WARNING, `brace expansion {${name},…}`, m.index);
  }
  return null;
}

/** SQLite shell dot commands after a statement separator (`;\n.shell id`, `1;.system …`, `;.databases`). */
const SQLITE_DOT = /(?:^|[;\n]|;\\n)\s*["'\\]*\.\s*["'\\]*(?:(?:shell|system|sh|import|output|once|load|read|open|save|backup|restore|cd)\s+\S|(?:databases|tables|dump|schema|fullschema|dbinfo|indexes)(?:\s|$|;))/;
/** `alias ll='ls -l'`, `alias +m a=b`: defining an alias is shell and nothing else. */
const ALIAS = /(?:^|[;|&\n`(]\s*)alias\s+(?:[-+][a-z]+\+?\s+)*[^\s=;|&]{1,32}=/;
/** Tilde expansion of the directory stack (`~+`, `~-`, `~+2`, `~1/x`); after a space only before `/` (`approx. ~-5` is prose). */
const TILDE = /(?:^|[;|&=(`]\s*)~(?:[+-]\d{0,3}|\d{1,3}(?=\/))(?=$|[\s\/;|&)`])|\s~(?:[+-]\d{0,3}|\d{1,3})\//;
const TILDE_ALONE = /^~\d{1,3}$/;
/** `/bin/x`, `/usr/local/sbin/x` at the start of a value or after a separator: a program path. */
const BIN_PATH = /(?:^|[;|&\n`(=]\s*)(\/)?(?:usr\/)?(?:local\/)?s?bin\/([a-z0-9_][a-z0-9_.+-]{0,31})(?=$|[\s;|&)`])/;
/** Words with quotes inside (`'c'url`, `""p""y""t""h""o""n""3`, `w"h"oami`). */
const QUOTED_WORD = /(?:^|[\s;|&`(])((?:[a-z0-9_.\/-]*(?:''|""|'[a-z0-9_.\/-]{1,16}'|"[a-z0-9_.\/-]{1,16}"))+[a-z0-9_.\/-]*)/g;
/** A function that calls itself in the background or through a pipe: `f(){ f|f& };f`, `t() { t | t & }`. */
const FORK_FN = /(?:^|[;&|\s])([a-z_][a-z0-9_:.]{0,15})\s*\(\s*\)\s*\{([^{}]{1,80})\}/g;

/** What each of `shellForms` needs: `;` or a line break (dot commands), `=` (alias), `~`, `/`, `$`, `\`, a quote, `{`. */
const FORM_CHARS = C_SEMI | C_NEWLINE | C_EQUALS | C_TILDE | C_SLASH | C_DOLLAR | C_BACKSLASH | C_QUOTE | C_BRACE;

/** Shell-only forms beside those of `shellStructures` (`chars`: the value's character classes). */
function shellForms(v: string, paranoia: Paranoia, chars: number): Hit | null {
  if ((chars & (C_SEMI | C_NEWLINE)) !== 0 && v.includes('.')) {
    const d = SQLITE_DOT.exec(v);
    if (d !== null) return hit('rce.shell-syntax', CRITICAL, 'SQLite shell dot command', d.index);
  }
  if ((chars & C_EQUALS) !== 0 && v.includes('alias')) {
    const a = ALIAS.exec(v);
    if (a !== null) return hit('rce.shell-syntax', CRITICAL, 'alias definition', a.index);
  }
  if ((chars & C_TILDE) !== 0) {
    const t = TILDE.exec(v);
    if (t !== null) return hit('rce.shell-syntax', CRITICAL, 'tilde expansion of the directory stack', t.index);
    // `~0` alone: the directory stack too, but also "about zero"; critical from paranoia 2.
    if (TILDE_ALONE.test(v)) return hit('rce.shell-syntax', paranoia >= 2 ? CRITICAL : WARNING, 'tilde expansion ~N', 0);
  }
  if ((chars & C_SLASH) !== 0 && v.includes('bin/')) {
    const b = BIN_PATH.exec(v);
    if (b !== null && (b[1] !== undefined || isCommand(b[2] as string) || RARE.test(b[2] as string))) return hit('rce.unix-command', CRITICAL, `program path bin/${b[2]}`, b.index);
  }
  if ((chars & C_DOLLAR) !== 0 && v.includes('shell')) {
    const sh = /\$\{?shell\}?\s+-c\b/.exec(v);
    if (sh !== null) return hit('rce.shell-syntax', CRITICAL, '$SHELL -c', sh.index);
  }
  if (v.charCodeAt(0) === 92) {
    // `\ls`: a backslash before a command name skips aliases; nothing else starts a value that way.
    const e = /^\\([a-z][a-z0-9_-]{1,31})(?=$|\s)/.exec(v);
    if (e !== null && UNIX_STRONG.has(e[1] as string)) return hit('rce.unix-command', CRITICAL, `escaped command \\${e[1]}`, 0);
  }
  if ((chars & C_QUOTE) !== 0 && QUOTE_EVASION.test(v)) {
    QUOTED_WORD.lastIndex = 0;
    let n = 0;
    for (let m = QUOTED_WORD.exec(v); m !== null && n < 32; m = QUOTED_WORD.exec(v), n++) {
      const word = m[1] as string;
      // A word quoted as a whole (`'id'`) is a quotation; quotes inside it are an evasion.
      if (/^(['"])[^'"]*\1$/.test(word)) continue;
      const joined = word.replace(/['"]/g, '');
      const name = joined.slice(joined.lastIndexOf('/') + 1).replace(/\.exe$/, '');
      if (name.length >= 2 && isCommand(name)) return hit('rce.unix-command', CRITICAL, `command split by quotes: ${name}`, m.index);
    }
  }
  if ((chars & C_BRACE) !== 0 && (chars & C_PAREN) !== 0) {
    FORK_FN.lastIndex = 0;
    let n = 0;
    for (let m = FORK_FN.exec(v); m !== null && n < 16; m = FORK_FN.exec(v), n++) {
      const name = m[1] as string;
      const body = m[2] as string;
      if (name === 'function' || /\bfunction\s*$/.test(v.slice(Math.max(0, m.index - 12), m.index + 1))) continue;
      const self = new RegExp(`(?:^|[\\s;|&(])${name.replace(/[.:]/g, '\\$&')}(?:\\s*\\(\\s*\\))?\\s*(?:[|&;]|$)`);
      if (/(?<![&|])[&|](?![&|])/.test(body) && self.test(body)) return hit('rce.shellshock', CRITICAL, 'recursive shell function (fork bomb)', m.index);
    }
  }
  return null;
}

/** Cheap gate for the cmdlet list: PowerShell verbs and the few aliases without a hyphen. */
const CMDLET_GATE = /-(?:expression|webrequest|restmethod|command|item|wmi|cim|process|bits|object|mppreference|executionpolicy|content|file|childitem|service|acl|itemproperty|localuser|localgroup|aduser|securestring|clixml|archive|netconnection|dnsname|type|module)|\b(?:iex|iwr|irm|icm|iwmi|gwmi)\b|download(?:string|file|data)|frombase64|reflection\.assembly|webclient/;

/** Windows cmd.exe and PowerShell. */
function windowsShell(v: string, paranoia: Paranoia): Hit | null {
  const cmd = !(v.includes('cmd') || v.includes('%') || v.includes('command.com') || v.includes('system32')) ? null : /\b(?:cmd(?:\.exe)?\s*\/[ckr]|%comspec%|command\.com\s*\/c|%systemroot%|c:\/windows\/system32\/cmd|c:\\windows\\system32\\cmd)/.exec(v);
  if (cmd !== null) return hit('rce.windows-command', CRITICAL, 'cmd.exe invocation', cmd.index);
  const ps = !(v.includes('powershell') || v.includes('pwsh')) ? null : /\b(?:powershell|pwsh)(?:\.exe)?\b[^\n]{0,80}?\s[-\/](?:e|ec|en|enc|enco|encodedcommand|c|command|nop|noprofile|noni|noninteractive|w|windowstyle|ep|exec|executionpolicy|f|file|sta|mta|noexit|nol|nologo)\b/.exec(v);
  if (ps !== null) return hit('rce.powershell', CRITICAL, 'PowerShell with options', ps.index);
  const cmdlet = !CMDLET_GATE.test(v) ? null : /\b(?:iex|invoke-expression|invoke-webrequest|iwr|invoke-restmethod|irm|invoke-command|icm|invoke-item|invoke-wmimethod|iwmi|invoke-cimmethod|start-process|start-bitstransfer|new-object|get-wmiobject|gwmi|get-ciminstance|set-mppreference|add-mppreference|set-executionpolicy|downloadstring|downloadfile|downloaddata|frombase64string|reflection\.assembly|system\.net\.webclient|net\.webclient|get-content|set-content|out-file|remove-item|get-childitem|get-process|stop-process|get-service|new-service|get-acl|set-acl|get-itemproperty|set-itemproperty|new-itemproperty|get-localuser|new-localuser|add-localgroupmember|get-aduser|convertto-securestring|export-clixml|compress-archive|expand-archive|test-netconnection|resolve-dnsname|add-type|import-module)\b/.exec(v);
  if (cmdlet !== null) {
    const after = v.slice(cmdlet.index + cmdlet[0].length, cmdlet.index + cmdlet[0].length + 40);
    const before = v.slice(Math.max(0, cmdlet.index - 4), cmdlet.index);
    if (/^\s*(?:\(|-[a-z]|['"$]|\||;|$|\s+(?:https?:|[a-z]:|\\\\|\.\/|\/))/.test(after) || /[;|&(`]\s*$/.test(before) || cmdlet.index === 0) {
      return hit('rce.powershell', CRITICAL, `PowerShell ${cmdlet[0]}`, cmdlet.index);
    }
    if (paranoia >= 2) return hit('rce.powershell', WARNING, `PowerShell word ${cmdlet[0]}`, cmdlet.index);
  }
  if (v.includes('$env:') || v.includes('[system.')) {
    const e = /\$env:[a-z_]+|\[system\.(?:convert|text\.encoding|io\.|net\.|diagnostics|reflection|runtime)/.exec(v);
    if (e !== null) return hit('rce.powershell', CRITICAL, 'PowerShell environment / .NET access', e.index);
  }
  // cmd.exe control flow: for %x in (…) do …, if exist …, if errorlevel …. Both patterns start with
  // the word at a word boundary (`\bfor`, `\bif`) and the loop needs a `%`: most prose holds `if` or
  // `for` only inside words (`gift`, `before`, `different`) and skips both regexes.
  const forLoop = v.includes('%') && wordStart(v, 'for');
  if (forLoop || wordStart(v, 'if')) {
    const f = !forLoop ? null : /\bfor\s+(?:\/[dflr]\s+(?:"[^"]*"\s+|[a-z]:[^\s]*\s+)?)*%%?(?:[a-z_][a-z0-9_]*|[^\s])\s+in\s*\(/.exec(v);
    if (f !== null) return hit('rce.windows-command', CRITICAL, 'cmd.exe for loop', f.index);
    const i = /\bif\s+(?:\/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\s+\S+\s+(?![{:])\S|\bif\s*\/i\s|\bif\s+(?:not\s+)?\S+\s*(?:==|\s(?:equ|neq|lss|leq|gtr|geq)\s)\s*\S*[^\s:]\s+(?!\{|:|then\b|return\b|and\b|or\b|&&|\|\||\?)[@a-z(]|\bif\s*(?:\/i\s+)?(?:not\s+)?(?:exist\s|errorlevel\s|defined\s|cmdextversion\s|%[^%\s]+%\s*(?:==|equ|neq|lss|leq|gtr|geq)|"[^"]*"\s*(?:==|equ|neq|lss|leq|gtr|geq)|[^\s=]+==[^\s]+\s+(?:echo|goto|set|call|cmd|del|copy|start|exit|foo|\()|\(\s*[^\s)]+\s+(?:equ|neq|lss|leq|gtr|geq)\s|\[[^\]]*\]==\[|\([^)]*\)==\()/.exec(v);
    if (i !== null) return hit('rce.windows-command', CRITICAL, 'cmd.exe if statement', i.index);
  }
  // A Windows command after a separator: `& dir`, `| type c:\x`, `;net user`.
  const sep = !/[;|&\n]/.test(v) ? null : /(?:[;|&]|\n)\s*(?:dir|type|net|ver|vol|whoami|systeminfo|tasklist|ipconfig|netstat|set|echo|copy|del|reg|sc|wmic|bitsadmin|certutil|mshta|rundll32|regsvr32|cscript|wscript|schtasks|at|bcdedit|bcdboot|vssadmin|wevtutil|diskpart|format|attrib|icacls|takeown|findstr|start|call|ping|nslookup|route|arp|netsh|query|qwinsta|quser|shutdown|taskkill|powershell|pwsh|cmd)(?:\.exe)?\b(?!['’])(?=\s*(?:$|[;|&]|\s+(?:\/|-|[a-z]:|\\\\|%|user\b|localgroup\b|share\b|view\b|use\b|start\b|stop\b|query\b|http|"|\d)))/.exec(v);
  if (sep !== null) return hit('rce.windows-command', CRITICAL, `Windows command after separator: ${sep[0].replace(/^[;|&\n]\s*/, '')}`, sep.index);
  return null;
}

/** `\b${word}` (`\b` as in a non-Unicode regex: `[A-Za-z0-9_]` are word characters) occurs in `v`. */
function wordStart(v: string, word: string): boolean {
  for (let at = v.indexOf(word); at !== -1; at = v.indexOf(word, at + 1)) {
    if (at === 0) return true;
    const c = v.charCodeAt(at - 1);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95)) return true;
  }
  return false;
}

/**
 * Mail protocol injection: a line break followed by an SMTP, IMAP or POP3 command. Form fields that
 * end up in an e-mail (contact forms) can then add recipients or commands.
 */
function mailInjection(v: string): Hit | null {
  if (!v.includes('\n')) return null;
  const m = /\n\s*(?:(?:mail\s+from|rcpt\s+to)\s*:|(?:data|quit|rset|noop|vrfy|expn|(?:ehlo|helo)(?:\s+[a-z0-9-]+(?:\.[a-z0-9-]+)+)?|starttls|auth\s+(?:plain|login|cram-md5|xoauth2|[a-z0-9]+\s+[a-z0-9+\/=]{8,})|list(?:\s+\d+)?|retr\s+\d+|dele\s+\d+|top\s+\d+(?:\s+\d+)?|uidl|stat|user\s+\S+|pass\s+\S+|apop\s+\S+\s+[0-9a-f]{32})\s*(?:\n|$)|[a-z]{0,4}\d{1,6}\s+(?:login|authenticate|select|examine|create|delete|rename|subscribe|unsubscribe|list|lsub|status|append|check|close|expunge|search|fetch|store|copy|uid|capability|logout|starttls|noop)\b)/.exec(v);
  if (m !== null) return hit('rce.mail-injection', CRITICAL, 'mail protocol command after a line break', m.index);
  return null;
}
