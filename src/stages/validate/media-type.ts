/**
 * Media types (RFC 9110 §8.3.1): `type "/" subtype *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] )`.
 * Type, subtype and parameter names are case-insensitive; parameter values are kept as sent
 * (the quoted-string form unescaped). Anything else — a missing subtype, a stray character, the same
 * parameter twice (two `boundary`s would let two parsers disagree) — is malformed.
 */

export interface MediaType {
  /** `type/subtype`, lower-case, without parameters. */
  readonly essence: string;
  readonly type: string;
  readonly subtype: string;
  /** Lower-case parameter names → values; a null-prototype object. */
  readonly params: Readonly<Record<string, string>>;
}

/** RFC 9110 §5.6.2 tchar. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN_CHAR[c.charCodeAt(0)] = 1;

const isToken = (code: number): boolean => code < 128 && TOKEN_CHAR[code] === 1;
const isWs = (code: number): boolean => code === 32 || code === 9;

/** The parameters of a header value that starts with something else (a media type, `form-data`), from `start`. */
export function parseParameters(value: string, start: number): Record<string, string> | null {
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = start;
  const n = value.length;
  for (;;) {
    while (i < n && isWs(value.charCodeAt(i))) i++;
    if (i === n) return params;
    if (value.charCodeAt(i) !== 59 /* ; */) return null;
    i++;
    while (i < n && isWs(value.charCodeAt(i))) i++;
    if (i === n) return params;
    if (value.charCodeAt(i) === 59) continue; // an empty parameter: allowed by the grammar
    const nameStart = i;
    while (i < n && isToken(value.charCodeAt(i))) i++;
    if (i === nameStart || value.charCodeAt(i) !== 61 /* = */) return null;
    const name = value.slice(nameStart, i).toLowerCase();
    i++;
    let v: string;
    if (value.charCodeAt(i) === 34 /* " */) {
      i++;
      v = '';
      let closed = false;
      while (i < n) {
        const c = value.charCodeAt(i);
        if (c === 34) {
          closed = true;
          i++;
          break;
        }
        if (c === 92 /* \ */) {
          if (i + 1 >= n) return null;
          v += value[i + 1];
          i += 2;
          continue;
        }
        // qdtext: HTAB, SP, VCHAR except " and \, obs-text (any non-ASCII character of a decoded header)
        if (c < 32 && c !== 9) return null;
        if (c === 127) return null;
        v += value[i];
        i++;
      }
      if (!closed) return null;
    } else {
      const valueStart = i;
      while (i < n && isToken(value.charCodeAt(i))) i++;
      if (i === valueStart) return null;
      v = value.slice(valueStart, i);
    }
    if (name in params) return null;
    params[name] = v;
  }
}

/** Parses a Content-Type value; null when it is not a well-formed media type. */
export function parseMediaType(value: string): MediaType | null {
  let i = 0;
  const n = value.length;
  while (i < n && isWs(value.charCodeAt(i))) i++;
  const typeStart = i;
  while (i < n && isToken(value.charCodeAt(i))) i++;
  if (i === typeStart || value.charCodeAt(i) !== 47 /* / */) return null;
  const type = value.slice(typeStart, i).toLowerCase();
  i++;
  const subStart = i;
  while (i < n && isToken(value.charCodeAt(i))) i++;
  if (i === subStart) return null;
  const subtype = value.slice(subStart, i).toLowerCase();
  const params = parseParameters(value, i);
  if (params === null) return null;
  return { essence: `${type}/${subtype}`, type, subtype, params };
}

/** `application/json` and every `+json` structured syntax suffix type (RFC 6839). */
export function isJsonType(m: MediaType): boolean {
  return m.essence === 'application/json' || m.subtype.endsWith('+json');
}

/**
 * Labels the WHATWG Encoding Standard maps to UTF-8; the only charset JSON (RFC 8259 §8.1) and
 * urlencoded forms may declare.
 */
const UTF8_LABELS = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8']);

export function isUtf8Charset(charset: string | undefined): boolean {
  return charset === undefined || UTF8_LABELS.has(charset.trim().toLowerCase());
}

/**
 * Allowed media types, compiled from `validate.contentTypes`: `type/subtype`, `type/*`,
 * `type/*+suffix` (e.g. `application/*+json`) or `*\/*`.
 */
export class MediaTypeMatcher {
  private readonly exact = new Set<string>();
  private readonly anyOfType = new Set<string>();
  private readonly suffixes: [type: string, suffix: string][] = [];
  private any = false;
  readonly patterns: readonly string[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    for (const p of patterns) {
      const [type = '', subtype = ''] = p.toLowerCase().split('/');
      if (type === '*') this.any = true;
      else if (subtype === '*') this.anyOfType.add(type);
      else if (subtype.startsWith('*+')) this.suffixes.push([type, subtype.slice(1)]);
      else this.exact.add(`${type}/${subtype}`);
    }
  }

  matches(m: MediaType): boolean {
    if (this.any || this.exact.has(m.essence) || this.anyOfType.has(m.type)) return true;
    for (const [type, suffix] of this.suffixes) {
      if (m.type === type && m.subtype.endsWith(suffix) && m.subtype.length > suffix.length) return true;
    }
    return false;
  }
}

/** The config pattern of one `contentTypes` entry (no parameters). */
export const MEDIA_RANGE_PATTERN = '^(\\*/\\*|[!#$%&\'*+.^_`|~0-9A-Za-z-]+/(\\*|\\*\\+[!#$%&\'*+.^_`|~0-9A-Za-z-]+|[!#$%&\'*+.^_`|~0-9A-Za-z-]+))$';
