/** The OWASP CRS regression corpus (go-ftw YAML): a stage's input and the bytes it stands for. */

/** A stage's `input` as the corpus writes it. */
export interface CorpusInput {
  method?: string;
  uri?: string;
  version?: string;
  headers?: Record<string, string | number>;
  data?: string | string[];
  encoded_request?: string;
  autocomplete_headers?: boolean;
}

/** The request bytes as go-ftw would send them: as written, plus Content-Length and Connection: close. */
export function rawRequest(input: CorpusInput): Buffer {
  if (input.encoded_request !== undefined) return Buffer.from(input.encoded_request, 'base64');
  const method = input.method ?? 'GET';
  const uri = input.uri ?? '/';
  const version = input.version ?? 'HTTP/1.1';
  const data = Array.isArray(input.data) ? input.data.join('\r\n') : (input.data ?? '');
  const body = Buffer.from(data, 'utf8');
  const headers = Object.entries(input.headers ?? {}).map(([k, v]) => [k, String(v)] as const);
  const auto = input.autocomplete_headers !== false;
  const has = (name: string): boolean => headers.some(([k]) => k.toLowerCase() === name);
  const lines = [`${method} ${uri} ${version}`];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (auto && body.length > 0 && !has('content-length') && !has('transfer-encoding')) lines.push(`Content-Length: ${body.length}`);
  if (auto && !has('connection')) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}
