import type { Selectable } from 'kysely';
import type { Database, DB } from '../db/index.js';
import type { Client, Department, Grant, Procedure, Role, TypeDef } from './model.js';

/** Registry rows → model objects, and the writes the admin API and the demo seed make. */

const iso = (d: Date | string) => new Date(d).toISOString();
const json = (v: unknown) => JSON.stringify(v);

type Row<T extends keyof Database> = Selectable<Database[T]>;
type Stamped<T> = T & { createdAt: string; updatedAt: string };

const toDepartment = (r: Row<'departments'>): Department => ({
  code: r.code,
  name: { zh: r.name_zh, en: r.name_en },
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

export async function listDepartments(db: DB): Promise<Department[]> {
  const rows = await db.selectFrom('departments').selectAll().orderBy('code').execute();
  return rows.map(toDepartment);
}

export async function findDepartment(db: DB, code: string): Promise<Department | undefined> {
  const r = await db.selectFrom('departments').selectAll().where('code', '=', code).executeTakeFirst();
  return r && toDepartment(r);
}

export async function upsertDepartment(db: DB, code: string, name: { zh: string; en: string }): Promise<void> {
  await db
    .insertInto('departments')
    .values({ code, name_zh: name.zh, name_en: name.en })
    .onConflict((oc) => oc.column('code').doUpdateSet({ name_zh: name.zh, name_en: name.en, updated_at: new Date() }))
    .execute();
}

const toType = (r: Row<'catalog_types'>): Stamped<TypeDef> => ({
  type: r.type,
  kind: r.kind,
  title: r.title,
  provider: r.provider,
  subjectKind: r.subject_kind,
  sharing: r.sharing,
  consent: r.consent,
  fields: r.fields,
  schema: r.schema,
  adapter: r.adapter,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

export async function listTypes(db: DB): Promise<Stamped<TypeDef>[]> {
  const rows = await db.selectFrom('catalog_types').selectAll().orderBy('type').execute();
  return rows.map(toType);
}

export async function findType(db: DB, type: string): Promise<Stamped<TypeDef> | undefined> {
  const r = await db.selectFrom('catalog_types').selectAll().where('type', '=', type).executeTakeFirst();
  return r && toType(r);
}

export async function upsertType(db: DB, t: TypeDef): Promise<void> {
  const values = {
    kind: t.kind,
    title: t.title,
    provider: t.provider,
    subject_kind: t.subjectKind,
    sharing: t.sharing,
    consent: t.consent ?? 'none',
    fields: json(t.fields),
    schema: json(t.schema),
    adapter: json(t.adapter),
  };
  await db
    .insertInto('catalog_types')
    .values({ type: t.type, ...values })
    .onConflict((oc) => oc.column('type').doUpdateSet({ ...values, updated_at: new Date() }))
    .execute();
}

const toGrant = (r: Row<'grants'>): Stamped<Grant> => ({
  grantId: r.grant_id,
  consumer: r.consumer,
  type: r.type,
  purposes: r.purposes,
  fields: r.fields,
  verifyOnly: r.verify_only,
  expiresAt: r.expires_at ? iso(r.expires_at) : null,
  covert: r.covert_disclose_after_days === null ? null : { discloseAfterDays: r.covert_disclose_after_days },
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

export async function listGrants(db: DB): Promise<Stamped<Grant>[]> {
  const rows = await db.selectFrom('grants').selectAll().orderBy('grant_id').execute();
  return rows.map(toGrant);
}

export async function findGrant(db: DB, grantId: string): Promise<Stamped<Grant> | undefined> {
  const r = await db.selectFrom('grants').selectAll().where('grant_id', '=', grantId).executeTakeFirst();
  return r && toGrant(r);
}

export async function upsertGrant(db: DB, g: Grant): Promise<void> {
  const values = {
    consumer: g.consumer,
    type: g.type,
    purposes: json(g.purposes),
    fields: json(g.fields),
    verify_only: g.verifyOnly,
    expires_at: g.expiresAt,
    covert_disclose_after_days: g.covert?.discloseAfterDays ?? null,
  };
  await db
    .insertInto('grants')
    .values({ grant_id: g.grantId, ...values })
    .onConflict((oc) => oc.column('grant_id').doUpdateSet({ ...values, updated_at: new Date() }))
    .execute();
}

export async function deleteGrant(db: DB, grantId: string): Promise<boolean> {
  const r = await db.deleteFrom('grants').where('grant_id', '=', grantId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

const toProcedure = (r: Row<'procedures'>): Stamped<Procedure> => ({
  code: r.code,
  title: r.title,
  materials: r.materials,
  createdAt: iso(r.created_at),
  updatedAt: iso(r.updated_at),
});

export async function listProcedures(db: DB): Promise<Stamped<Procedure>[]> {
  const rows = await db.selectFrom('procedures').selectAll().orderBy('code').execute();
  return rows.map(toProcedure);
}

export async function findProcedure(db: DB, code: string): Promise<Stamped<Procedure> | undefined> {
  const r = await db.selectFrom('procedures').selectAll().where('code', '=', code).executeTakeFirst();
  return r && toProcedure(r);
}

export async function upsertProcedure(db: DB, p: Procedure): Promise<void> {
  await db
    .insertInto('procedures')
    .values({ code: p.code, title: p.title, materials: json(p.materials) })
    .onConflict((oc) => oc.column('code').doUpdateSet({ title: p.title, materials: json(p.materials), updated_at: new Date() }))
    .execute();
}

/** Every client id, revoked ones included (the token endpoint keys its quota by known ids). */
export async function listClientIds(db: DB): Promise<string[]> {
  const rows = await db.selectFrom('clients').select('client_id').execute();
  return rows.map((r) => r.client_id);
}

/** Whether the client exists and is not revoked (the authentication plugin's revocation check). */
export async function isClientActive(db: DB, clientId: string): Promise<boolean> {
  const row = await db.selectFrom('clients').select('revoked_at').where('client_id', '=', clientId).executeTakeFirst();
  return row !== undefined && row.revoked_at === null;
}

export async function findClient(db: DB, clientId: string): Promise<(Client & { secretHash: string }) | undefined> {
  const r = await db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
  if (!r) return undefined;
  return {
    clientId: r.client_id,
    department: r.department,
    roles: r.roles,
    revokedAt: r.revoked_at ? iso(r.revoked_at) : null,
    secretHash: r.secret_hash,
  };
}

export async function upsertClient(db: DB, c: { clientId: string; department: string; roles: Role[]; secretHash: string }): Promise<void> {
  const values = { department: c.department, roles: json(c.roles), secret_hash: c.secretHash };
  await db
    .insertInto('clients')
    .values({ client_id: c.clientId, ...values })
    .onConflict((oc) => oc.column('client_id').doUpdateSet({ ...values, revoked_at: null }))
    .execute();
}

/** A new client; unlike `upsertClient` it never overwrites (or un-revokes) an existing one. */
export async function insertClient(db: DB, c: { clientId: string; department: string; roles: Role[]; secretHash: string }): Promise<void> {
  await db
    .insertInto('clients')
    .values({ client_id: c.clientId, department: c.department, roles: json(c.roles), secret_hash: c.secretHash })
    .execute();
}

export async function revokeClient(db: DB, clientId: string): Promise<boolean> {
  const r = await db
    .updateTable('clients')
    .set({ revoked_at: new Date() })
    .where('client_id', '=', clientId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
