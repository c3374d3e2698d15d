/**
 * Normalisation of an inspected value, so that an encoding or an obfuscation does not hide an attack
 * from the detectors. Every detector (ours and the SQLi / XSS ones) works on the output of
 * `normalize`, which guarantees:
 *
 * - URL decoding repeated while it changes something, at most `MAX_ROUNDS` times (`%2527` → `'`),
 *   including IIS `%uXXXX` and overlong UTF-8 (`%c0%ae` → `.`, `%e0%80%af` → `/`); invalid escapes
 *   stay as they are; `+` is left alone (the query and form parsers already turned it into a space);
 * - JavaScript / C escapes `\uXXXX`, `\u{X…}`, `\xHH` decoded;
 * - HTML character references decoded (`&lt;`, `&#60;`, `&#x3c`, `&colon;`; with or without `;`),
 *   also when they hide a URL escape (`&#37;3c`);
 * - Unicode NFKC (full-width `＜` → `<`, ligatures, compatibility forms), then lower case;
 * - NUL bytes removed (`sel%00ect` → `select`, `passwd%00.jpg` → `passwd.jpg`);
 * - SQL / JS block comments replaced by a space (`union/**\/select` → `union select`), MySQL
 *   executable comments kept (`/*!50000union*\/` → ` union `);
 * - CR and LF turned into `\n`, every other control character and Unicode space into a space; a run
 *   of them collapsed to one character (`\n` when it holds a line break), no leading or trailing one.
 *
 * Everything is linear in the input length; the decoding rounds are bounded. The flags say which of
 * these changed something (double encoding, NUL, CR/LF, …): the protocol detector scores them.
 */
import { CLASS_OF } from './types.ts';

export const F_URL_ENCODED = 1;
/** A second (or later) round of URL decoding changed the value: `%2527`. */
export const F_MULTI_ENCODED = 2;
export const F_NUL = 4;
/** A control character other than NUL, TAB, CR, LF. */
export const F_CONTROL = 8;
/** CR or LF (after decoding). */
export const F_CRLF = 16;
export const F_OVERLONG_UTF8 = 32;
/** `%uXXXX` or `\uXXXX`-style escapes. */
export const F_UNICODE_ESCAPE = 64;
/** A `%` not followed by two hex digits. */
export const F_BAD_ESCAPE = 128;
export const F_HTML_ENTITY = 256;
export const F_COMMENT = 512;
export const F_NON_ASCII = 1024;
/** Bytes that are not valid UTF-8 after URL decoding (kept as Latin-1 characters). */
export const F_INVALID_UTF8 = 2048;
/** NFKC changed something: full-width or other compatibility characters. */
export const F_COMPAT_CHARS = 4096;
/** IIS `%uXXXX` escapes (no standard decoder knows them). */
export const F_PERCENT_U = 8192;
/**
 * A TAB between two letters became a space (`ja&Tab;vascript:`, `ja%09vascript:`): browsers drop
 * TAB, CR and LF inside a URL, so the XSS detector also reads such a value with them removed.
 */
export const F_SPLIT_WORD = 16384;
/** The value started with CR or LF, trimmed away: what follows stood at the start of a new line (`%0d%0aRCPT TO:`). */
export const F_LEADING_NEWLINE = 32768;

export interface Normalized {
  /** The canonical form the detectors see. */
  value: string;
  /** Which transformations changed something (`F_*` bits). */
  flags: number;
  /** The value's `C_*` character classes (see `charClasses`), computed in the same pass when cheap; -1 when not computed. */
  chars: number;
}

/** URL decoding rounds (each may reveal another layer). */
export const MAX_ROUNDS = 3;

/**
 * Characters that never need work: printable ASCII except `%`, `&`, `\`, and upper-case letters
 * (lower-casing is cheap and done separately). `/` is in, `/*` is checked for separately.
 * Per ASCII code, in one table: -1 for a character that needs work, else its `C_*` class, with
 * `P_SPECIAL` added for the two characters the scan looks at more closely (space, `/`).
 */
const P_SPECIAL = 1 << 29;
const PLAIN_CLASS = new Int32Array(128).fill(-1);
for (let c = 0x20; c < 0x7f; c++) PLAIN_CLASS[c] = CLASS_OF[c] as number;
for (const ch of '%&\\') PLAIN_CLASS[ch.charCodeAt(0)] = -1;
PLAIN_CLASS[32] = (PLAIN_CLASS[32] as number) | P_SPECIAL;
PLAIN_CLASS[47] = (PLAIN_CLASS[47] as number) | P_SPECIAL;

