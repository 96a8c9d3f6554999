import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/db.js';
import { problemOf, requestToken, startTestGateway, type TestGateway } from '../helpers/app.js';

describe.each(DATABASE_KINDS)('admin API: departments and clients on %s', (kind) => {
  let gw: TestGateway;
  let adminToken: string;

  beforeAll(async () => {
    gw = await startTestGateway(kind);
    adminToken = await gw.token('platform-admin');
  });
  afterAll(async () => gw?.close());

  const call = (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: object, token = adminToken) =>
    gw.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

  const adminEvents = (requestId: string) =>
    gw.db.db.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).where('action', '=', 'admin.change').execute();

  it('creates a department with 201, renames it with 200, and audits both as the admin client', async () => {
    const created = await call('PUT', '/v1/admin/departments/emergency-management', {
      name: { zh: '应急管理局', en: 'Emergency Management Bureau' },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ code: 'emergency-management', name: { zh: '应急管理局', en: 'Emergency Management Bureau' } });

    const renamed = await call('PUT', '/v1/admin/departments/emergency-management', { name: { zh: '应急管理局', en: 'Emergency Bureau' } });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().name.en).toBe('Emergency Bureau');
    expect(renamed.json().createdAt).toBe(created.json().createdAt);

    const [first] = await adminEvents(created.headers['x-request-id'] as string);
    expect(first).toMatchObject({ client_id: 'platform-admin', consumer: 'government-services', outcome: 'ok' });
    expect(first!.detail).toEqual({ resource: 'department', key: 'emergency-management', change: 'created' });
    const [second] = await adminEvents(renamed.headers['x-request-id'] as string);
    expect(second!.detail).toEqual({ resource: 'department', key: 'emergency-management', change: 'updated' });

    const one = await call('GET', '/v1/admin/departments/emergency-management');
    expect(one.statusCode).toBe(200);
    const all = await call('GET', '/v1/admin/departments');
    expect(all.json().departments.map((d: { code: string }) => d.code)).toContain('emergency-management');
  });

  it('answers an unknown department with 404 NOT_FOUND and a bad code with 400 VALIDATION_FAILED', async () => {
    const missing = await call('GET', '/v1/admin/departments/no-such-dept');
    expect(missing.statusCode).toBe(404);
    expect(problemOf(missing).code).toBe('NOT_FOUND');
    const bad = await call('PUT', '/v1/admin/departments/Bad_Code', { name: { zh: '甲', en: 'A' } });
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad).code).toBe('VALIDATION_FAILED');
    const extra = await call('PUT', '/v1/admin/departments/fine-code', { name: { zh: '甲', en: 'A' }, colour: 'blue' });
    expect(extra.statusCode).toBe(400);
    expect(problemOf(extra).detail).toContain('colour');
  });

  it.each(['housing-fund-window', 'audit-office', 'citizen-portal'])(
    'refuses %s with 403 FORBIDDEN and audits the attempt',
    async (clientId) => {
      const token = await gw.token(clientId);
      const res = await call('PUT', '/v1/admin/departments/intruder', { name: { zh: '甲', en: 'A' } }, token);
      expect(res.statusCode).toBe(403);
      expect(problemOf(res).code).toBe('FORBIDDEN');
      const [event] = await adminEvents(problemOf(res).requestId);
      expect(event).toMatchObject({ client_id: clientId, outcome: 'denied', error_code: 'FORBIDDEN' });
      expect((await call('GET', '/v1/admin/departments', undefined, token)).statusCode).toBe(403);
      expect((await call('GET', '/v1/admin/departments/intruder')).statusCode).toBe(404);
    },
  );

  it('refuses a call without a token with 401 UNAUTHENTICATED', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/v1/admin/types' });
    expect(res.statusCode).toBe(401);
    expect(problemOf(res).code).toBe('UNAUTHENTICATED');
  });

  it('creates a client whose secret is shown once, works, and is never stored or audited in clear', async () => {
    const res = await call('POST', '/v1/admin/departments/housing-fund/clients', { roles: ['consumer'] });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const { clientId, clientSecret, department, roles } = res.json();
    expect(clientId).toMatch(/^housing-fund-[0-9a-f]{12}$/);
    expect(department).toBe('housing-fund');
    expect(roles).toEqual(['consumer']);

    const token = await requestToken(gw.app, clientId, clientSecret);
    expect(token.statusCode).toBe(200);

    const [event] = await adminEvents(res.headers['x-request-id'] as string);
    expect(event!.detail).toEqual({ resource: 'client', key: clientId, change: 'created' });
    const rows = await sql<{ t: string }>`select row_to_json(a)::text as t from audit_events a`.execute(gw.db.db);
    expect(rows.rows.map((r) => r.t).join('\n')).not.toContain(clientSecret);
    const stored = await gw.db.db.selectFrom('clients').select('secret_hash').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    expect(stored.secret_hash).not.toContain(clientSecret);
  });

  it('refuses a client for an unknown department with 404 and bad roles with 400', async () => {
    const unknown = await call('POST', '/v1/admin/departments/no-such-dept/clients', { roles: ['consumer'] });
    expect(unknown.statusCode).toBe(404);
    expect(problemOf(unknown).code).toBe('NOT_FOUND');
    const badRole = await call('POST', '/v1/admin/departments/housing-fund/clients', { roles: ['superuser'] });
    expect(badRole.statusCode).toBe(400);
    expect(problemOf(badRole).code).toBe('VALIDATION_FAILED');
  });

  it('revokes a client: its token stops working within 5 s on another replica, it gets no new token, and a repeat is 204', async () => {
    const created = (await call('POST', '/v1/admin/departments/housing-fund/clients', { roles: ['consumer'] })).json();
    const credentials = { grant_type: 'client_credentials', client_id: created.clientId, client_secret: created.clientSecret };
    const token = (await gw.app.inject({ method: 'POST', url: '/v1/auth/token', payload: credentials })).json().access_token as string;

    // A second replica on the same database, with the default REVOCATION_CHECK_MS, has the client cached as active.
    const replica = await startTestGateway(kind, { database: gw.db, demo: false });
    try {
      const catalog = () => replica.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${token}` } });
      expect((await catalog()).statusCode).toBe(200);

      const revoked = await call('DELETE', `/v1/admin/clients/${created.clientId}`);
      expect(revoked.statusCode).toBe(204);
      const startedAt = Date.now();
      // On the replica that revoked, at once.
      const here = await gw.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${token}` } });
      expect(here.statusCode).toBe(401);
      expect(problemOf(here).code).toBe('UNAUTHENTICATED');

      let status = 200;
      while (status === 200 && Date.now() - startedAt < 5000) {
        await new Promise((r) => setTimeout(r, 100));
        status = (await catalog()).statusCode;
      }
      expect(status).toBe(401);
      expect(Date.now() - startedAt).toBeLessThan(5000);
    } finally {
      await replica.close();
    }

    const again = await gw.app.inject({ method: 'POST', url: '/v1/auth/token', payload: credentials });
    expect(again.statusCode).toBe(401);
    expect(problemOf(again).code).toBe('UNAUTHENTICATED');

    expect((await call('DELETE', `/v1/admin/clients/${created.clientId}`)).statusCode).toBe(204);
    const events = await gw.db.db.selectFrom('audit_events').select(['client_id', 'detail']).where('action', '=', 'admin.change').execute();
    const revocations = events.filter(
      (e) => (e.detail as { key?: string } | null)?.key === created.clientId && (e.detail as { change?: string }).change === 'revoked',
    );
    expect(revocations).toHaveLength(2);
    expect(revocations.every((e) => e.client_id === 'platform-admin')).toBe(true);
  });

  it('answers revoking an unknown client with 404 NOT_FOUND', async () => {
    const res = await call('DELETE', '/v1/admin/clients/nobody-here');
    expect(res.statusCode).toBe(404);
    expect(problemOf(res).code).toBe('NOT_FOUND');
  });
});
