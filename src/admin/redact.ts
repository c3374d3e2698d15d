/**
 * The config in effect as the admin API shows it: every value that came from an environment
 * variable, and every value under a key that names a secret, replaced by a marker. API key hashes
 * stay (they are not secrets: the key cannot be recovered from them).
 */
import type { LoadedConfig } from '../config/load.ts';

const SECRET_KEY = /(secret|password|passwd|token|pepper|private|credential)/i;
export const REDACTED = '[redacted]';

export function redactedConfig(loaded: LoadedConfig): unknown {
  return walk(loaded.raw, '', loaded.envPaths, false);
}

function walk(value: unknown, pointer: string, env: ReadonlySet<string>, secretKey: boolean): unknown {
  if (env.has(pointer) || (secretKey && (typeof value === 'string' || typeof value === 'number'))) return REDACTED;
  if (Array.isArray(value)) return value.map((v, i) => walk(v, `${pointer}/${i}`, env, secretKey));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = walk(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, env, secretKey || SECRET_KEY.test(k));
    }
    return out;
  }
  return value;
}
