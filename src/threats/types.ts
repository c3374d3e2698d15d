/** Shared shapes of the threat detectors and the engine. */

export type Paranoia = 1 | 2 | 3 | 4;

/** Anomaly scores of one finding (the CRS convention: a critical finding alone reaches the default threshold). */
export const CRITICAL = 5;
export const ERROR = 4;
export const WARNING = 3;
export const NOTICE = 2;

/** Where an inspected value comes from. */
export type Location = 'path' | 'query' | 'header' | 'cookie' | 'body';

/**
 * Which characters a value holds (one bit per class), computed once per value: a detector whose
 * syntax needs a character the value lacks returns at once. All bits set means "unknown".
 */
export const C_SLASH = 1 << 0;
export const C_BACKSLASH = 1 << 1;
export const C_DOT = 1 << 2;
export const C_COLON = 1 << 3;
export const C_SEMI = 1 << 4;
export const C_PIPE = 1 << 5;
export const C_AMP = 1 << 6;
export const C_BACKTICK = 1 << 7;
export const C_DOLLAR = 1 << 8;
export const C_PAREN = 1 << 9;
export const C_BRACE = 1 << 10;
export const C_ANGLE = 1 << 11;
export const C_PERCENT = 1 << 12;
export const C_QUOTE = 1 << 13;
export const C_HASH = 1 << 14;
export const C_EQUALS = 1 << 15;
export const C_STAR = 1 << 16;
export const C_QUESTION = 1 << 17;
export const C_BANG = 1 << 18;
export const C_AT = 1 << 19;
export const C_TILDE = 1 << 20;
export const C_BRACKET = 1 << 21;
export const C_NEWLINE = 1 << 22;
export const C_SPACE = 1 << 23;
export const C_DIGIT = 1 << 24;
export const C_UNDERSCORE = 1 << 25;
export const C_DASH = 1 << 26;
export const C_OTHER = 1 << 27;
export const C_ALL = (1 << 28) - 1;

const CLASS = new Int32Array(128);
for (let c = 48; c <= 57; c++) CLASS[c] = C_DIGIT;
for (const [ch, bit] of [
  ['/', C_SLASH], ['\\', C_BACKSLASH], ['.', C_DOT], [':', C_COLON], [';', C_SEMI], ['|', C_PIPE], ['&', C_AMP], ['`', C_BACKTICK],
  ['$', C_DOLLAR], ['(', C_PAREN], [')', C_PAREN], ['{', C_BRACE], ['}', C_BRACE], ['<', C_ANGLE], ['>', C_ANGLE], ['%', C_PERCENT],
  ["'", C_QUOTE], ['"', C_QUOTE], ['#', C_HASH], ['=', C_EQUALS], ['*', C_STAR], ['?', C_QUESTION], ['!', C_BANG], ['@', C_AT],
  ['~', C_TILDE], ['[', C_BRACKET], [']', C_BRACKET], ['\n', C_NEWLINE], [' ', C_SPACE], ['_', C_UNDERSCORE], ['-', C_DASH],
  [',', C_OTHER], ['+', C_OTHER], ['^', C_OTHER],
] as const) CLASS[ch.charCodeAt(0)] = bit;

/** The `C_*` class of each ASCII code (0 for letters and the characters no detector cares about). */
export const CLASS_OF: Readonly<Int32Array> = CLASS;

/** The character classes of a (normalised) value. */
export function charClasses(v: string): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    m |= c < 128 ? (CLASS[c] as number) : C_OTHER;
  }
  return m;
}

export interface ValueInfo {
  /** `C_*` bits of the characters the value holds. */
  chars: number;
  location: Location;
  /** The value is a name (query parameter, JSON key, form field, cookie name), not a value. */
  key: boolean;
  /** `F_*` flags of the normalisation. */
  flags: number;
  /** Lower-case header name when `location` is `header`. */
  header: string | undefined;
}

/** What a detector found in one value. */
export interface Hit {
  /** Stable rule id, `<detector>.<what>`: `lfi.traversal`, `rce.unix-command`. */
  rule: string;
  score: number;
  /** Short reason for the log. */
  reason: string;
  /** Index in the normalised value where the evidence starts (for the excerpt). */
  at: number;
}

/** A detector of one family over one normalised value; null when it finds nothing at this paranoia level. */
export type ValueDetector = (value: string, paranoia: Paranoia, info: ValueInfo) => Hit | null;

export function hit(rule: string, score: number, reason: string, at = 0): Hit {
  return { rule, score, reason, at: at < 0 ? 0 : at };
}
