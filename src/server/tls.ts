/**
 * TLS: certificates chosen by SNI, TLS 1.2+ with AEAD cipher suites only (no CBC, no RSA key
 * exchange: every TLS 1.2 suite below is ECDHE with GCM or ChaCha20-Poly1305).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import type { ConfigIssue } from '../config/errors.ts';

export const AEAD_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface CertificateEntry {
  context: tls.SecureContext;
  /** PEM chain and key: the first entry's are the server's own for clients that send no SNI. */
  cert: Buffer;
  key: Buffer;
  /** DNS names of the certificate (SAN, or CN when there is no SAN), lower-case. */
  names: string[];
  certFile: string;
}

/** Picks the certificate for a server name: exact SAN, then a matching `*.` SAN, then the default. */
export class SniTable {
  private readonly exact = new Map<string, tls.SecureContext>();
  private readonly wildcard = new Map<string, tls.SecureContext>();
  readonly defaultContext: tls.SecureContext;
  readonly defaultEntry: CertificateEntry;
  readonly entries: readonly CertificateEntry[];

  constructor(entries: readonly CertificateEntry[]) {
    this.entries = entries;
    this.defaultEntry = entries[0] as CertificateEntry;
    this.defaultContext = this.defaultEntry.context;
    for (const e of entries) {
      for (const name of e.names) {
        if (name.startsWith('*.')) {
          if (!this.wildcard.has(name.slice(2))) this.wildcard.set(name.slice(2), e.context);
        } else if (!this.exact.has(name)) {
          this.exact.set(name, e.context);
        }
      }
    }
  }

  lookup(servername: string): tls.SecureContext {
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact) return exact;
    // RFC 6125 §6.4.3: a wildcard stands for exactly one left-most label.
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(name.slice(dot + 1));
      if (wild) return wild;
    }
    return this.defaultContext;
  }
}

export async function loadCertificates(
  specs: readonly { cert: string; key: string }[],
  baseDir: string,
  minVersion: 'TLSv1.2' | 'TLSv1.3',
  issues: ConfigIssue[],
  pathPrefix: string,
  /** PEM CAs that verify client certificates (mTLS); every SNI context must carry them. */
  clientCa?: string,
): Promise<SniTable | undefined> {
  const entries: CertificateEntry[] = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i] as { cert: string; key: string };
    const at = `${pathPrefix}[${i}]`;
    const certFile = path.resolve(baseDir, spec.cert);
    const keyFile = path.resolve(baseDir, spec.key);
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = await readFile(certFile);
    } catch (err) {
      issues.push({ path: `${at}.cert`, message: `cannot read ${spec.cert}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      continue;
    }
    try {
      key = await readFile(keyFile);
    } catch (err) {
      issues.push({ path: `${at}.key`, message: `cannot read ${spec.key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      continue;
    }
    let names: string[];
    try {
      names = certificateNames(new X509Certificate(cert));
    } catch (err) {
      issues.push({ path: `${at}.cert`, message: `not a PEM certificate: ${(err as Error).message}` });
      continue;
    }
    try {
      const context = tls.createSecureContext({
        cert,
        key,
        minVersion,
        ciphers: AEAD_CIPHERS,
        honorCipherOrder: true,
        ...(clientCa !== undefined ? { ca: clientCa } : {}),
      });
      entries.push({ context, names, certFile, cert, key });
    } catch (err) {
      issues.push({ path: at, message: `certificate and key do not work together: ${(err as Error).message}` });
    }
  }
  return entries.length === specs.length && entries.length > 0 ? new SniTable(entries) : undefined;
}

function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  if (cert.subjectAltName) {
    for (const part of cert.subjectAltName.split(',')) {
      const item = part.trim();
      if (item.startsWith('DNS:')) names.push(item.slice(4).toLowerCase());
    }
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
    if (cn) names.push(cn.toLowerCase());
  }
  return names;
}
