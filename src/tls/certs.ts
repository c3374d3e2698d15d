/**
 * Certificate generation with @peculiar/x509 over WebCrypto: the self-signed development
 * certificate of `npm start`, and the CAs and leaf certificates the tests use.
 */
import { webcrypto } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 is typed against the DOM's WebCrypto types; Node's are the same objects.
type KeyPair = webcrypto.CryptoKeyPair;
type X509Keys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type X509Key = X509Keys['privateKey'];
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface PemPair {
  cert: string;
  key: string;
}

export interface Issuer {
  cert: x509.X509Certificate;
  keys: KeyPair;
  pem: string;
}

async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1');
}

function sanExtension(names: readonly string[]): x509.SubjectAlternativeNameExtension {
  return new x509.SubjectAlternativeNameExtension(
    names.map((n) => (/^[0-9.]+$|:/.test(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n })),
  );
}

/** A CA certificate that can sign leaf certificates (tests: mTLS, upstream TLS, SNI). */
export async function createCa(commonName = 'Portcullis Test CA'): Promise<Issuer> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86_400_000),
    keys: keys as unknown as X509Keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys, pem: cert.toString('pem') };
}

/** A leaf certificate for `names` (DNS names or IPs), signed by `issuer`. */
export async function createLeaf(
  issuer: Issuer,
  names: readonly string[],
  options: { commonName?: string; client?: boolean; days?: number } = {},
): Promise<PemPair> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${options.commonName ?? names[0] ?? 'leaf'}`,
    issuer: issuer.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (options.days ?? 90) * 86_400_000),
    signingKey: issuer.keys.privateKey as unknown as X509Key,
    publicKey: keys.publicKey as unknown as X509Key,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([options.client ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
      ...(names.length > 0 ? [sanExtension(names)] : []),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** A self-signed server certificate for `names`, valid for `days`. */
export async function createSelfSigned(names: readonly string[], days = 90): Promise<PemPair> {
  const keys = await keyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${names[0] ?? 'localhost'}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + days * 86_400_000),
    keys: keys as unknown as X509Keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      sanExtension(names),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/**
 * Writes a development certificate for localhost to `certFile`/`keyFile` unless both exist.
 * Returns true when it generated one. The key file is written with mode 0600.
 */
export async function ensureDevCertificate(certFile: string, keyFile: string): Promise<boolean> {
  try {
    await readFile(certFile);
    await readFile(keyFile);
    return false;
  } catch {
    // generate below
  }
  const pair = await createSelfSigned(['localhost', '127.0.0.1', '::1'], 30);
  await mkdir(path.dirname(certFile), { recursive: true });
  await mkdir(path.dirname(keyFile), { recursive: true });
  await writeFile(keyFile, pair.key, { mode: 0o600 });
  await writeFile(certFile, pair.cert);
  return true;
}
