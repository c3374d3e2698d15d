/**
 * The dashboard's static files (built by `npm run build:dashboard` into dashboard/dist/), read once
 * when the admin listener starts and served from memory: `/` (index.html) and `/assets/<hashed name>`.
 * They hold no data, so they need no token; every data call the page makes does.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_DIST = fileURLToPath(new URL('../../dashboard/dist/', import.meta.url));

/** Strict: only the page's own files; no inline script or style, no framing, no form posts. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Hashed names (under /assets/) never change: cached for a year. */
  readonly immutable: boolean;
}

/** url path → file; undefined when the dashboard was not built. */
export async function loadDashboard(dir = DASHBOARD_DIST): Promise<Map<string, Asset> | undefined> {
  let index: Buffer;
  try {
    index = await readFile(path.join(dir, 'index.html'));
  } catch {
    return undefined;
  }
  const files = new Map<string, Asset>();
  files.set('/', { body: index, type: TYPES['.html'] as string, immutable: false });
  let names: string[] = [];
  try {
    names = await readdir(path.join(dir, 'assets'));
  } catch {
    // an index without assets: served as it is
  }
  for (const name of names) {
    const type = TYPES[path.extname(name)];
    if (type === undefined || name.endsWith('.map')) continue;
    files.set(`/assets/${name}`, { body: await readFile(path.join(dir, 'assets', name)), type, immutable: true });
  }
  return files;
}
