/** `server.admin`: the admin listener (src/admin/admin-server.ts). */
import { Type, type Static, type TProperties } from '@sinclair/typebox';

const Strict = <T extends TProperties>(props: T, description?: string) =>
  Type.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

export const AdminSchema = Strict(
  {
    host: Type.Optional(
      Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address of the admin listener; loopback unless you mean otherwise (a non-loopback address is logged as a warning).' }),
    ),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 9901, description: 'Port of the admin listener (0: any free port).' })),
    token: Type.String({
      minLength: 1,
      description: 'Bearer token for every admin endpoint except /healthz and /readyz; must come from an environment variable (${NAME}), at least 24 characters.',
    }),
  },
  'The admin API: health, readiness, metrics, config, routes, upstreams, bans, explain, reload.',
);

export type RawAdmin = Static<typeof AdminSchema>;
