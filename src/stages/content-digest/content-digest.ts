/**
 * The content-digest stage: when the request's verified HTTP message signature covers
 * `Content-Digest` (RFC 9421 + RFC 9530), the body actually received must match that digest. The
 * authenticate stage runs before the body is read, so this stage is a body stage: the handler
 * buffers the body (within the route's limit) before it runs, and nothing is forwarded unless it
 * passes. A mismatch is an invalid credential (401): the signature does not authenticate this
 * message. The same stage makes a route buffer its body when its upstream signs a content-digest.
 */
import type { Authenticator } from '../../auth/authenticator.ts';
import { checkContentDigest } from '../../auth/http-signatures/digest.ts';
import { signatureCoversContentDigest } from '../../auth/signature.ts';
import { GatewayError } from '../../errors/gateway-error.ts';
import type { RequestContext } from '../../pipeline/context.ts';
import type { Stage } from '../../pipeline/stage.ts';

const EMPTY = Buffer.alloc(0);

export class ContentDigestStage implements Stage {
  readonly name = 'content-digest';
  readonly needsBody = true;
  readonly mode: 'enforce' | 'shadow';
  private readonly challenge: string;

  constructor(authenticators: readonly Authenticator[], mode: 'enforce' | 'shadow') {
    this.mode = mode;
    // The same challenge the authenticate stage sends for an invalid credential.
    const schemes = new Set(authenticators.map((a) => a.scheme));
    this.challenge = [schemes.has('Bearer') ? 'Bearer realm="portcullis", error="invalid_token"' : '', schemes.has('ApiKey') ? 'ApiKey realm="portcullis"' : '']
      .filter(Boolean)
      .join(', ');
  }

  run(ctx: RequestContext): void {
    if (!signatureCoversContentDigest(ctx.identity)) return;
    // The field lines as the signature base combined them (RFC 9421 §2.1).
    const raw = ctx.request.rawHeaders;
    const lines: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).length === 14 && (raw[i] as string).toLowerCase() === 'content-digest') lines.push((raw[i + 1] as string).trim());
    }
    const reason = lines.length === 0 ? 'Content-Digest is signed but absent' : checkContentDigest(lines.join(', '), ctx.body ?? EMPTY);
    if (reason !== undefined) {
      throw new GatewayError('PCL_AUTHN_INVALID_CREDENTIALS', `${ctx.identity?.authenticator ?? 'signature'}: ${reason}`, this.challenge ? { headers: { 'www-authenticate': this.challenge } } : {});
    }
  }
}

/**
 * Whether a route with these authenticators must be able to check a signed Content-Digest against
 * its body: any signature authenticator, since a client may cover content-digest even where the
 * policy does not require it, and a covered digest is always checked.
 */
export function needsContentDigest(authenticators: readonly Authenticator[]): boolean {
  return authenticators.some((a) => a.type === 'signature');
}
