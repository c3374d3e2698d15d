/**
 * The validate stages of a route, after authentication and rate limits:
 * - `content-type` (head only, runs before the body is read): the media type is one of
 *   `validate.contentTypes` (415 otherwise), JSON only in UTF-8, one Content-Type field at most;
 * - `validate` (needs the body, which the handler has read into `ctx.body`): the body parsed once —
 *   JSON safely, forms with their limits — into `ctx.parsedBody`, then checked against the OpenAPI
 *   operation and the `body` JSON Schema. 400 with `errors: [{ pointer, message }]`.
 *
 * Neither ever changes the request: the upstream receives the bytes the client sent.
 */
import type { Http2ServerRequest } from 'node:http2';
import type { ValidateFunction } from 'ajv';
import { GatewayError, type FieldError } from '../../errors/gateway-error.ts';
import type { ErrorCode } from '../../errors/codes.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';
import type { AnyRequest } from '../../upstream/proxy.ts';
import { toFieldErrors } from './body-schema.ts';
import { isValidBoundary, parseMultipart, parseUrlEncoded, type FormLimits } from './forms.ts';
import { parseJsonBody, type JsonLimits } from './json.ts';
import { isJsonType, isUtf8Charset, parseMediaType, type MediaType, type MediaTypeMatcher } from './media-type.ts';
import type { OpenApiResult, OpenApiValidator } from './openapi.ts';

const OPENAPI_CODES: Record<OpenApiResult['status'], ErrorCode> = {
  400: 'PCL_REQUEST_VALIDATION_FAILED',
  404: 'PCL_ROUTE_NOT_FOUND',
  405: 'PCL_ROUTE_METHOD_NOT_ALLOWED',
  415: 'PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE',
};

/**
 * The request's Content-Type. Two of them are refused: Node keeps the first, a backend may take the
 * last, and the body would be validated as one type and processed as another.
 */
export function contentTypeOf(req: AnyRequest): string | undefined {
  const raw = req.rawHeaders;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 12 && name.toLowerCase() === 'content-type') {
      if (found !== undefined) throw new GatewayError('PCL_REQUEST_BAD_HEADER', 'more than one Content-Type');
      found = raw[i + 1] as string;
    }
  }
  return found;
}

