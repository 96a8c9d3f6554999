/**
 * Proofs checked the way a consumer without jose would: node:crypto's Ed25519 over the compact
 * JWS signing input, and an RFC 8785 digest recomputed with the `canonicalize` package.
 */
import { createHash, createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import canonicalize from 'canonicalize';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import { KeyRing } from '../../src/keys/keyring.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { startTestGateway, type TestGateway } from '../helpers/app.js';
import { post } from './consumer.js';

interface Jwks {
  keys: Array<JsonWebKey & { kid: string }>;
}

const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** Verifies a compact JWS with node:crypto and returns its header and payload; throws when it does not verify. */
function verifyProof(jws: string, jwks: Jwks): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p, s, ...rest] = jws.split('.');
  if (!h || !p || !s || rest.length > 0) throw new Error('not a compact JWS');
  const header = decode(h);
  if (header.alg !== 'EdDSA') throw new Error(`unexpected alg ${header.alg}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) throw new Error(`kid ${header.kid} is not in the JWKS`);
  const { kid: _kid, alg: _alg, use: _use, ...keyJwk } = jwk as JsonWebKey & { kid: string; alg?: string; use?: string };
  const key = createPublicKey({ key: keyJwk, format: 'jwk' });
  if (!verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) throw new Error('bad signature');
  return { header, payload: decode(p) };
}

const jcsDigest = (value: unknown) =>
  createHash('sha256')
    .update(canonicalize(value) ?? 'null')
    .digest('base64url');

describe.each(DATABASE_KINDS)('proofs and key rotation on %s', (kind) => {
  let gw: TestGateway;
  let token: string;
  let person: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
    token = await gw.token('housing-fund-window');
    person = gw.subjects.find(
      (s) => s.kind === 'person' && ['household-registration', 'marriage-registration'].every((t) => s.holds.includes(t)),
    )!.id;
  });
  afterAll(async () => gw?.close());

  const jwks = async (): Promise<Jwks> => (await gw.app.inject({ url: '/.well-known/jwks.json' })).json();
  const subject = () => ({ kind: 'person', id: person });
  const lookup = (caseId = 'HF-P-1') =>
    post(gw, '/v1/lookups', token, { type: 'household-registration', subject: subject(), purpose: 'housing-fund-withdrawal', caseId });

  it('signs lookup proofs that verify without jose and bind the record digest', async () => {
    const body = (await lookup()).json();
    const { header, payload } = verifyProof(body.proof, await jwks());
    expect(header.typ).toBe('onetrip-proof+jws');
    expect(payload).toMatchObject({
      lookupId: body.lookupId,
      type: 'household-registration',
      provider: 'public-security',
      subject: body.subject,
      purpose: 'housing-fund-withdrawal',
      caseId: 'HF-P-1',
      fetchedAt: body.fetchedAt,
      iss: gw.app.config.publicUrl,
    });
    expect(payload.digest).toBe(jcsDigest(body.record));
    // Key order does not matter to the digest; a changed value does.
    const reversed = Object.fromEntries(Object.entries(body.record).reverse());
    expect(jcsDigest(reversed)).toBe(payload.digest);
    expect(jcsDigest({ ...body.record, name: 'someone else' })).not.toBe(payload.digest);

    const [h, , s] = body.proof.split('.');
    const forged = Buffer.from(JSON.stringify({ ...payload, caseId: 'HF-P-2' })).toString('base64url');
    const keys = await jwks();
    expect(() => verifyProof(`${h}.${forged}.${s}`, keys)).toThrow('bad signature');
  });

  it('signs batch items, case materials and verifications the same way', async () => {
    const keys = await jwks();
    const batch = await post(gw, '/v1/lookups/batch', token, {
      subject: subject(),
      purpose: 'housing-fund-withdrawal',
      caseId: 'HF-P-B',
      items: [{ type: 'household-registration', fields: ['name'] }, { type: 'marriage-registration' }],
    });
    for (const r of batch.json().results) {
      const { payload } = verifyProof(r.proof, keys);
      expect(payload).toMatchObject({ lookupId: r.lookupId, type: r.type, caseId: 'HF-P-B', digest: jcsDigest(r.record) });
    }

    const kase = await post(gw, '/v1/cases', token, { procedure: 'housing-fund-withdrawal', applicant: subject(), caseId: 'HF-P-C' });
    const fetched = kase.json().materials.filter((m: { status: string }) => m.status === 'fetched');
    expect(fetched.length).toBeGreaterThanOrEqual(2);
    for (const m of fetched) {
      const { payload } = verifyProof(m.proof, keys);
      expect(payload).toMatchObject({
        lookupId: m.lookupId,
        type: m.type,
        purpose: 'housing-fund-withdrawal',
        digest: jcsDigest(m.record),
      });
    }

    const claim = { field: 'status', op: 'eq', value: 'married' };
    const verification = (
      await post(gw, '/v1/verifications', token, {
        type: 'marriage-registration',
        subject: subject(),
        purpose: 'housing-fund-withdrawal',
        caseId: 'HF-P-V',
        claim,
      })
    ).json();
    const { payload } = verifyProof(verification.proof, keys);
    expect(payload.digest).toBe(jcsDigest({ claim, result: verification.result }));
    expect(payload).toMatchObject({ lookupId: verification.lookupId, fetchedAt: verification.verifiedAt });
  });

  it('keeps proofs signed before `keys rotate` verifiable, on this replica and on another', async () => {
    const before = (await lookup('HF-P-R1')).json();
    const oldKid = verifyProof(before.proof, await jwks()).header.kid;

    const out: string[] = [];
    const code = await runCli(['keys', 'rotate'], { config: gw.app.config, out: (l) => out.push(l), database: gw.db });
    expect(code).toBe(0);
    const newKid = /new signing key (\S+);/.exec(out.join('\n'))?.[1];
    expect(newKid).toBeDefined();
    expect(newKid).not.toBe(oldKid);

    // Another replica loading the keys now publishes both, the new one current.
    const replica = new KeyRing(gw.app.db);
    await replica.load();
    expect(replica.current.kid).toBe(newKid);
    expect(replica.jwks().keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(verifyProof(before.proof, replica.jwks() as Jwks).payload.lookupId).toBe(before.lookupId);

    // A token the other replica signs with the new key is accepted here before the periodic reload.
    const fresh = await new SignJWT({ dept: 'housing-fund', roles: ['consumer'] })
      .setProtectedHeader({ alg: 'EdDSA', kid: replica.current.kid })
      .setIssuer(gw.app.config.publicUrl)
      .setAudience('onetrip')
      .setSubject('housing-fund-window')
      .setJti('rotated-1')
      .setExpirationTime('60s')
      .sign(replica.current.privateKey);
    const accepted = await gw.app.inject({ url: '/v1/procedures', headers: { authorization: `Bearer ${fresh}` } });
    expect(accepted.statusCode).toBe(200);

    // This replica now signs with the new key; the old proof still verifies against its JWKS.
    await gw.app.keyring.load();
    const after = (await lookup('HF-P-R2')).json();
    const keys = await jwks();
    expect(verifyProof(after.proof, keys).header.kid).toBe(newKid);
    expect(verifyProof(before.proof, keys).header.kid).toBe(oldKid);
    // Tokens issued before the rotation keep working until they expire.
    expect((await lookup('HF-P-R3')).statusCode).toBe(200);
  });

  it('refuses a bad --keep-days and prints the usage for an unknown command', async () => {
    const ctx = { config: gw.app.config, out: () => undefined, database: gw.db };
    await expect(runCli(['keys', 'rotate', '--keep-days', '0'], ctx)).rejects.toThrow('--keep-days');
    const out: string[] = [];
    expect(await runCli(['keys', 'spin'], { ...ctx, out: (l) => out.push(l) })).toBe(2);
    expect(out.join('\n')).toContain('keys rotate');
  });
});
