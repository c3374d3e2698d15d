/**
 * Known-answer tests of RFC 9421 Appendix B (every B.2 example verified with its B.1 key, and the
 * same signature base produced byte for byte), RFC 9530 Content-Digest values, and the RFC 8941
 * parser / serialiser the signature base rests on.
 */
import assert from 'node:assert/strict';
import { createPublicKey, createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { algorithmOfJwk, algorithmOfKeyObject, createSignature, publicKeyOfJwk, verifySignature } from './algorithms.ts';
import { signatureBase, type MessageView } from './base.ts';
import { checkContentDigest, contentDigest } from './digest.ts';
import { signMessage } from './sign.ts';
import { isInnerList, parseDictionary, parseItem, serializeDictionary, serializeInnerList, SfError } from './structured.ts';
import { verifyMessageSignature, type VerifyKey } from './verify.ts';
import * as rfc from '../../../test/fixtures/http-signatures/rfc9421.ts';

function view(m: { method?: string; scheme?: string; authority?: string; path?: string; query?: string; status?: number; headers: [string, string][] }): MessageView {
  return {
    method: m.method,
    scheme: m.scheme,
    authority: m.authority,
    path: m.path,
    query: m.query,
    status: m.status,
    field: (name) => {
      const lines = m.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
      return lines.length > 0 ? lines : undefined;
    },
  };
}

const REQUEST = view(rfc.TEST_REQUEST);
const RESPONSE = view(rfc.TEST_RESPONSE);

/** The B.1 verification keys, through JWK (the way the gateway's key files hold them). */
function publicKey(keyid: rfc.Rfc9421Example['keyid']): VerifyKey {
  if (keyid === 'test-shared-secret') return { alg: 'hmac-sha256', key: createSecretKey(Buffer.from(rfc.TEST_SHARED_SECRET, 'base64')) };
  const pem = { 'test-key-rsa-pss': rfc.TEST_KEY_RSA_PSS_PUBLIC, 'test-key-ecc-p256': rfc.TEST_KEY_ECC_P256_PUBLIC, 'test-key-ed25519': rfc.TEST_KEY_ED25519_PUBLIC }[keyid];
  const jwk = { ...createPublicKey(pem).export({ format: 'jwk' }), ...(keyid === 'test-key-rsa-pss' ? { alg: 'PS512' } : {}) };
  const alg = algorithmOfJwk(jwk);
  return { alg, key: publicKeyOfJwk(jwk, alg) };
}

const innerListOf = (signatureInput: string) => {
  const member = [...parseDictionary(signatureInput).values()][0];
  assert.ok(member && isInnerList(member));
  return member;
};

describe('RFC 9421 Appendix B known answers', () => {
  for (const ex of rfc.EXAMPLES) {
    it(`${ex.section}: the signature base, byte for byte`, () => {
      assert.equal(signatureBase(innerListOf(ex.signatureInput), ex.message === 'request' ? REQUEST : RESPONSE), ex.base);
    });
    it(`${ex.section}: the signature verifies with the B.1 key`, () => {
      const key = publicKey(ex.keyid);
      assert.equal(key.alg, ex.alg);
      const sig = [...parseDictionary(ex.signature).values()][0];
      assert.ok(sig && !isInnerList(sig) && sig.value instanceof Uint8Array);
      assert.equal(verifySignature(key.alg, key.key, Buffer.from(ex.base), sig.value), true);
      // one bit of the base changed: no longer verifies
      assert.equal(verifySignature(key.alg, key.key, Buffer.from(`${ex.base} `), sig.value), false);
    });
    if (ex.message === 'request') {
      it(`${ex.section}: the whole verifier accepts it (at the time it was made)`, () => {
        const r = verifyMessageSignature(ex.signatureInput, ex.signature, REQUEST, {
          required: [], label: undefined, maxAgeSec: 300, toleranceSec: 0, nonce: 'optional',
        }, (kid) => (kid === ex.keyid ? publicKey(ex.keyid) : undefined), 1618884473 + 10);
        assert.equal(r.ok, true, r.ok ? '' : r.reason);
      });
    }
  }

  it('B.2.5 and B.2.6 are deterministic: signing the request again gives the published signature', () => {
    const b25 = rfc.EXAMPLES.find((e) => e.keyid === 'test-shared-secret') as rfc.Rfc9421Example;
    const b26 = rfc.EXAMPLES.find((e) => e.keyid === 'test-key-ed25519') as rfc.Rfc9421Example;
    const items = (e: rfc.Rfc9421Example) => innerListOf(e.signatureInput).items;
    const hmac = signMessage(REQUEST, { label: 'sig-b25', keyid: 'test-shared-secret', alg: 'hmac-sha256', key: createSecretKey(Buffer.from(rfc.TEST_SHARED_SECRET, 'base64')), components: items(b25), created: 1618884473 });
    assert.equal(hmac.signatureInput, b25.signatureInput);
    assert.equal(hmac.signature, b25.signature);
    const ed = signMessage(REQUEST, { label: 'sig-b26', keyid: 'test-key-ed25519', alg: 'ed25519', key: createPrivateKey(rfc.TEST_KEY_ED25519_PRIVATE), components: items(b26), created: 1618884473 });
    assert.equal(ed.signatureInput, b26.signatureInput);
    assert.equal(ed.signature, b26.signature);
  });

  it('B.1.1 test-key-rsa (rsa-v1_5-sha256) and the other private keys sign what the public ones verify', () => {
    const cases: [string, string, string | undefined][] = [
      [rfc.TEST_KEY_RSA_PRIVATE, rfc.TEST_KEY_RSA_PUBLIC, 'rsa-v1_5-sha256'],
      [rfc.TEST_KEY_RSA_PSS_PRIVATE, rfc.TEST_KEY_RSA_PSS_PUBLIC, undefined],
      [rfc.TEST_KEY_ECC_P256_PRIVATE, rfc.TEST_KEY_ECC_P256_PUBLIC, undefined],
      [rfc.TEST_KEY_ED25519_PRIVATE, rfc.TEST_KEY_ED25519_PUBLIC, undefined],
    ];
    for (const [priv, pub, alg] of cases) {
      const privateKey: KeyObject = createPrivateKey(priv);
      const a = algorithmOfKeyObject(privateKey, alg as never);
      const data = Buffer.from(rfc.EXAMPLES[2]?.base ?? '');
      const sig = createSignature(a, privateKey, data);
      assert.equal(verifySignature(a, createPublicKey(pub), data, sig), true, a);
    }
  });
});

describe('RFC 9530 Content-Digest', () => {
  it('the B.2 request and response digests are sha-512 of their bodies', () => {
    const req = rfc.TEST_REQUEST.headers.find(([k]) => k === 'Content-Digest')?.[1] as string;
    const res = rfc.TEST_RESPONSE.headers.find(([k]) => k === 'Content-Digest')?.[1] as string;
    assert.equal(contentDigest(Buffer.from(rfc.TEST_REQUEST.body), 'sha-512'), req);
    assert.equal(contentDigest(Buffer.from(rfc.TEST_RESPONSE.body), 'sha-512'), res);
    assert.equal(checkContentDigest(req, Buffer.from(rfc.TEST_REQUEST.body)), undefined);
  });
  it('RFC 9530 §B.1: sha-256 of {"hello": "world"}', () => {
    assert.equal(contentDigest(Buffer.from('{"hello": "world"}')), 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
  });
  const table: { name: string; field: string; ok: boolean }[] = [
    { name: 'sha-256 and sha-512 both right', field: `${contentDigest(Buffer.from('abc'))}, ${contentDigest(Buffer.from('abc'), 'sha-512')}`, ok: true },
    { name: 'an unknown algorithm next to a right one is ignored', field: `md5=:kAFQmDzST7DWlj99KOF/cg==:, ${contentDigest(Buffer.from('abc'))}`, ok: true },
    { name: 'one right, one wrong', field: `${contentDigest(Buffer.from('abc'))}, ${contentDigest(Buffer.from('abd'), 'sha-512')}`, ok: false },
    { name: 'only unknown algorithms', field: 'md5=:kAFQmDzST7DWlj99KOF/cg==:', ok: false },
    { name: 'not a byte sequence', field: 'sha-256="abc"', ok: false },
    { name: 'not a dictionary', field: 'sha-256=:abc', ok: false },
  ];
  for (const t of table) {
    it(t.name, () => assert.equal(checkContentDigest(t.field, Buffer.from('abc')) === undefined, t.ok));
  }
});

describe('RFC 8941 structured fields', () => {
  it('parses and re-serialises dictionaries and inner lists', () => {
    const d = parseDictionary('a=1, b="x\\"y";p=?0, c=(1 2 "three" tok);q=:AQID:, d, e=-1.5');
    assert.equal(serializeDictionary(d), 'a=1, b="x\\"y";p=?0, c=(1 2 "three" tok);q=:AQID:, d, e=-1.5');
    assert.equal(serializeInnerList(innerListOf('x=("@a" "b";key="c");created=1')), '("@a" "b";key="c");created=1');
    assert.deepEqual(parseItem('"@query-param";name="Pet"').params.get('name'), 'Pet');
  });
  const bad = ['a=', 'a=1,', 'A=1', 'a=(1', 'a="unterminated', 'a=:not base64:', 'a=1234567890123456', 'a=1.2345', 'a=?2', 'a=1 b=2', 'a="\u00e9"'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.throws(() => parseDictionary(text), SfError));
  }
});

describe('the verifier refuses malformed or unsafe signatures (clock frozen at B.2 created + 10s)', () => {
  const ed = (): VerifyKey => publicKey('test-key-ed25519');
  const edPriv = createPrivateKey(rfc.TEST_KEY_ED25519_PRIVATE);
  const policy = { required: [], label: undefined, maxAgeSec: 300, toleranceSec: 0, nonce: 'optional' as const };
  const NOW = 1618884473 + 10;
  /** Signs `input` (a Signature-Input member value) over the B.2 request as given, however odd. */
  const signRaw = (input: string): [string, string] => {
    let base: string;
    try {
      base = signatureBase(innerListOf(`s=${input}`), REQUEST);
    } catch {
      base = 'unbuildable';
    }
    const sig = createSignature('ed25519', edPriv, Buffer.from(base));
    return [`s=${input}`, `s=:${sig.toString('base64')}:`];
  };
  const table: { name: string; input: string; reason: RegExp }[] = [
    { name: 'a component listed twice', input: '("@method" "@method");created=1618884473;keyid="test-key-ed25519"', reason: /listed twice/ },
    { name: '@signature-params covered', input: '("@signature-params");created=1618884473;keyid="test-key-ed25519"', reason: /cannot be a covered component/ },
    { name: 'an unsupported field parameter (;req)', input: '("date";req);created=1618884473;keyid="test-key-ed25519"', reason: /;req .* not supported/ },
    { name: 'an unknown derived component', input: '("@fragment");created=1618884473;keyid="test-key-ed25519"', reason: /not supported/ },
    { name: 'a field the request does not have', input: '("x-missing");created=1618884473;keyid="test-key-ed25519"', reason: /not in the message/ },
    { name: 'an upper-case field name', input: '("Date");created=1618884473;keyid="test-key-ed25519"', reason: /not lower-case/ },
    { name: 'created as a string', input: '("date");created="1618884473";keyid="test-key-ed25519"', reason: /created is missing or not an integer/ },
    { name: 'no created', input: '("date");keyid="test-key-ed25519"', reason: /created is missing/ },
    { name: 'keyid as a token', input: '("date");created=1618884473;keyid=test', reason: /keyid is missing or not a string/ },
    { name: 'expires before created', input: '("date");created=1618884473;expires=1618884470;keyid="test-key-ed25519"', reason: /expired|before created/ },
  ];
  for (const t of table) {
    it(t.name, () => {
      const [input, sig] = signRaw(t.input);
      const r = verifyMessageSignature(input, sig, REQUEST, policy, (k) => (k === 'test-key-ed25519' ? ed() : undefined), NOW);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, t.reason);
    });
  }
  it('at most 8 signatures are looked at', () => {
    const input = Array.from({ length: 9 }, (_, i) => `s${i}=();created=1618884473;keyid="test-key-ed25519"`).join(', ');
    const r = verifyMessageSignature(input, 's0=:AAAA:', REQUEST, policy, () => ed(), NOW);
    assert.match(r.ok ? '' : r.reason, /9 signatures/);
  });
  it('@query-param of a name given twice is refused (RFC 9421 §2.2.8)', () => {
    const twice = { ...REQUEST, query: 'a=1&a=2' };
    assert.throws(() => signatureBase(innerListOf('s=("@query-param";name="a")'), twice), /more than once/);
    assert.equal(signatureBase(innerListOf('s=("@query-param";name="b")'), { ...REQUEST, query: 'b=x+y%2Fz' }).split('\n')[0], '"@query-param";name="b": x%20y%2Fz');
  });
});

describe('the outbound signer', () => {
  it('refuses a streamed body when content-digest is covered', async () => {
    const { RequestSigner, SignError } = await import('../../upstream/sign.ts');
    const signer = new RequestSigner({ key: createPrivateKey(rfc.TEST_KEY_ED25519_PRIVATE), keyid: 'k', alg: 'ed25519', components: [parseItem('"content-digest"')] });
    assert.throws(() => signer.sign('POST', 'http://b.internal:8080', '/x', [], (async function* () {})()), SignError);
    const headers = signer.sign('POST', 'http://b.internal:8080', '/x', ['Content-Digest', 'sha-256=:AAAA:'], Buffer.from('hi'));
    assert.deepEqual(headers.filter((_, i) => i % 2 === 0), ['content-digest', 'signature-input', 'signature']);
    assert.equal(headers[1], contentDigest(Buffer.from('hi')));
  });
});
