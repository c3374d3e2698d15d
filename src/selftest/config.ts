/**
 * The self-test's copy of a config: the same routes and policies, but every upstream target is the
 * local recording upstream, listeners bind 127.0.0.1:0, no admin listener, an in-memory store (a
 * production Redis is never touched), no span export, no log output. See docs/selftest.md.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import type { RawConfig } from '../config/schema.ts';

export interface SelftestConfigOptions {
  /** Keep rate limits and brute-force bans (the rate-limit checks); else both are removed so that
   * the many refused probes of the other checks are not answered 429 instead. */
  keepRateLimits: boolean;
}

export interface SelftestConfig {
  loaded: LoadedConfig;
  /** The https listener is kept (its certificate files exist). */
  https: boolean;
  /** What was changed, for the report. */
  notes: string[];
}

type Mutable = Record<string, unknown>;

export function selftestConfig(loaded: LoadedConfig, recorderUrl: string, options: SelftestConfigOptions): SelftestConfig {
  const raw = structuredClone(loaded.raw) as RawConfig;
  const notes: string[] = [];
  const server = raw.server as Mutable & RawConfig['server'];
  delete server.admin;
  delete server.workers;
  let https = false;
  if (raw.server.https) {
    const certs = raw.server.https.certificates;
    const present = certs.every((c) => existsSync(path.resolve(loaded.baseDir, c.cert)) && existsSync(path.resolve(loaded.baseDir, c.key)));
    if (present) {
      https = true;
      const h = raw.server.https as Mutable;
      h.host = '127.0.0.1';
      h.port = 0;
      // A required client certificate would refuse every probe at the handshake; routes with an
      // mtls authenticator still need one (checked by the mtls probe).
      const cc = h.clientCertificates as Mutable | undefined;
      if (cc !== undefined && cc.mode === 'required') {
        cc.mode = 'optional';
        notes.push('server.https.clientCertificates.mode required → optional (probes carry no client certificate)');
      }
      delete server.http;
    } else {
      delete server.https;
      notes.push('server.https dropped: its certificate files are missing; probes use plain HTTP');
    }
  }
  if (!https) server.http = { host: '127.0.0.1', port: 0, redirectToHttps: false };
  raw.store = { type: 'memory' };
  raw.logging = { level: 'silent', accessLog: 'off' };
  delete (raw as Mutable).metrics;
  delete (raw as Mutable).tracing;
  const downgraded: string[] = [];
  for (const [name, u] of Object.entries(raw.upstreams)) {
    const m = u as Mutable;
    if (m.tls !== undefined || (m.protocol !== undefined && m.protocol !== 'h1')) downgraded.push(name);
    m.targets = [recorderUrl];
    delete m.healthCheck;
    delete m.tls;
    if (m.protocol !== undefined) m.protocol = 'h1';
    delete m.balance;
    delete m.hashOn;
  }
  notes.push(`every upstream target → ${recorderUrl} (health checks off)`);
  if (downgraded.length > 0) notes.push(`upstream tls / protocol dropped (the recorder speaks plain HTTP/1.1): ${downgraded.join(', ')}`);
  if (loaded.raw.store?.type === 'redis') notes.push('store: redis replaced by memory (the self-test never touches a shared store)');
  const defaults = raw.defaults as Mutable | undefined;
  if (!options.keepRateLimits) {
    if (defaults) {
      delete defaults.rateLimit;
    }
    for (const r of raw.routes) delete (r as Mutable).rateLimit;
  }
  if (defaults) delete defaults.bruteForce;
  return { loaded: { ...loaded, raw }, https, notes };
}
