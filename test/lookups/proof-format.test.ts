import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningKey } from '../../src/keys/keyring.js';
import { signProof, signWhileCommitting } from '../../src/lookups/proof.js';

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

describe('signing while the audit event commits', () => {
  it('hands the proof back only once the commit has settled', async () => {
    const key = testKey();
    let commit!: () => void;
    const committed = new Promise<void>((resolve) => (commit = resolve));
    let settled = false;
    const proof = signWhileCommitting(committed, key, 'http://gateway.test', claims).then((p) => {
      settled = true;
      return p;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    commit();
    const { payload } = await compactVerify(await proof, key.publicKey);
    expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toMatchObject({ ...claims, iss: 'http://gateway.test' });
  });

  it('releases nothing when the commit fails', async () => {
    const key = testKey();
    const failure = new Error('audit unavailable');
    await expect(signWhileCommitting(Promise.reject(failure), key, 'http://gateway.test', claims)).rejects.toBe(failure);
  });

  it('a signing failure waits for the commit and is the error raised, with no rejection left unhandled', async () => {
    const broken = { ...testKey(), privateKey: generateKeyPairSync('x25519').privateKey };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let settledCommit = false;
      const committed = new Promise<void>((_, reject) =>
        setTimeout(() => {
          settledCommit = true;
          reject(new Error('commit failed too'));
        }, 10),
      );
      const raised = await signWhileCommitting(committed, broken, 'http://gateway.test', claims).then(
        () => null,
        (err: unknown) => err,
      );
      expect(raised).toBeInstanceOf(Error);
      expect((raised as Error).message).not.toBe('commit failed too');
      expect(settledCommit).toBe(true);
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