/**
 * Fast check: can `value` skip the slow path (only lower-casing needed)? Returns its `C_*` character
 * classes (lower-casing changes none of them) when it can, -1 when it cannot: one pass for both.
 */
function plainClasses(value: string): number {
  let prevSpace = true; // a leading space needs trimming
  let m = 0;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 128) return -1;
    const k = PLAIN_CLASS[c] as number;
    if (k < 0) return -1;
    m |= k;
    if ((k & P_SPECIAL) === 0) {
      prevSpace = false;
      continue;
    }
    if (c === 32) {
      if (prevSpace) return -1;
      prevSpace = true;
      continue;
    }
    prevSpace = false;
    if (value.charCodeAt(i + 1) === 42 /* * */) return -1;
  }
  return !prevSpace || n === 0 ? m & ~P_SPECIAL : -1;
}

export function normalize(input: string): Normalized {
  const plain = plainClasses(input);
  if (plain !== -1) return { value: input.toLowerCase(), flags: 0, chars: plain };
  let flags = 0;
  let s = input;
  // Decoding layers: URL, JS escapes and HTML references can hide one another; stop when stable.
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const before = s;
    if (s.includes('%')) {
      const r = urlDecode(s);
      if (r.value !== s) {
        flags |= round === 0 ? F_URL_ENCODED : F_URL_ENCODED | F_MULTI_ENCODED;
        s = r.value;
      }
      // A stray `%` is malformed only in what the client sent, not in what decoding produced ("100%25").
      flags |= round === 0 ? r.flags : r.flags & ~F_BAD_ESCAPE;
    }
    if (s.includes('\\')) {
      const d = decodeJsEscapes(s);
      if (d !== s) {
        flags |= F_UNICODE_ESCAPE;
        s = d;
      }
    }
    if (s.includes('&')) {
      const d = decodeEntities(s);
      if (d !== s) {
        flags |= F_HTML_ENTITY;
        s = d;
      }
    }
    if (s === before) break;
  }
  if (hasNonAscii(s)) {
    flags |= F_NON_ASCII;
    const n = s.normalize('NFKC');
    if (n !== s) {
      flags |= F_COMPAT_CHARS;
      s = n;
    }
  }
  s = s.toLowerCase();
  const w = cleanWhitespace(s);
  flags |= w.flags;
  s = w.value;
  if (s.includes('/*')) {
    const c = stripBlockComments(s);
    if (c !== s) {
      flags |= F_COMMENT;
      s = collapseSpaces(c);
    }
  }
  return { value: s, flags, chars: -1 };
}

function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 128) return true;
  return false;
}

function hex(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * One round of percent-decoding. The decoded bytes are read as UTF-8, leniently: overlong forms
 * yield their code point (flagged — no conforming encoder produces them, IIS and old decoders
 * accepted them), and a byte that starts no valid sequence becomes the Latin-1 character of the same
 * value (flagged). `%uXXXX` yields the UTF-16 code unit.
 */
export function urlDecode(s: string): { value: string; flags: number } {
  let flags = 0;
  let out = '';
  let i = 0;
  const n = s.length;
  let last = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c !== 37 /* % */) {
      i++;
      continue;
    }
    // %uXXXX
    if ((s.charCodeAt(i + 1) | 32) === 117 /* u */) {
      const a = hex(s.charCodeAt(i + 2)), b = hex(s.charCodeAt(i + 3)), d = hex(s.charCodeAt(i + 4)), e = hex(s.charCodeAt(i + 5));
      if (a >= 0 && b >= 0 && d >= 0 && e >= 0) {
        out += s.slice(last, i) + String.fromCharCode((a << 12) | (b << 8) | (d << 4) | e);
        flags |= F_UNICODE_ESCAPE | F_PERCENT_U;
        i += 6;
        last = i;
        continue;
      }
    }
    const hi = hex(s.charCodeAt(i + 1));
    const lo = hex(s.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) {
      flags |= F_BAD_ESCAPE;
      i++;
      continue;
    }
    // A run of %XX escapes: collect the bytes, decode them as (lenient) UTF-8.
    out += s.slice(last, i);
    const bytes: number[] = [];
    while (i < n && s.charCodeAt(i) === 37) {
      const h = hex(s.charCodeAt(i + 1));
      const l = hex(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) break;
      bytes.push(h * 16 + l);
      i += 3;
    }
    const r = decodeUtf8Lenient(bytes);
    out += r.value;
    flags |= r.flags;
    last = i;
  }
  if (last === 0) return { value: s, flags };
  return { value: out + s.slice(last), flags };
}

