/**
 * The one registry of error codes. A code is never reused for another meaning and never renamed:
 * clients and dashboards key on it. Each entry gives the HTTP status and the client-safe title.
 */
export const ERROR_CODES = {
  PCL_ROUTE_NOT_FOUND: { status: 404, title: 'No route matches this request' },
  PCL_ROUTE_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route' },
  PCL_ROUTE_UNKNOWN_VERSION: { status: 400, title: 'Unknown API version requested' },
  PCL_REQUEST_BAD: { status: 400, title: 'Malformed request' },
  PCL_REQUEST_DUPLICATE_HOST: { status: 400, title: 'More than one Host header' },
  PCL_REQUEST_MISSING_HOST: { status: 400, title: 'Missing Host header' },
  PCL_REQUEST_BAD_HOST: { status: 400, title: 'Malformed Host header' },
  PCL_REQUEST_AMBIGUOUS_FRAMING: { status: 400, title: 'Ambiguous message framing' },
  PCL_REQUEST_BAD_VERSION: { status: 400, title: 'Unsupported HTTP version' },
  PCL_REQUEST_BAD_PATH: { status: 400, title: 'Malformed request target' },
  PCL_REQUEST_BAD_HEADER: { status: 400, title: 'Malformed header field' },
  PCL_REQUEST_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  PCL_REQUEST_URI_TOO_LONG: { status: 414, title: 'Request target too long' },
  PCL_REQUEST_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  PCL_REQUEST_TIMEOUT: { status: 408, title: 'Request not received in time' },
  PCL_REQUEST_BAD_EXPECTATION: { status: 417, title: 'Expectation cannot be met' },
  PCL_AUTHN_MISSING_CREDENTIALS: { status: 401, title: 'Authentication required' },
  PCL_AUTHN_INVALID_CREDENTIALS: { status: 401, title: 'Invalid credentials' },
  PCL_AUTHN_UNAVAILABLE: { status: 503, title: 'Credentials cannot be checked right now' },
  PCL_AUTHZ_INSUFFICIENT_SCOPE: { status: 403, title: 'Insufficient scope' },
  PCL_AUTHZ_FORBIDDEN: { status: 403, title: 'Forbidden' },
  PCL_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  PCL_RATE_LIMIT_UNAVAILABLE: { status: 503, title: 'Rate limits cannot be checked right now' },
  PCL_CONCURRENCY_LIMITED: { status: 429, title: 'Too many concurrent requests' },
  PCL_ABUSE_BANNED: { status: 429, title: 'Too many failed attempts' },
  PCL_UPSTREAM_TIMEOUT: { status: 504, title: 'The backend did not answer in time' },
  PCL_UPSTREAM_UNREACHABLE: { status: 502, title: 'The backend could not be reached' },
  PCL_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'The backend sent an invalid response' },
  PCL_GATEWAY_SHUTTING_DOWN: { status: 503, title: 'The gateway is shutting down' },
  PCL_INTERNAL: { status: 500, title: 'Internal gateway error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
