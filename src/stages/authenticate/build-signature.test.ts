/**
 * Building `type: signature` authenticators and `upstreams.<name>.sign` from files: every problem
 * of a key file at its exact config path (table-driven), and the keys that are accepted.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigIssue } from '../../config/errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import { buildSigner } from '../../upstream/sign.ts';
import { buildSignature } from './build-signature.ts';

const ed = generateKeyPairSync('ed25519');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaSmall = generateKeyPairSync('rsa', { modulusLength: 1024 });
const pub = (k: typeof ed.publicKey, extra: Record<string, unknown>) => ({ ...k.export({ format: 'jwk' }), ...extra });

let dir: string;
const store = new MemoryStore();
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-sigbuild-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await store.close();
});

async function inbound(file: string, content: string, extra: Record<string, unknown> = {}): Promise<ConfigIssue[]> {
  await writeFile(path.join(dir, file), content);
  const issues: ConfigIssue[] = [];
  await buildSignature('p', { type: 'signature', keys: file, components: ['@method'], ...extra }, 'authenticators.p', '/authenticators/p', {
    baseDir: dir, envPaths: new Set(), issues, store,
  });
  return issues;
}

describe('type: signature key files', () => {
  const cases: { name: string; keys: unknown; expect: string | undefined; extra?: Record<string, unknown> }[] = [
    { name: 'an Ed25519 and an RSA-PSS public key', keys: [pub(ed.publicKey, { kid: 'a' }), pub(rsa.publicKey, { kid: 'b', alg: 'PS512' })], expect: undefined },
    { name: 'a private key', keys: [ed.privateKey.export({ format: 'jwk' })], expect: 'holds private or secret key material' },
    { name: 'an HMAC key in the file', keys: [{ kty: 'oct', k: 'AAAA', kid: 'h' }], expect: 'holds private or secret key material' },
    { name: 'a key without kid', keys: [pub(ed.publicKey, {})], expect: 'has no kid' },
    { name: 'the same kid twice', keys: [pub(ed.publicKey, { kid: 'a' }), pub(ed.publicKey, { kid: 'a' })], expect: 'kid a is listed twice' },
    { name: 'an RSA key without alg', keys: [pub(rsa.publicKey, { kid: 'r' })], expect: 'an RSA key needs "alg"' },
    { name: 'an RSA key of 1024 bits', keys: [pub(rsaSmall.publicKey, { kid: 'r', alg: 'RS256' })], expect: 'RSA key of 1024 bits' },
    { name: 'an alg that does not fit the key', keys: [pub(ed.publicKey, { kid: 'e', alg: 'ES256' })], expect: 'alg ecdsa-p256-sha256 does not fit' },
    { name: 'an encryption key', keys: [pub(ed.publicKey, { kid: 'e', use: 'enc' })], expect: 'has use "enc"' },
    { name: 'consumer member missing', keys: [pub(ed.publicKey, { kid: 'e' })], expect: 'has no string member "partner"', extra: { consumer: 'partner' } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const issues = await inbound('k.json', JSON.stringify({ keys: c.keys }), c.extra);
      if (c.expect === undefined) assert.deepEqual(issues, []);
      else {
        assert.equal(issues.length, 1, JSON.stringify(issues));
        assert.equal(issues[0]?.path, 'authenticators.p.keys');
        assert.match(issues[0]?.message ?? '', new RegExp(c.expect.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      }
    });
  }
  it('not JSON', async () => {
    const issues = await inbound('bad.json', '{ nope');
    assert.equal(issues[0]?.path, 'authenticators.p.keys');
    assert.match(issues[0]?.message ?? '', /not valid JSON/);
  });
  it('a component listed twice, at its index', async () => {
    const issues = await inbound('k2.json', JSON.stringify({ keys: [pub(ed.publicKey, { kid: 'a' })] }), { components: ['@method', '"@method"'] });
    assert.deepEqual(issues.map((i) => i.path), ['authenticators.p.components[1]']);
  });
});

describe('upstreams.<name>.sign', () => {
  async function outbound(file: string, content: string, extra: Record<string, unknown> = {}): Promise<ConfigIssue[]> {
    await writeFile(path.join(dir, file), content);
    const issues: ConfigIssue[] = [];
    await buildSigner({ key: file, keyid: 'gw', components: ['@method', '@path'], ...extra }, dir, 'upstreams.u.sign', issues);
    return issues;
  }
  const cases: { name: string; file: string; content: () => string; extra?: Record<string, unknown>; expect: { path: string; message: RegExp } | undefined }[] = [
    { name: 'a PKCS#8 Ed25519 key', file: 'ed.pem', content: () => ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, expect: undefined },
    { name: 'a private JWK (RSA, alg PS512)', file: 'rsa.json', content: () => JSON.stringify({ ...rsa.privateKey.export({ format: 'jwk' }), alg: 'PS512' }), expect: undefined },
    { name: 'an RSA PEM without alg', file: 'rsa.pem', content: () => rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, expect: { path: 'upstreams.u.sign.key', message: /an RSA key needs "alg"/ } },
    { name: 'a public key', file: 'pub.pem', content: () => ed.publicKey.export({ format: 'pem', type: 'spki' }) as string, expect: { path: 'upstreams.u.sign.key', message: /not a PEM private key/ } },
    { name: 'a public JWK', file: 'pub.json', content: () => JSON.stringify(ed.publicKey.export({ format: 'jwk' })), expect: { path: 'upstreams.u.sign.key', message: /not a private JWK/ } },
    { name: 'an alg that does not fit', file: 'ed2.pem', content: () => ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, extra: { alg: 'ecdsa-p256-sha256' }, expect: { path: 'upstreams.u.sign.key', message: /does not fit/ } },
    { name: '@status covered', file: 'ed3.pem', content: () => ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, extra: { components: ['@method', '@status'] }, expect: { path: 'upstreams.u.sign.components[1]', message: /cannot be covered/ } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const issues = await outbound(c.file, c.content(), c.extra);
      if (c.expect === undefined) assert.deepEqual(issues, []);
      else {
        assert.equal(issues.length, 1, JSON.stringify(issues));
        assert.equal(issues[0]?.path, c.expect.path);
        assert.match(issues[0]?.message ?? '', c.expect.message);
      }
    });
  }
  it('a key file that is not there', async () => {
    const issues: ConfigIssue[] = [];
    await buildSigner({ key: 'none.pem', keyid: 'gw', components: ['@method'] }, dir, 'upstreams.u.sign', issues);
    assert.deepEqual(issues.map((i) => [i.path, /ENOENT/.test(i.message)]), [['upstreams.u.sign.key', true]]);
  });
});
