/** Durations ("250ms", "30s", "5m", "1h", "1d") and sizes ("512b", "16kb", "1mb") as config strings. */

export const DURATION_PATTERN = '^[0-9]+(\\.[0-9]+)?(ms|s|m|h|d)$';
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?([kKmMgG]?[bB])$';

const DURATION_RE = new RegExp(DURATION_PATTERN);
const SIZE_RE = new RegExp(SIZE_PATTERN);

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Milliseconds in a duration string; throws on a malformed one (the schema has already checked). */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) throw new Error(`invalid duration "${text}"`);
  return Math.round(Number.parseFloat(text) * (DURATION_MS[m[2] as string] as number));
}

/** Bytes in a size string (binary multiples: 1kb = 1024 bytes). */
export function parseSize(text: string): number {
  const m = SIZE_RE.exec(text);
  if (!m) throw new Error(`invalid size "${text}"`);
  return Math.floor(Number.parseFloat(text) * (SIZE_BYTES[(m[2] as string).toLowerCase()] as number));
}