/** UTF-8 that accepts overlong forms; invalid bytes map to Latin-1 characters. */
export function decodeUtf8Lenient(bytes: readonly number[]): { value: string; flags: number } {
  let flags = 0;
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    let need = 0;
    let cp = 0;
    let min = 0;
    if (b >= 0xc0 && b < 0xe0) {
      need = 1;
      cp = b & 0x1f;
      min = 0x80;
    } else if (b >= 0xe0 && b < 0xf0) {
      need = 2;
      cp = b & 0x0f;
      min = 0x800;
    } else if (b >= 0xf0 && b < 0xf8) {
      need = 3;
      cp = b & 0x07;
      min = 0x10000;
    }
    let ok = need > 0 && i + need < bytes.length;
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const cb = bytes[i + k];
        if (cb === undefined || (cb & 0xc0) !== 0x80) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (cb & 0x3f);
      }
    }
    if (!ok || cp > 0x10ffff) {
      flags |= F_INVALID_UTF8;
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    if (cp < min) flags |= F_OVERLONG_UTF8;
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return { value: out, flags };
}

/** `\uXXXX`, `\u{X…}` and `\xHH`; any other backslash stays. */
function decodeJsEscapes(s: string): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('\\'); i !== -1 && i < s.length; i = s.indexOf('\\', i + 1)) {
    const t = s.charCodeAt(i + 1) | 32;
    if (t === 117 /* u */) {
      if (s.charCodeAt(i + 2) === 123 /* { */) {
        const close = s.indexOf('}', i + 3);
        if (close !== -1 && close - i <= 9) {
          const cp = parseInt(s.slice(i + 3, close), 16);
          if (/^[0-9a-fA-F]+$/.test(s.slice(i + 3, close)) && cp <= 0x10ffff) {
            out += s.slice(last, i) + String.fromCodePoint(cp);
            last = close + 1;
            i = close;
          }
        }
        continue;
      }
      const a = hex(s.charCodeAt(i + 2)), b = hex(s.charCodeAt(i + 3)), c = hex(s.charCodeAt(i + 4)), d = hex(s.charCodeAt(i + 5));
      if (a >= 0 && b >= 0 && c >= 0 && d >= 0) {
        out += s.slice(last, i) + String.fromCharCode((a << 12) | (b << 8) | (c << 4) | d);
        last = i + 6;
        i += 5;
      }
    } else if (t === 120 /* x */) {
      const a = hex(s.charCodeAt(i + 2)), b = hex(s.charCodeAt(i + 3));
      if (a >= 0 && b >= 0) {
        out += s.slice(last, i) + String.fromCharCode(a * 16 + b);
        last = i + 4;
        i += 3;
      }
    }
  }
  return last === 0 ? s : out + s.slice(last);
}

/** The named references that matter for hiding markup, script, paths and shell syntax. */
const NAMED: Record<string, string> = {
  lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: ' ', tab: '\t', newline: '\n',
  colon: ':', semi: ';', comma: ',', period: '.', sol: '/', bsol: '\\', lpar: '(', rpar: ')',
  lsqb: '[', rsqb: ']', lbrack: '[', rbrack: ']', lcub: '{', rcub: '}', lbrace: '{', rbrace: '}',
  excl: '!', quest: '?', num: '#', dollar: '$', percnt: '%', equals: '=', plus: '+', ast: '*',
  midast: '*', vert: '|', verbar: '|', grave: '`', hat: '^', lowbar: '_', hyphen: '-', dash: '-',
  commat: '@', tilde: '~',
};

