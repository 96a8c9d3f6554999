import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningKey } from '../../src/keys/keyring.js';
import { signProof } from '../../src/lookups/proof.js';

function testKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    kid: randomUUID(),
    privateKey,
    privatePem: '',
    publicKey,
    publicPem: '',
    publicJwk: { ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'EdDSA', use: 'sig' },
    createdAt: new Date(),
    retiredAt: null,
  };
}

const claims = {
  lookupId: randomUUID(),
  type: 'household-registration',
  provider: 'public-security',
  subject: { kind: 'person', id: '110105********002X' },
  purpose: 'housing-fund-withdrawal',
  caseId: 'HF-2026-000001',
  fetchedAt: '2026-12-01T01:02:03.456Z',
  digest: 'q0bKzSgXWVm3ZN5r1ZF3n6Rz3kXWnzLJjR3Hk9M8Cj0',
};

describe('proof signing with node:crypto', () => {
  it('writes byte for byte the compact JWS jose writes for the same header and payload', async () => {
    const key = testKey();
    const proof = signProof(key, 'http://gateway.test', claims);
    const [header, payload] = proof.split('.');
    const joseProof = await new CompactSign(Buffer.from(payload!, 'base64url'))
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'onetrip-proof+jws' })
      .sign(key.privateKey);
    expect(proof).toBe(joseProof);
    expect(Buffer.from(header!, 'base64url').toString()).toBe(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ: 'onetrip-proof+jws' }));
  });

  it('verifies with a third-party JOSE verifier, and not with another key', async () => {
    const key = testKey();
    const proof = signProof(key, 'http://gateway.test', { ...claims, subject: { kind: 'person', id: '张三 ✓ 110105' } });
    const { payload, protectedHeader } = await compactVerify(proof, key.publicKey, { algorithms: ['EdDSA'] });
    expect(protectedHeader).toEqual(decodeProtectedHeader(proof));
    expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({
      ...claims,
      subject: { kind: 'person', id: '张三 ✓ 110105' },
      iss: 'http://gateway.test',
    });
    await expect(compactVerify(proof, testKey().publicKey)).rejects.toThrow();
  });
});
