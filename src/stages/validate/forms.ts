/**
 * Form bodies parsed from the complete buffered body, with limits:
 * - `application/x-www-form-urlencoded` (WHATWG URL §5.1, strict: a malformed percent-escape or one
 *   that decodes to invalid UTF-8 is refused instead of being replaced);
 * - `multipart/form-data` (RFC 7578 on RFC 2046 §5.1.1): preamble and epilogue are skipped, every
 *   line ending must be CRLF, each part needs `Content-Disposition: form-data; name=...`, and the
 *   deprecated Content-Transfer-Encoding is refused unless it is an identity one — an encoded part
 *   would reach the backend unvalidated.
 *
 * Fields become an object of strings (repeated names → arrays of strings); a file part (one with a
 * `filename` parameter) contributes its file name. Names that could pollute a prototype in a
 * backend's form parser (`__proto__`, `constructor`, `prototype`, also as `a[__proto__]` segments)
 * are refused.
 */
import { isUtf8 } from 'node:buffer';
import { GatewayError, type FieldError } from '../../errors/gateway-error.ts';
import { isForbiddenKey, pointerToken } from './json.ts';
import { isUtf8Charset, parseMediaType, parseParameters } from './media-type.ts';

export interface FormLimits {
  /** urlencoded fields, or multipart parts. */
  maxParts: number;
  /** Bytes of one field value as sent (a multipart part that is not a file). */
  maxFieldBytes: number;
  /** Bytes of one multipart file part. */
  maxFileBytes: number;
}

export type FormFields = Record<string, string | string[]>;

export interface MultipartPart {
  name: string;
  /** The `filename` parameter; set for file parts only. */
  filename: string | undefined;
  /** The part's Content-Type value, when it has one. */
  contentType: string | undefined;
  /** The part's content is `body.subarray(start, end)`. */
  start: number;
  end: number;
}

/** Part heads are small: a few header fields with a file name. */
export const MAX_PART_HEAD_BYTES = 8 * 1024;

/** RFC 2046 §5.1.1: 1 to 70 bchars, not ending with a space. */
const BOUNDARY_RE = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;

export function isValidBoundary(boundary: string): boolean {
  return BOUNDARY_RE.test(boundary);
}

const fail = (code: 'PCL_REQUEST_MALFORMED_BODY' | 'PCL_REQUEST_BODY_TOO_COMPLEX' | 'PCL_REQUEST_BODY_TOO_LARGE' | 'PCL_REQUEST_FORBIDDEN_KEY', reason: string, error: FieldError): GatewayError =>
  new GatewayError(code, reason, { errors: [error] });

/** A field name a backend's bracket/dot-notation form parser could turn into a prototype write. */
function isForbiddenName(name: string): boolean {
  if (isForbiddenKey(name)) return true;
  if (!name.includes('proto') && !name.includes('constructor')) return false;
  return name.split(/[[\].]/).some(isForbiddenKey);
}

function addField(fields: FormFields, name: string, value: string): void {
  if (isForbiddenName(name)) {
    throw fail('PCL_REQUEST_FORBIDDEN_KEY', `form field name ${JSON.stringify(name.slice(0, 64))}`, {
      pointer: `/${pointerToken(name)}`,
      message: 'this field name is not allowed',
    });
  }
  if (!Object.hasOwn(fields, name)) {
    fields[name] = value;
    return;
  }
  const prior = fields[name] as string | string[];
  if (Array.isArray(prior)) prior.push(value);
  else fields[name] = [prior, value];
}

function decodeComponent(s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Parses an `application/x-www-form-urlencoded` body. */
export function parseUrlEncoded(body: Buffer, limits: FormLimits): FormFields {
  if (!isUtf8(body)) throw fail('PCL_REQUEST_MALFORMED_BODY', 'urlencoded body is not valid UTF-8', { pointer: '', message: 'is not valid UTF-8' });
  const text = body.toString('utf8');
  const fields: FormFields = {};
  let count = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('&', start);
    if (end === -1) end = text.length;
    if (end > start) {
      if (++count > limits.maxParts) {
        throw fail('PCL_REQUEST_BODY_TOO_COMPLEX', `more than ${limits.maxParts} form fields`, { pointer: '', message: `has more than ${limits.maxParts} fields` });
      }
      const eq = text.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const rawName = text.slice(start, hasValue ? eq : end);
      const rawValue = hasValue ? text.slice(eq + 1, end) : '';
      const name = decodeComponent(rawName);
      if (name === undefined) {
        throw fail('PCL_REQUEST_MALFORMED_BODY', 'malformed percent-encoding in a form field name', { pointer: '', message: `field name "${rawName.slice(0, 64)}" has a malformed percent-encoding` });
      }
      if (Buffer.byteLength(rawValue) > limits.maxFieldBytes) {
        throw fail('PCL_REQUEST_BODY_TOO_LARGE', `form field ${JSON.stringify(name.slice(0, 64))} over ${limits.maxFieldBytes} bytes`, {
          pointer: `/${pointerToken(name)}`,
          message: `is larger than ${limits.maxFieldBytes} bytes`,
        });
      }
      const value = decodeComponent(rawValue);
      if (value === undefined) {
        throw fail('PCL_REQUEST_MALFORMED_BODY', 'malformed percent-encoding in a form field value', { pointer: `/${pointerToken(name)}`, message: 'has a malformed percent-encoding' });
      }
      addField(fields, name, value);
    }
    start = end + 1;
  }
  return fields;
}

interface PartHead {
  disposition: string | undefined;
  contentType: string | undefined;
  transferEncoding: string | undefined;
}

