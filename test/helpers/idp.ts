/**
 * A local identity provider for tests: JWKS, OIDC discovery and RFC 7662 introspection on a real
 * HTTP server on port 0, with signing keys for every algorithm family, key rotation, an outage
 * switch and per-path request counts.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(alg: string, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export interface SignOptions {
  header?: Record<string, unknown>;
  expiresIn?: number | string;
  /** Omit exp entirely. */
  noExp?: boolean;
  /** Extension header parameters the signer must accept in `crit`. */
  crit?: Record<string, boolean>;
}

export async function sign(key: SigningKey, claims: JWTPayload, options: SignOptions = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header });
  if (claims.iat === undefined) jwt = jwt.setIssuedAt();
  if (!options.noExp && claims.exp === undefined) jwt = jwt.setExpirationTime(options.expiresIn ?? '5m');
  return jwt.sign(key.privateKey, options.crit ? { crit: options.crit } : undefined);
}

export interface Introspected {
  [token: string]: Record<string, unknown>;
}

export interface TestIdp {
  url: string;
  issuer: string;
  port: number;
  keys: SigningKey[];
  /** Requests per path. */
  hits: Map<string, number>;
  /** 'up' | 'down' (500) | 'hang' (never answers) | 'garbage' (invalid JSON) */
  mode: 'up' | 'down' | 'hang' | 'garbage';
  introspection: Introspected;
  /** Basic credentials the introspection endpoint accepts. */
  client: { id: string; secret: string };
  /** Last introspection request seen: its Authorization header and body. */
  lastIntrospection: { authorization: string | undefined; body: string } | undefined;
  /** Delay before answering, ms. */
  delayMs: number;
  setKeys(keys: SigningKey[]): void;
  close(): Promise<void>;
}

export async function startIdp(keys: SigningKey[]): Promise<TestIdp> {
  const state = {
    keys,
    hits: new Map<string, number>(),
    mode: 'up' as TestIdp['mode'],
    introspection: {} as Introspected,
    client: { id: 'gateway', secret: 'gateway-secret' },
    lastIntrospection: undefined as TestIdp['lastIntrospection'],
    delayMs: 0,
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] as string;
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    let body = '';
    req.on('data', (c) => (body += String(c)));
    req.on('end', () => {
      if (state.mode === 'hang') return;
      const answer = (): void => {
        if (state.mode === 'down') {
          res.writeHead(500).end('down');
          return;
        }
        if (state.mode === 'garbage') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{not json');
          return;
        }
        const json = (status: number, doc: unknown): void => {
          const text = JSON.stringify(doc);
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
        };
        if (path === '/jwks') return json(200, { keys: state.keys.map((k) => k.jwk) });
        if (path === '/.well-known/openid-configuration') return json(200, { issuer: idp.issuer, jwks_uri: `${idp.url}/jwks` });
        if (path === '/big-jwks') return json(200, { keys: [], pad: 'x'.repeat(2 * 1024 * 1024) });
        if (path === '/introspect') {
          state.lastIntrospection = { authorization: req.headers.authorization, body };
          const expected = 'Basic ' + Buffer.from(`${state.client.id}:${state.client.secret}`).toString('base64');
          const params = new URLSearchParams(body);
          const postAuth = params.get('client_id') === state.client.id && params.get('client_secret') === state.client.secret;
          if (req.headers.authorization !== expected && !postAuth) return json(401, { error: 'invalid_client' });
          const token = params.get('token') ?? '';
          return json(200, state.introspection[token] ?? { active: false });
        }
        res.writeHead(404).end();
      };
      if (state.delayMs > 0) setTimeout(answer, state.delayMs).unref();
      else answer();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const idp: TestIdp = {
    url: `http://127.0.0.1:${port}`,
    issuer: `http://127.0.0.1:${port}/`,
    port,
    get keys() {
      return state.keys;
    },
    hits: state.hits,
    get mode() {
      return state.mode;
    },
    set mode(m) {
      state.mode = m;
    },
    introspection: state.introspection,
    client: state.client,
    get lastIntrospection() {
      return state.lastIntrospection;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms) {
      state.delayMs = ms;
    },
    setKeys(k) {
      state.keys = k;
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
  return idp;
}
