import { ERROR_CODES, type ErrorCode } from './codes.ts';
import type { FieldError } from './gateway-error.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/**
 * The RFC 9457 body for a rejection. `type` is a stable URN built from the code so clients can
 * switch on it; `instance` carries the request id so support can find the log line.
 */
export function problemBody(code: ErrorCode, requestId: string, detail?: string, errors?: readonly FieldError[]): string {
  const { status, title } = ERROR_CODES[code];
  const problem: Record<string, unknown> = {
    type: `urn:portcullis:error:${code}`,
    title,
    status,
    code,
    requestId,
    instance: `urn:portcullis:request:${requestId}`,
  };
  if (detail !== undefined) problem.detail = detail;
  // An extension member (RFC 9457 §3.2): what exactly is wrong with the request, when it is safe to say.
  if (errors !== undefined) problem.errors = errors.map((e) => ({ pointer: e.pointer, message: e.message }));
  return JSON.stringify(problem);
}

/**
 * A complete raw HTTP/1.1 response for errors raised before a request object exists (parser errors,
 * timeouts). The connection is always closed after it: the framing can no longer be trusted.
 */
export function rawProblemResponse(code: ErrorCode, requestId: string): string {
  const { status, title } = ERROR_CODES[code];
  const body = problemBody(code, requestId);
  return (
    `HTTP/1.1 ${status} ${title}\r\n` +
    `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'connection: close\r\n\r\n' +
    body
  );
}