/** Header fields of one part (RFC 5322 syntax, no obs-fold); null when malformed. */
function parsePartHead(text: string): PartHead | null {
  const head: PartHead = { disposition: undefined, contentType: undefined, transferEncoding: undefined };
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return null; // also refuses obs-fold (a leading space)
    const value = line.slice(colon + 1).trim();
    switch (name.toLowerCase()) {
      case 'content-disposition':
        if (head.disposition !== undefined) return null;
        head.disposition = value;
        break;
      case 'content-type':
        if (head.contentType !== undefined) return null;
        head.contentType = value;
        break;
      case 'content-transfer-encoding':
        if (head.transferEncoding !== undefined) return null;
        head.transferEncoding = value.toLowerCase();
        break;
    }
  }
  return head;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

function decodeField(body: Buffer, start: number, end: number, contentType: string | undefined): string | undefined {
  const bytes = body.subarray(start, end);
  const charset = contentType !== undefined ? parseMediaType(contentType)?.params.charset : undefined;
  if (isUtf8Charset(charset)) return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
  try {
    return new TextDecoder(charset, { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Parses a complete `multipart/form-data` body with the given boundary (check it with
 * `isValidBoundary` first). Returns the fields and the parts (byte ranges into `body`).
 */
export function parseMultipart(body: Buffer, boundary: string, limits: FormLimits): { fields: FormFields; parts: MultipartPart[] } {
  const malformed = (reason: string, pointer = ''): GatewayError =>
    fail('PCL_REQUEST_MALFORMED_BODY', `multipart: ${reason}`, { pointer, message: reason });
  const dashBoundary = Buffer.from(`--${boundary}`, 'latin1');
  const delimiter = Buffer.concat([CRLF, dashBoundary]);
  let pos: number;
  // The first boundary line: at the very start, or after a preamble (which ends with CRLF).
  if (body.length >= dashBoundary.length && body.subarray(0, dashBoundary.length).equals(dashBoundary)) {
    pos = dashBoundary.length;
  } else {
    const first = body.indexOf(delimiter);
    if (first === -1) throw malformed('no boundary delimiter in the body');
    pos = first + delimiter.length;
  }
  const fields: FormFields = {};
  const parts: MultipartPart[] = [];
  for (;;) {
    // After a boundary: `--` closes the body (the rest is an epilogue, ignored); else padding and CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break;
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (pos >= body.length) throw malformed('truncated body: no closing boundary');
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw malformed('a boundary line is not followed by CRLF');
    pos += 2;
    if (parts.length >= limits.maxParts) {
      throw fail('PCL_REQUEST_BODY_TOO_COMPLEX', `multipart: more than ${limits.maxParts} parts`, { pointer: '', message: `has more than ${limits.maxParts} parts` });
    }
    const headEnd = body.indexOf(HEAD_END, pos);
    if (headEnd === -1) {
      if (body.length - pos > MAX_PART_HEAD_BYTES) throw malformed(`a part head is larger than ${MAX_PART_HEAD_BYTES} bytes`);
      throw malformed('truncated body: a part head does not end');
    }
    if (headEnd - pos > MAX_PART_HEAD_BYTES) throw malformed(`a part head is larger than ${MAX_PART_HEAD_BYTES} bytes`);
    const headBytes = body.subarray(pos, headEnd);
    const head = headEnd === pos || !isUtf8(headBytes) ? null : parsePartHead(headBytes.toString('utf8'));
    if (head === null) throw malformed(`part ${parts.length + 1} has a malformed head`);
    // RFC 7578 §4.2: `form-data; name="..."` (and `filename="..."` for a file).
    const disposition = head.disposition ?? '';
    const semi = disposition.indexOf(';');
    const dispType = (semi === -1 ? disposition : disposition.slice(0, semi)).trim().toLowerCase();
    const params = semi === -1 ? null : parseParameters(disposition, semi);
    const name = params?.name;
    if (dispType !== 'form-data' || params === null || name === undefined) {
      throw malformed(`part ${parts.length + 1} has no Content-Disposition: form-data with a name`);
    }
    if (head.transferEncoding !== undefined && !IDENTITY_ENCODINGS.has(head.transferEncoding)) {
      throw malformed(`Content-Transfer-Encoding "${head.transferEncoding.slice(0, 32)}" is not supported`, `/${pointerToken(name)}`);
    }
    const start = headEnd + HEAD_END.length;
    const next = body.indexOf(delimiter, start);
    if (next === -1) throw malformed('truncated body: no closing boundary', `/${pointerToken(name)}`);
    const filename = params.filename ?? params['filename*'];
    const size = next - start;
    const max = filename !== undefined ? limits.maxFileBytes : limits.maxFieldBytes;
    if (size > max) {
      throw fail('PCL_REQUEST_BODY_TOO_LARGE', `multipart ${filename !== undefined ? 'file' : 'field'} ${JSON.stringify(name.slice(0, 64))} over ${max} bytes`, {
        pointer: `/${pointerToken(name)}`,
        message: `is larger than ${max} bytes`,
      });
    }
    let value: string;
    if (filename !== undefined) value = filename;
    else {
      const decoded = decodeField(body, start, next, head.contentType);
      if (decoded === undefined) throw malformed('is not valid text in its charset', `/${pointerToken(name)}`);
      value = decoded;
    }
    addField(fields, name, value);
    parts.push({ name, filename, contentType: head.contentType, start, end: next });
    pos = next + delimiter.length;
  }
  return { fields, parts };
}
