/** Constants shared by the bench orchestrator and its child processes. */

/** What the upstream answers to every request: exactly 47 bytes of JSON. */
export const UPSTREAM_BODY = Buffer.from('{"ok":true,"service":"bench-upstream","id":123}');
if (UPSTREAM_BODY.length !== 47) throw new Error(`upstream body is ${UPSTREAM_BODY.length} bytes, expected 47`);

/** The POST request body: a JSON document of exactly 1 KiB. */
export const POST_BODY: Buffer = makePostBody(1024);

function makePostBody(size: number): Buffer {
  const items = Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: i + 1, price: 9.99 + i }));
  const base = { orderId: 'ord_0123456789', customer: { id: 'cus_42', tier: 'gold' }, items, note: '' };
  const without = Buffer.byteLength(JSON.stringify(base));
  if (without > size) throw new Error('POST body template larger than its target size');
  base.note = 'x'.repeat(size - without);
  const body = Buffer.from(JSON.stringify(base));
  if (body.length !== size) throw new Error(`POST body is ${body.length} bytes, expected ${size}`);
  JSON.parse(body.toString('utf8'));
  return body;
}

/** A child announces its listening port with this line on stdout. */
export const READY_RE = /^READY (\d+)$/m;

/** The request path used against every target (Portcullis routes /api/*). */
export const BENCH_PATH = '/api/items';

/**
 * For the bench's child servers: run `close` and exit on SIGTERM or SIGINT, and when stdin closes —
 * the bench holds that pipe open, so when it dies (even by SIGKILL) the pipe closes and so do we.
 */
export function exitWithParent(close: () => void): void {
  const shutdown = (): void => {
    close();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}
