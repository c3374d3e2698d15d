/**
 * Safe JSON parsing of a request body: strict UTF-8 (RFC 8259 §8.1), `JSON.parse` without a reviver
 * (V8's parser is iterative and the fastest there is), then one walk of the result that enforces the
 * nesting depth and key-count limits and — only when a cheap substring check says a key could be one —
 * refuses the prototype-pollution keys `__proto__`, `constructor` and `prototype`.
 *
 * Why refuse them although `JSON.parse` itself is safe: it creates `__proto__` as an ordinary own
 * key, and the first deep merge / `Object.assign` / ORM downstream turns it into a prototype write.
 * A key can only hide from the substring check behind a `\u` escape (none of the three names has a
 * character with a short escape), so the walk also runs whenever the text contains `\u`.
 */
import { isUtf8 } from 'node:buffer';
import { GatewayError, type FieldError } from '../../errors/gateway-error.ts';

export interface JsonLimits {
  /** Nesting depth of objects and arrays; the outermost one is depth 1. */
  maxDepth: number;
  /** Object members in the whole document. */
  maxKeys: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxKeys: 10_000 };

const FORBIDDEN_HINT = /__proto__|constructor|prototype|\\u/;

export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

/** RFC 6901 escaping of one reference token. */
export function pointerToken(key: string): string {
  return key.includes('~') || key.includes('/') ? key.replace(/~/g, '~0').replace(/\//g, '~1') : key;
}

/** A limit or key violation found by the walk; the path is collected innermost first while unwinding. */
class Violation {
  readonly kind: 'depth' | 'keys' | 'forbidden';
  readonly segments: string[];
  constructor(kind: 'depth' | 'keys' | 'forbidden', segments: string[]) {
    this.kind = kind;
    this.segments = segments;
  }
}

interface WalkState {
  keys: number;
  readonly maxKeys: number;
  readonly maxDepth: number;
  readonly checkKeys: boolean;
}

function walk(node: object, depth: number, st: WalkState): void {
  if (depth > st.maxDepth) throw new Violation('depth', []);
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v: unknown = node[i];
      if (typeof v === 'object' && v !== null) {
        try {
          walk(v, depth + 1, st);
        } catch (err) {
          (err as Violation).segments.push(String(i));
          throw err;
        }
      }
    }
    return;
  }
  const obj = node as Record<string, unknown>;
  for (const key in obj) {
    if (++st.keys > st.maxKeys) throw new Violation('keys', [key]);
    if (st.checkKeys && isForbiddenKey(key)) throw new Violation('forbidden', [key]);
    const v = obj[key];
    if (typeof v === 'object' && v !== null) {
      try {
        walk(v, depth + 1, st);
      } catch (err) {
        (err as Violation).segments.push(key);
        throw err;
      }
    }
  }
}

function malformed(reason: string, errors: FieldError[]): GatewayError {
  return new GatewayError('PCL_REQUEST_MALFORMED_BODY', reason, { errors });
}

/**
 * Parses a JSON body; throws a GatewayError (400) for invalid UTF-8, invalid JSON, a forbidden key,
 * or a document over the limits — each with a `{ pointer, message }`.
 */
export function parseJsonBody(body: Buffer, limits: JsonLimits): unknown {
  if (!isUtf8(body)) throw malformed('JSON body is not valid UTF-8', [{ pointer: '', message: 'is not valid UTF-8' }]);
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    const message = at === undefined ? 'is not valid JSON' : `is not valid JSON (at character ${at})`;
    throw malformed(`JSON body: ${(err as Error).message.slice(0, 120)}`, [{ pointer: '', message }]);
  }
  if (typeof value !== 'object' || value === null) return value;
  const st: WalkState = { keys: 0, maxKeys: limits.maxKeys, maxDepth: limits.maxDepth, checkKeys: FORBIDDEN_HINT.test(text) };
  try {
    walk(value, 1, st);
  } catch (err) {
    if (!(err instanceof Violation)) throw err;
    const pointer = err.segments.reverse().map((s) => `/${pointerToken(s)}`).join('');
    if (err.kind === 'forbidden') {
      throw new GatewayError('PCL_REQUEST_FORBIDDEN_KEY', `JSON body: forbidden key at ${pointer}`, {
        errors: [{ pointer, message: `the key "${err.segments.at(-1) ?? ''}" is not allowed` }],
      });
    }
    const message = err.kind === 'depth' ? `nests deeper than ${limits.maxDepth} levels` : `exceeds ${limits.maxKeys} keys in the document`;
    throw new GatewayError('PCL_REQUEST_BODY_TOO_COMPLEX', `JSON body: ${message} at ${pointer}`, { errors: [{ pointer, message }] });
  }
  return value;
}
