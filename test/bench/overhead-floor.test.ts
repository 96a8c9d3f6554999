import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactVerify } from 'jose';
import { verifyDatabase } from '../../src/audit/verify.js';
import { createDemoDataset } from '../../src/demo/data.js';
import { digestOf } from '../../src/lookups/proof.js';
import { subjectHmac } from '../../src/subjects/index.js';
import { FLOOR_HMAC_KEY, FLOOR_ISSUER, startFloor, type Floor } from '../../bench/overhead-floor.js';
import { DATABASE_KINDS, createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startFakeProvider, type FakeProvider } from '../helpers/fake-provider.js';

const TYPE = 'household-registration';

// The floor is the bench's measure of what the contract's guarantees alone cost: it is only a fair
// floor if it really pays for them, so each one is checked on its answers here.
describe.each(DATABASE_KINDS)('bench floor on %s: pays for every guarantee it stands for', (kind) => {
  const dataset = createDemoDataset();
  const person = dataset.people.find((p) => p.holds.includes(TYPE))!;
  const record = dataset.record(TYPE, person.id)!;
  let database: TestDatabase;
  let provider: FakeProvider;
  let floor: Floor;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    provider = await startFakeProvider({ record });
    floor = await startFloor(provider.url, database.db);
  });
  afterAll(async () => {
    await floor?.close();
    await provider?.close();
    await database?.dispose();
  });

  const lookup = (headers: Record<string, string>, body: unknown) =>
    fetch(`http://127.0.0.1:${floor.port}/v1/lookups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const body = { type: TYPE, subject: { kind: 'person', id: person.id }, purpose: 'housing-fund-withdrawal', caseId: 'HF-2026-000001' };

  it('answers with the record, a proof that verifies over its digest, and a committed, chained event', async () => {
    const res = await lookup({ authorization: `Bearer ${floor.token}` }, body);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { lookupId: string; record: unknown; proof: string; subject: { id: string } };
    expect(answer.record).toEqual(record);
    expect(answer.subject.id).not.toBe(person.id);
    const { payload } = await compactVerify(answer.proof, floor.publicKey);
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    expect(claims).toMatchObject({ lookupId: answer.lookupId, digest: digestOf(answer.record), iss: FLOOR_ISSUER });

    const rows = await database.db.selectFrom('audit_events').selectAll().where('id', '=', answer.lookupId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ action: 'lookup', outcome: 'ok', record_digest: claims.digest });
    expect(rows[0]!.subject_hmac).toBe(subjectHmac(FLOOR_HMAC_KEY, { kind: 'person', id: person.id }));
    expect((await verifyDatabase(database.db)).ok).toBe(true);
  });

  it('refuses a request without its token, and a body outside LookupRequest, before calling the provider', async () => {
    const hits = provider.hits;
    expect((await lookup({}, body)).status).toBe(401);
    expect((await lookup({ authorization: `Bearer ${floor.token}` }, { ...body, caseId: 'no spaces allowed' })).status).toBe(400);
    expect(provider.hits).toBe(hits);
  });
});
