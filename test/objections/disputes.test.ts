import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertDepartment, upsertType } from '../../src/registry/repository.js';
import { DisputeIndex } from '../../src/objections/disputes.js';
import { insertObjection, resolveObjection, type Objection } from '../../src/objections/repository.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';
import { testType } from '../lookups/consumer.js';

const HMAC = 'a'.repeat(64);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(DATABASE_KINDS)('DisputeIndex on %s', (kind) => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    await upsertDepartment(db.db, 'public-security', { zh: '公安局', en: 'Public Security' });
    await upsertType(db.db, testType('test-record', { kind: 'builtin', name: 'public-security' }));
  });
  afterAll(async () => db?.dispose());

  const objection = (): Objection & { filedBy: string } => ({
    objectionId: randomUUID(),
    type: 'test-record',
    provider: 'public-security',
    subjectKind: 'person',
    subjectHmac: HMAC,
    subjectSealed: 'v1.x.y',
    field: null,
    lookupId: null,
    statement: 'wrong',
    status: 'open',
    response: null,
    createdAt: new Date().toISOString(),
    resolvedAt: null,
    filedBy: 'citizen-portal',
  });

  it("sees its own replica's writes at once and another replica's within the TTL", async () => {
    const here = new DisputeIndex(db.db, 60_000);
    const there = new DisputeIndex(db.db, 300);
    const hmac = () => HMAC;
    expect(await here.isDisputed('test-record', hmac)).toBe(false);
    expect(await there.isDisputed('test-record', hmac)).toBe(false);

    const filed = objection();
    await insertObjection(db.db, filed);
    here.invalidate();
    expect(await here.isDisputed('test-record', hmac)).toBe(true);
    expect(await here.isDisputed('test-record', () => 'b'.repeat(64))).toBe(false);
    // The other replica still holds counts from before the filing: stale for at most its TTL.
    expect(await there.isDisputed('test-record', hmac)).toBe(false);
    await sleep(350);
    expect(await there.isDisputed('test-record', hmac)).toBe(true);

    // A resolution is never stale: the count only lets the indexed query run, which has the last word.
    await resolveObjection(db.db, filed.objectionId, {
      status: 'rejected',
      response: 'no',
      resolvedBy: 'staff',
      resolvedAt: new Date().toISOString(),
    });
    expect(await there.isDisputed('test-record', hmac)).toBe(false);
  });

  it('computes the subject HMAC only for a type with an open objection', async () => {
    const index = new DisputeIndex(db.db, 60_000);
    let computed = 0;
    expect(await index.isDisputed('household-registration', () => (computed++, HMAC))).toBe(false);
    expect(computed).toBe(0);
  });
});
