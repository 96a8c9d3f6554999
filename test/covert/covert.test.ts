import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyNdjson } from '../../src/audit/verify.js';
import { problemOf, startTestGateway, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { linesOf, lookupBody, personHolding, post, verifyApi } from '../audit/support.js';

const DAY_MS = 86_400_000;
/** The demo grant the housing fund's window looks up household registrations under. */
const GRANT = 'g-housing-fund-household-registration';
const GRANT_BODY = {
  consumer: 'housing-fund',
  type: 'household-registration',
  purposes: ['housing-fund-withdrawal'],
  fields: ['name', 'gender', 'birthDate', 'address', 'householder', 'relationToHouseholder', 'registrationNumber'],
};

interface Access {
  caseId: string | null;
  covert?: boolean;
  discloseAt?: string;
}

describe.each(DATABASE_KINDS)('covert grants on %s', (kind) => {
  let gw: TestGateway;
  let nowMs = Date.now();
  let admin: string;
  let consumer: string;
  let otherConsumer: string;
  let auditor: string;
  let portal: string;
  let alice: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind, { clock: () => new Date(nowMs) });
    [admin, consumer, otherConsumer, auditor, portal] = (await Promise.all(
      ['platform-admin', 'housing-fund-window', 'human-resources-window', 'audit-office', 'citizen-portal'].map((c) => gw.token(c)),
    )) as [string, string, string, string, string];
    alice = personHolding(gw, 'household-registration', 0);
  });
  afterAll(async () => gw?.close());

  const putGrant = (body: Record<string, unknown>) =>
    gw.app.inject({ method: 'PUT', url: `/v1/admin/grants/${GRANT}`, headers: { authorization: `Bearer ${admin}` }, payload: body });
  const tracker = async (token: string) => {
    const res = await post(gw, '/v1/audit/subject-accesses', token, { subject: { kind: 'person', id: alice }, limit: 500 });
    expect(res.statusCode).toBe(200);
    return res.json().accesses as Access[];
  };
  const cases = (accesses: Access[]) => accesses.map((a) => a.caseId);

  it('takes covert: {discloseAfterDays} from the admin only, 1..1825, and audits the change', async () => {
    for (const days of [0, 1826, 1.5]) {
      const bad = await putGrant({ ...GRANT_BODY, covert: { discloseAfterDays: days } });
      expect(bad.statusCode, String(days)).toBe(400);
      expect(problemOf(bad).code).toBe('VALIDATION_FAILED');
    }
    const notAdmin = await gw.app.inject({
      method: 'PUT',
      url: `/v1/admin/grants/${GRANT}`,
      headers: { authorization: `Bearer ${auditor}` },
      payload: { ...GRANT_BODY, covert: { discloseAfterDays: 30 } },
    });
    expect(notAdmin.statusCode).toBe(403);

    const res = await putGrant({ ...GRANT_BODY, covert: { discloseAfterDays: 30 } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ grantId: GRANT, covert: { discloseAfterDays: 30 } });
    const list = await gw.app.inject({ method: 'GET', url: '/v1/admin/grants', headers: { authorization: `Bearer ${admin}` } });
    const grants = list.json().grants as Array<{ grantId: string; covert: unknown }>;
    expect(grants.find((g) => g.grantId === GRANT)!.covert).toEqual({ discloseAfterDays: 30 });
    expect(grants.find((g) => g.grantId === 'g-civil-affairs-household-registration')!.covert).toBeNull();

    const event = await gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', res.headers['x-request-id'] as string)
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({ action: 'admin.change', outcome: 'ok', disclose_at: null });
    expect(event.detail).toEqual({
      resource: 'grant',
      key: GRANT,
      change: 'updated',
      covert: { before: null, after: { discloseAfterDays: 30 } },
    });
  });

  it('hides an access under it from the portal until discloseAt, and always shows it to auditors, flagged', async () => {
    const covert = await post(gw, '/v1/lookups', consumer, lookupBody(alice, { caseId: 'COVERT-1' }));
    expect(covert.statusCode).toBe(200);
    // Another department's overt access to the same person, at the same time.
    const overt = await post(gw, '/v1/lookups', otherConsumer, lookupBody(alice, { purpose: 'talent-subsidy', caseId: 'OVERT-1' }));
    expect(overt.statusCode).toBe(200);

    const row = await gw.db.db.selectFrom('audit_events').selectAll().where('id', '=', covert.json().lookupId).executeTakeFirstOrThrow();
    const discloseAt = new Date(row.disclose_at!).getTime();
    expect(Math.abs(discloseAt - (nowMs + 30 * DAY_MS))).toBeLessThan(60_000);
    const overtRow = await gw.db.db
      .selectFrom('audit_events')
      .selectAll()
      .where('id', '=', overt.json().lookupId)
      .executeTakeFirstOrThrow();
    expect(overtRow.disclose_at).toBeNull();

    const seen = await tracker(portal);
    expect(cases(seen)).toContain('OVERT-1');
    expect(cases(seen)).not.toContain('COVERT-1');
    expect(JSON.stringify(seen)).not.toMatch(/covert|discloseAt/);

    const audited = await tracker(auditor);
    expect(audited.find((a) => a.caseId === 'COVERT-1')).toMatchObject({ covert: true, discloseAt: new Date(discloseAt).toISOString() });
    const overtAccess = audited.find((a) => a.caseId === 'OVERT-1')!;
    expect(overtAccess).not.toHaveProperty('covert');

    const search = await post(gw, '/v1/audit/search', auditor, { caseId: 'COVERT-1' });
    expect(search.json().events).toEqual([
      expect.objectContaining({ action: 'lookup', covert: true, discloseAt: new Date(discloseAt).toISOString() }),
    ]);
    const onlyCovert = await post(gw, '/v1/audit/search', auditor, { subject: { kind: 'person', id: alice }, covert: true });
    expect(onlyCovert.json().events.map((e: { caseId: string }) => e.caseId)).toEqual(['COVERT-1']);
    const notCovert = await post(gw, '/v1/audit/search', auditor, {
      subject: { kind: 'person', id: alice },
      covert: false,
      action: 'lookup',
    });
    expect(notCovert.json().events.map((e: { caseId: string }) => e.caseId)).toEqual(['OVERT-1']);
  });

  it('keeps the chain verifiable, in the database and offline from an export', async () => {
    expect((await verifyApi(gw, auditor)).ok).toBe(true);
    const exported = await post(gw, '/v1/audit/export', auditor, {});
    expect(exported.statusCode).toBe(200);
    expect(exported.body).toContain('"covert":true');
    expect((await verifyNdjson(linesOf(exported.body))).ok).toBe(true);
    // Dropping the flag from an exported covert event breaks its hash.
    const tampered = exported.body.replace('"covert":true,', '');
    const verdict = await verifyNdjson(linesOf(tampered));
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/hash/);
  });

  it('fixes disclosure per access: making the grant overt neither reveals nor hides past accesses', async () => {
    const res = await putGrant(GRANT_BODY);
    expect(res.statusCode).toBe(200);
    expect(res.json().covert).toBeNull();
    const event = await gw.db.db
      .selectFrom('audit_events')
      .select('detail')
      .where('request_id', '=', res.headers['x-request-id'] as string)
      .executeTakeFirstOrThrow();
    expect(event.detail).toMatchObject({ covert: { before: { discloseAfterDays: 30 }, after: null } });

    expect((await post(gw, '/v1/lookups', consumer, lookupBody(alice, { caseId: 'OVERT-2' }))).statusCode).toBe(200);
    const seen = cases(await tracker(portal));
    expect(seen).toContain('OVERT-2');
    expect(seen).not.toContain('COVERT-1');
  });

  it('discloses the access after the delay, like any other, and never re-hides it', async () => {
    nowMs += 30 * DAY_MS + 60_000;
    const disclosed = await tracker(portal);
    const access = disclosed.find((a) => a.caseId === 'COVERT-1');
    expect(access).toMatchObject({ action: 'lookup', outcome: 'ok', consumer: 'housing-fund' });
    expect(access).not.toHaveProperty('covert');
    expect(access).not.toHaveProperty('discloseAt');

    // Covert again, for the longest allowed delay: what was disclosed stays disclosed.
    expect((await putGrant({ ...GRANT_BODY, covert: { discloseAfterDays: 1825 } })).statusCode).toBe(200);
    expect(cases(await tracker(portal))).toContain('COVERT-1');
    // A new access under it is hidden again, for 1825 days from now.
    const fresh = await post(gw, '/v1/lookups', consumer, lookupBody(alice, { caseId: 'COVERT-2' }));
    expect(fresh.statusCode).toBe(200);
    expect(cases(await tracker(portal))).not.toContain('COVERT-2');
    nowMs += 1824 * DAY_MS;
    expect(cases(await tracker(portal))).not.toContain('COVERT-2');
    nowMs += 2 * DAY_MS;
    expect(cases(await tracker(portal))).toContain('COVERT-2');
  });

  it('covers batch items, case materials and refusals after the grant applied', async () => {
    nowMs = Date.now();
    const batch = await post(gw, '/v1/lookups/batch', consumer, {
      subject: { kind: 'person', id: alice },
      purpose: 'housing-fund-withdrawal',
      caseId: 'COVERT-B',
      items: [{ type: 'household-registration' }, { type: 'marriage-registration' }],
    });
    expect(batch.statusCode).toBe(200);
    const caseRes = await post(gw, '/v1/cases', consumer, {
      procedure: 'housing-fund-withdrawal',
      applicant: { kind: 'person', id: alice },
      caseId: 'COVERT-C',
    });
    expect(caseRes.statusCode).toBe(201);
    const verification = await post(gw, '/v1/verifications', consumer, {
      ...lookupBody(alice, { caseId: 'COVERT-V' }),
      claim: { field: 'gender', op: 'exists' },
    });
    expect(verification.statusCode).toBe(200);
    // A field outside the grant is refused by the policy, before any grant serves it: not covert.
    const refused = await post(gw, '/v1/lookups', consumer, lookupBody(alice, { caseId: 'COVERT-R', fields: ['ethnicity'] }));
    expect(refused.statusCode).toBe(403);

    const rows = await gw.db.db
      .selectFrom('audit_events')
      .select(['case_id', 'type', 'disclose_at'])
      .where('case_id', 'in', ['COVERT-B', 'COVERT-C', 'COVERT-R', 'COVERT-V'])
      .where('action', 'in', ['batch.item', 'case.material', 'lookup', 'verification'])
      .execute();
    const covertOf = (caseId: string, type: string) => rows.find((r) => r.case_id === caseId && r.type === type)!.disclose_at !== null;
    expect(covertOf('COVERT-B', 'household-registration')).toBe(true);
    expect(covertOf('COVERT-B', 'marriage-registration')).toBe(false);
    expect(covertOf('COVERT-C', 'household-registration')).toBe(true);
    expect(covertOf('COVERT-C', 'real-estate-title')).toBe(false);
    expect(covertOf('COVERT-R', 'household-registration')).toBe(false);
    expect(covertOf('COVERT-V', 'household-registration')).toBe(true);
    const seen = await tracker(portal);
    expect(seen.filter((a) => a.caseId === 'COVERT-B').length).toBe(1);
    expect(seen.filter((a) => a.caseId === 'COVERT-C').length).toBe(3);
    expect(seen.filter((a) => a.caseId === 'COVERT-V')).toEqual([]);
    expect(seen.filter((a) => a.caseId === 'COVERT-R')).toHaveLength(1);

    const csv = await post(gw, '/v1/audit/export', auditor, { caseId: 'COVERT-V' }, { accept: 'text/csv' });
    const [header, row] = csv.body.trim().split('\r\n');
    expect(header).toMatch(/,hash,covert,discloseAt$/);
    expect(row).toMatch(/,true,\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  });
});