/** Whether the request head announces a body (before it is read). */
export function declaresBody(req: AnyRequest): boolean {
  if (req.httpVersionMajor === 2) {
    if ((req as Http2ServerRequest).stream.endAfterHeaders) return false;
    return req.headers['content-length'] !== '0';
  }
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

function unsupported(reason: string, detail?: string): GatewayError {
  return new GatewayError('PCL_REQUEST_UNSUPPORTED_MEDIA_TYPE', reason, detail === undefined ? {} : { detail });
}

/** `validate.contentTypes`: checked on the head, before the body is read. */
export class ContentTypeStage implements Stage {
  readonly name = 'content-type';
  readonly needsBody = false;
  readonly mode: 'enforce' | 'shadow';
  private readonly matcher: MediaTypeMatcher;
  private readonly detail: string | undefined;

  constructor(matcher: MediaTypeMatcher, mode: 'enforce' | 'shadow', hideErrors: boolean) {
    this.matcher = matcher;
    this.mode = mode;
    this.detail = hideErrors ? undefined : `Allowed media types: ${matcher.patterns.join(', ')}.`;
  }

  run(ctx: RequestContext): void {
    const value = contentTypeOf(ctx.request);
    if (value === undefined) {
      if (declaresBody(ctx.request)) throw unsupported('a body without Content-Type', this.detail);
      return;
    }
    const m = parseMediaType(value);
    if (m === null) throw unsupported(`malformed Content-Type "${value.slice(0, 64)}"`, this.detail);
    if (!this.matcher.matches(m)) throw unsupported(`Content-Type ${m.essence} is not allowed`, this.detail);
    if (isJsonType(m) && !isUtf8Charset(m.params.charset)) {
      throw unsupported(`JSON in charset "${m.params.charset?.slice(0, 32)}"`, this.detail === undefined ? undefined : 'JSON must be UTF-8 (RFC 8259).');
    }
  }
}

export interface ValidateStageOptions {
  mode: 'enforce' | 'shadow';
  /** Whether the body is read and parsed (`body`, `limits`, an OpenAPI operation with a request body); else parameters only. */
  readsBody: boolean;
  schema: ValidateFunction | undefined;
  openapi: OpenApiValidator | undefined;
  requireBody: boolean;
  json: JsonLimits;
  forms: FormLimits;
  hideErrors: boolean;
  maxErrors: number;
}

/** Parses the buffered body once and checks it against the OpenAPI operation and the JSON Schema. */
export class ValidateStage implements Stage {
  readonly name = 'validate';
  readonly needsBody: boolean;
  readonly mode: 'enforce' | 'shadow';
  private readonly o: ValidateStageOptions;

  constructor(options: ValidateStageOptions) {
    this.o = options;
    this.mode = options.mode;
    this.needsBody = options.readsBody;
  }

  run(ctx: RequestContext): void {
    try {
      this.check(ctx);
    } catch (err) {
      if (err instanceof GatewayError && (err.errors !== undefined || err.detail !== undefined)) throw this.visible(err);
      throw err;
    }
  }

  /** The client sees the errors list and detail only in `errors: detailed` mode, and at most `maxErrors` entries. */
  private visible(err: GatewayError): GatewayError {
    const headers = err.headers ? { headers: { ...err.headers } } : {};
    if (this.o.hideErrors) return new GatewayError(err.code, err.message, headers);
    const errors = err.errors;
    if (errors === undefined || errors.length <= this.o.maxErrors) return err;
    return new GatewayError(err.code, err.message, { ...headers, ...(err.detail !== undefined ? { detail: err.detail } : {}), errors: errors.slice(0, this.o.maxErrors) });
  }

  private check(ctx: RequestContext): void {
    const o = this.o;
    const body = ctx.body;
    let media: MediaType | undefined;
    let parsed: unknown;
    let structured = false;
    if (body !== undefined && body.length > 0) {
      const contentType = contentTypeOf(ctx.request);
      const m = contentType === undefined ? undefined : parseMediaType(contentType);
      media = m ?? undefined;
      if (m === null) throw unsupported(`malformed Content-Type "${(contentType ?? '').slice(0, 64)}"`);
      if (m !== undefined && (isJsonType(m) || m.essence === 'application/x-www-form-urlencoded' || m.essence === 'multipart/form-data')) {
        parsed = this.parse(body, m);
        structured = true;
        ctx.parsedBody = parsed;
      } else if (o.schema !== undefined) {
        throw unsupported(m === undefined ? 'a body without Content-Type' : `${m.essence} cannot be checked against a JSON Schema`);
      } else if (m !== undefined && m.type === 'text') {
        parsed = decodeText(body, m);
        ctx.parsedBody = parsed;
      } else {
        parsed = body;
      }
    } else if (o.requireBody) {
      throw new GatewayError('PCL_REQUEST_VALIDATION_FAILED', 'no body', { errors: [{ pointer: '', message: 'a body is required' }] });
    }

    let errors: FieldError[] | undefined;
    if (o.openapi !== undefined) {
      const r = o.openapi.validate({
        method: ctx.method,
        path: ctx.path,
        query: ctx.query,
        headers: ctx.request.headers,
        body: parsed,
        contentType: media?.essence,
      });
      if (r !== null) {
        if (r.status !== 400) {
          const headers = r.status === 405 && r.allow !== undefined ? { allow: r.allow.join(', ') } : undefined;
          throw new GatewayError(OPENAPI_CODES[r.status], `openapi: ${summary(r.errors) || r.status}`, {
            ...(headers ? { headers } : {}),
            errors: r.errors,
          });
        }
        errors = r.errors.length > 0 ? r.errors : [{ pointer: '', message: 'does not match the API description' }];
      }
    }
    if (o.schema !== undefined && structured && !o.schema(parsed)) {
      const found = toFieldErrors(o.schema.errors, o.maxErrors);
      errors = errors === undefined ? found : errors.concat(found);
    }
    if (errors !== undefined) {
      throw new GatewayError('PCL_REQUEST_VALIDATION_FAILED', `body: ${summary(errors)}`, { errors });
    }
  }

  private parse(body: Buffer, m: MediaType): unknown {
    const o = this.o;
    if (isJsonType(m)) {
      if (!isUtf8Charset(m.params.charset)) throw unsupported(`JSON in charset "${m.params.charset?.slice(0, 32)}"`, 'JSON must be UTF-8 (RFC 8259).');
      return parseJsonBody(body, o.json);
    }
    if (m.essence === 'application/x-www-form-urlencoded') {
      if (!isUtf8Charset(m.params.charset)) throw unsupported(`urlencoded form in charset "${m.params.charset?.slice(0, 32)}"`, 'Forms must be UTF-8.');
      return parseUrlEncoded(body, o.forms);
    }
    const boundary = m.params.boundary;
    if (boundary === undefined || !isValidBoundary(boundary)) {
      throw new GatewayError('PCL_REQUEST_MALFORMED_BODY', 'multipart: missing or invalid boundary', {
        errors: [{ pointer: '', message: 'multipart/form-data needs a boundary parameter of 1 to 70 allowed characters' }],
      });
    }
    return parseMultipart(body, boundary, o.forms).fields;
  }
}

function decodeText(body: Buffer, m: MediaType): string | Buffer {
  const charset = m.params.charset;
  if (isUtf8Charset(charset)) return body.toString('utf8');
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return body;
  }
}

/** The first problem and how many more, for the log line. */
function summary(errors: readonly FieldError[]): string {
  const first = errors[0];
  if (first === undefined) return '';
  const more = errors.length > 1 ? ` (+${errors.length - 1} more)` : '';
  return `${first.pointer || '/'} ${first.message}${more}`;
}
