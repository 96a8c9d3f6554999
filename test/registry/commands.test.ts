import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import { requestToken, startTestGateway, testConfig, type TestGateway } from '../helpers/app.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/db.js';

describe.each(DATABASE_KINDS)('npm run cli -- clients create on %s', (kind) => {
  let db: TestDatabase;
  let gw: TestGateway;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await gw?.close();
    await db?.dispose();
  });

  async function cli(...argv: string[]) {
    const lines: string[] = [];
    const code = await runCli(argv, { config: testConfig({}, { databaseUrl: db.url }), out: (l) => lines.push(l), database: db });
    return { code, output: lines.join('\n') };
  }

  it('bootstraps the first admin of an empty registry, audited, and the client can use the admin API', async () => {
    const { code, output } = await cli(
      'clients',
      'create',
      '--department',
      'ops-centre',
      '--roles',
      'admin',
      '--name-zh',
      '运维中心',
      '--name-en',
      'Operations Centre',
    );
    expect(code).toBe(0);
    const issued = JSON.parse(output) as { clientId: string; clientSecret: string; department: string; roles: string[] };
    expect(issued).toMatchObject({ department: 'ops-centre', roles: ['admin'] });
    expect(issued.clientId).toMatch(/^ops-centre-[0-9a-f]{12}$/);

    gw = await startTestGateway(kind, { database: db, demo: false });
    const token = await requestToken(gw.app, issued.clientId, issued.clientSecret);
    expect(token.statusCode).toBe(200);
    const departments = await gw.app.inject({
      url: '/v1/admin/departments',
      headers: { authorization: `Bearer ${token.json().access_token}` },
    });
    expect(departments.statusCode).toBe(200);
    expect(departments.json().departments.map((d: { code: string }) => d.code)).toEqual(['ops-centre']);

    const events = await db.db
      .selectFrom('audit_events')
      .select(['action', 'detail'])
      .where('action', '=', 'admin.change')
      .orderBy('seq')
      .execute();
    expect(events.map((e) => e.detail)).toEqual([
      { resource: 'department', key: 'ops-centre', change: 'created', via: 'cli' },
      { resource: 'client', key: issued.clientId, change: 'created', via: 'cli' },
    ]);
    const stored = await db.db
      .selectFrom('clients')
      .select('secret_hash')
      .where('client_id', '=', issued.clientId)
      .executeTakeFirstOrThrow();
    expect(stored.secret_hash).not.toContain(issued.clientSecret);
  });

  it('refuses unknown roles and an unknown department without names, creating nothing', async () => {
    await expect(cli('clients', 'create', '--department', 'ops-centre', '--roles', 'root')).rejects.toThrow(/--roles/);
    await expect(cli('clients', 'create', '--department', 'nowhere', '--roles', 'auditor')).rejects.toThrow(/does not exist/);
    const count = await db.db
      .selectFrom('clients')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });
});
