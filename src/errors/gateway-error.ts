import { ERROR_CODES, type ErrorCode } from './codes.ts';

/**
 * One problem found in the request, for the `errors` member of the problem body: a JSON Pointer into
 * the body (`/items/0/sku`; the empty string is the whole body) or a `#/query/limit`-style pointer for parameters.
 */
export interface FieldError {
  pointer: string;
  message: string;
}

/**
 * Every rejection is a GatewayError: a stable code, its HTTP status, client-safe headers, and a
 * reason that only the log sees (never the client).
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers that are safe for the client (Allow, Retry-After, WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Client-safe detail; the log gets `message` (the internal reason). */
  readonly detail: string | undefined;
  /** Client-safe list of what is wrong with the request (validation), sent as the `errors` member. */
  readonly errors: readonly FieldError[] | undefined;

  constructor(
    code: ErrorCode,
    reason?: string,
    options: { headers?: Record<string, string>; detail?: string; errors?: readonly FieldError[]; cause?: unknown } = {},
  ) {
    super(reason ?? ERROR_CODES[code].title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.headers = options.headers;
    this.detail = options.detail;
    this.errors = options.errors;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}
