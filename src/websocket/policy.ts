/**
 * `routes[].websocket`: the opt-in that lets a route accept WebSocket handshakes (RFC 6455), and the
 * limits of the tunnels it opens. See docs/protocols.md.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { ConfigIssue } from '../config/errors.ts';
import { DURATION_PATTERN, parseDuration, parseSize, SIZE_PATTERN } from '../config/units.ts';

export const WebSocketRouteSchema = Type.Union(
  [
    Type.Boolean({ description: 'true: accept WebSocket handshakes with the default limits; false: refuse them (the default).' }),
    Type.Object(
      {
        idleTimeout: Type.Optional(
          Type.String({
            pattern: DURATION_PATTERN,
            default: '5m',
            description: 'Close the connection (both sides) when no byte went either way for this long.',
          }),
        ),
        maxMessageBytes: Type.Optional(
          Type.String({
            pattern: SIZE_PATTERN,
            default: '1mb',
            description:
              'Largest message (the payloads of all its fragments), in either direction; a bigger one closes the connection with 1009 (as sent on the wire: compressed when permessage-deflate is negotiated).',
          }),
        ),
        allowedOrigins: Type.Optional(
          Type.Array(Type.String({ pattern: '^https?://[^/\\s]+$', description: 'scheme://host[:port], e.g. https://app.example.com' }), {
            minItems: 1,
            description:
              'Browser origins allowed to open a connection (Origin header, exact match, case-insensitive); a handshake from another origin gets 403. Handshakes without Origin (non-browser clients) are not affected. Default: any origin.',
          }),
        ),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'Accept WebSocket upgrades (HTTP/1.1 GET with Upgrade: websocket) on this route, after its security stages passed on the handshake. Off by default: a handshake on a route without it gets 400.',
  },
);

export type RawWebSocketRoute = Static<typeof WebSocketRouteSchema>;

/** The compiled policy of a route's tunnels. */
export interface WebSocketPolicy {
  /** ms without a byte either way before both sides are closed. */
  readonly idleTimeout: number;
  readonly maxMessageBytes: number;
  /** Lower-case origins a browser handshake may come from; undefined: any. */
  readonly allowedOrigins: ReadonlySet<string> | undefined;
}

export const DEFAULT_WEBSOCKET: WebSocketPolicy = { idleTimeout: 300_000, maxMessageBytes: 1024 * 1024, allowedOrigins: undefined };

export function compileWebSocket(raw: RawWebSocketRoute | undefined, at: string, issues: ConfigIssue[]): WebSocketPolicy | undefined {
  if (raw === undefined || raw === false) return undefined;
  if (raw === true) return DEFAULT_WEBSOCKET;
  const idleTimeout = raw.idleTimeout !== undefined ? parseDuration(raw.idleTimeout) : DEFAULT_WEBSOCKET.idleTimeout;
  const maxMessageBytes = raw.maxMessageBytes !== undefined ? parseSize(raw.maxMessageBytes) : DEFAULT_WEBSOCKET.maxMessageBytes;
  if (idleTimeout < 100) issues.push({ path: `${at}.websocket.idleTimeout`, message: 'must be at least 100ms' });
  if (maxMessageBytes < 1) issues.push({ path: `${at}.websocket.maxMessageBytes`, message: 'must be at least 1b' });
  const allowedOrigins = raw.allowedOrigins !== undefined ? new Set(raw.allowedOrigins.map((o) => o.toLowerCase())) : undefined;
  return { idleTimeout, maxMessageBytes, allowedOrigins };
}
