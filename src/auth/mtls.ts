/**
 * mTLS authenticator: the identity is the client certificate that the TLS layer verified against
 * server.https.clientCertificates.ca. Allowed subjects (`CN=billing-service`, matched against the
 * subject's attributes) and SANs (`DNS:x`, `URI:spiffe://...`, `email:...`) are listed in config.
 */
import type { TLSSocket } from 'node:tls';
import { ABSENT, invalid, type AuthInput, type AuthResult, type Authenticator } from './authenticator.ts';

export interface MtlsOptions {
  name: string;
  /** Each entry a set of `KEY=value` attributes that must all be in the certificate's subject. */
  subjects: string[];
  /** SAN entries in OpenSSL's form: `DNS:host`, `URI:spiffe://x`, `email:a@b`, `IP Address:1.2.3.4`. */
  sans: string[];
}

export class MtlsAuthenticator implements Authenticator {
  readonly name: string;
  readonly type = 'mtls' as const;
  readonly scheme = 'mTLS' as const;
  private readonly subjects: [string, string][][];
  private readonly sans: ReadonlySet<string>;

  constructor(options: MtlsOptions) {
    this.name = options.name;
    this.subjects = options.subjects.map(parseDn);
    this.sans = new Set(options.sans);
  }

  readonly stats: Readonly<Record<string, number>> = {};

  authenticate(input: AuthInput): AuthResult {
    const socket = input.socket as Partial<TLSSocket> | undefined;
    if (!socket || typeof socket.getPeerCertificate !== 'function') return ABSENT;
    const cert = socket.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return ABSENT;
    if (socket.authorized !== true) return invalid(`client certificate not verified: ${String(socket.authorizationError ?? 'unknown')}`);
    const subject = cert.subject as unknown as Record<string, string | string[]>;
    const sans = (cert.subjectaltname ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const subjectOk = this.subjects.some((attrs) => attrs.every(([k, v]) => {
      const have = subject[k];
      return Array.isArray(have) ? have.includes(v) : have === v;
    }));
    const sanOk = sans.some((s) => this.sans.has(s));
    if (!subjectOk && !sanOk) return invalid(`client certificate ${JSON.stringify(subject.CN ?? '')} is not allowed`);
    const cn = Array.isArray(subject.CN) ? subject.CN[0] : subject.CN;
    return {
      outcome: 'ok',
      identity: {
        authenticator: this.name,
        type: 'mtls',
        subject: cn,
        consumerId: cn,
        scopes: new Set(),
        roles: new Set(),
        groups: new Set(),
        claims: { subject, sans, serial: cert.serialNumber, fingerprint256: cert.fingerprint256 },
        expiresAt: Date.parse(cert.valid_to),
      },
    };
  }
}

/** `CN=billing-service, O=Acme` → [['CN','billing-service'],['O','Acme']] */
export function parseDn(dn: string): [string, string][] {
  return dn.split(/,(?=\s*[A-Za-z.0-9]+=)/).map((part) => {
    const eq = part.indexOf('=');
    return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as [string, string];
  });
}