/** HTML character references (numeric with or without `;`, named from NAMED with or without `;`). */
function decodeEntities(s: string): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('&'); i !== -1; i = s.indexOf('&', i + 1)) {
    let j = i + 1;
    let cp = -1;
    if (s.charCodeAt(j) === 35 /* # */) {
      j++;
      let value = 0;
      let digits = 0;
      if ((s.charCodeAt(j) | 32) === 120 /* x */) {
        j++;
        for (let h = hex(s.charCodeAt(j)); h >= 0 && digits < 8; h = hex(s.charCodeAt(++j))) {
          value = value * 16 + h;
          digits++;
        }
      } else {
        for (let c = s.charCodeAt(j); c >= 48 && c <= 57 && digits < 8; c = s.charCodeAt(++j)) {
          value = value * 10 + (c - 48);
          digits++;
        }
      }
      if (digits === 0) continue;
      cp = value > 0x10ffff ? 0xfffd : value;
    } else {
      let k = j;
      while (k < s.length && k - j < 10 && isAlpha(s.charCodeAt(k))) k++;
      const name = s.slice(j, k).toLowerCase();
      const ch = NAMED[name];
      if (ch === undefined || k === j) continue;
      cp = ch.charCodeAt(0);
      j = k;
    }
    if (s.charCodeAt(j) === 59 /* ; */) j++;
    out += s.slice(last, i) + String.fromCodePoint(cp);
    last = j;
    i = j - 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/**
 * NUL removed; CR and LF become a newline, TAB, other controls and Unicode spaces (NBSP,
 * U+2000–U+200B, U+2028/9, U+3000, U+FEFF, U+180E) a space; a run of them becomes one character (a
 * newline when it holds one, else a space); trimmed.
 */
function cleanWhitespace(s: string): { value: string; flags: number } {
  let flags = 0;
  let out = '';
  let pend = 0; // 0 none, 1 space, 2 newline
  let runStart = 0; // start of the current run of kept characters
  let changed = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let kind = 0; // 0 keep, 1 space, 2 newline, 3 drop
    if (c === 0x20) kind = 1;
    else if (c < 0x20 || c === 0x7f) {
      if (c === 0) {
        kind = 3;
        flags |= F_NUL;
      } else if (c === 10 || c === 13) {
        kind = 2;
        flags |= F_CRLF;
      } else {
        kind = 1;
        if (c !== 9) flags |= F_CONTROL;
        else if (i > 0 && i + 1 < s.length && isAsciiLetter(s.charCodeAt(i - 1)) && isAsciiLetter(s.charCodeAt(i + 1))) flags |= F_SPLIT_WORD;
      }
    } else if (c >= 0x80 && (c === 0xa0 || c === 0x85 || (c >= 0x2000 && c <= 0x200b) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff || c === 0x180e)) {
      kind = 1;
    }
    if (kind === 0) {
      if (pend !== 0) {
        if (out.length > 0) out += pend === 2 ? '\n' : ' ';
        else if (pend === 2) flags |= F_LEADING_NEWLINE;
        pend = 0;
        runStart = i;
      }
      continue;
    }
    // A lone plain space between kept characters is kept in the run as is.
    if (kind === 1 && c === 0x20 && pend === 0 && i > runStart && i + 1 < s.length && isKept(s.charCodeAt(i + 1))) {
      continue;
    }
    changed = true;
    out += s.slice(runStart, i);
    runStart = i + 1;
    if (kind !== 3 && pend < kind) pend = kind;
  }
  if (!changed) return { value: s, flags };
  out += s.slice(runStart);
  return { value: out, flags };
}

function isAsciiLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Not whitespace, control or NUL (the characters `cleanWhitespace` keeps). */
function isKept(c: number): boolean {
  if (c <= 0x20 || c === 0x7f) return false;
  if (c < 0x80) return true;
  return !(c === 0xa0 || c === 0x85 || (c >= 0x2000 && c <= 0x200b) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff || c === 0x180e);
}

/** `/* … *\/` → space; an unterminated comment runs to the end; `/*!NNNNN` keeps its content. */
function stripBlockComments(s: string): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('/*'); i !== -1; i = s.indexOf('/*', i)) {
    out += s.slice(last, i) + ' ';
    if (s.charCodeAt(i + 2) === 33 /* ! */) {
      // MySQL executable comment: the content runs, only the markers go.
      let j = i + 3;
      while (j < s.length && j - i < 9 && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
      const close = s.indexOf('*/', j);
      const end = close === -1 ? s.length : close;
      out += s.slice(j, end) + ' ';
      last = close === -1 ? s.length : close + 2;
    } else {
      const close = s.indexOf('*/', i + 2);
      last = close === -1 ? s.length : close + 2;
    }
    i = last;
    if (i >= s.length) break;
  }
  return out + s.slice(last);
}

function collapseSpaces(s: string): string {
  return s.replace(/ {2,}/g, ' ').replace(/ ?\n ?/g, '\n').trim();
}

/**
 * The path view of a normalised value, for traversal and file detection: `\` and `;` (Tomcat path
 * parameters, `..;/`) become `/`, the `0x2e` / `0x2f` / `0x5c` spellings become `.` and `/`, runs of
 * `/` collapse.
 */
export function pathView(n: string): string {
  let s = n;
  if (s.includes('0x')) s = s.replace(/0x2e/g, '.').replace(/0x(?:2f|5c)/g, '/');
  if (s.includes('\\') || s.includes(';')) s = s.replace(/[\\;]/g, '/');
  if (s.includes('//')) s = s.replace(/\/{2,}/g, '/');
  return s;
}
