import { Ajv, type ValidateFunction } from 'ajv';
import { formatsPlugin } from '../ajv-formats.js';
import type { DB } from '../db/index.js';
import type { Department, Grant, Procedure, TypeDef, TypeKind } from './model.js';
import { listDepartments, listGrants, listProcedures, listTypes } from './repository.js';

/** A fresh ajv for record schemas: strict, so a schema with a typo is refused at registration. */
export function createRecordAjv(): Ajv {
  const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, allowUnionTypes: true });
  formatsPlugin(ajv);
  return ajv;
}

/** Compiles a type's record schema; throws with ajv's message when it does not compile. */
export function compileRecordSchema(ajv: Ajv, schema: Record<string, unknown>): ValidateFunction {
  const { $id: _id, $schema: _schema, ...rest } = schema;
  return ajv.compile(rest);
}

/**
 * The same schema with the record's own `required` lifted (top level for a certificate, the row
 * items for a record type): providers may answer only the fields the gateway asked for, and the
 * flow checks those itself. Everything else — types, patterns, unknown properties — still binds.
 */
export function relaxTopLevelRequired(kind: TypeKind, schema: Record<string, unknown>): Record<string, unknown> {
  const { required: _required, ...top } = schema;
  if (kind === 'certificate') return top;
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const rows = props.rows;
  const items = rows?.items as Record<string, unknown> | undefined;
  if (!rows || !items || typeof items !== 'object') return schema;
  const { required: _rowRequired, ...rowItems } = items;
  return { ...schema, properties: { ...props, rows: { ...rows, items: rowItems } } };
}

/**
 * The whole registry in memory: it is small (hundreds of rows), read on every request and
 * changed rarely, so requests never query it. Replicas reload it every few seconds; the replica
 * that makes an admin change reloads at once.
 */
export interface RegistrySnapshot {
  loadedAt: number;
  departments: Map<string, Department>;
  types: Map<string, TypeDef>;
  procedures: Map<string, Procedure>;
  grants: Grant[];
  /** Grants of `consumer` for `type` (expired ones included; policy decides). */
  grantsFor(consumer: string, type: string): Grant[];
  validatorFor(type: string): ValidateFunction | undefined;
}

export async function loadSnapshot(db: DB): Promise<RegistrySnapshot> {
  const [departments, types, grants, procedures] = await Promise.all([listDepartments(db), listTypes(db), listGrants(db), listProcedures(db)]);
  const ajv = createRecordAjv();
  const validators = new Map<string, ValidateFunction>();
  for (const t of types) {
    try {
      validators.set(t.type, compileRecordSchema(ajv, relaxTopLevelRequired(t.kind, t.schema)));
    } catch {
      // Registration refuses such schemas; a row that slipped in is served as PROVIDER_BAD_RESPONSE.
    }
  }
  const byPair = new Map<string, Grant[]>();
  for (const g of grants) {
    const key = `${g.consumer}\u0000${g.type}`;
    byPair.set(key, [...(byPair.get(key) ?? []), g]);
  }
  return {
    loadedAt: Date.now(),
    departments: new Map(departments.map((d) => [d.code, d])),
    types: new Map(types.map((t) => [t.type, t])),
    procedures: new Map(procedures.map((p) => [p.code, p])),
    grants,
    grantsFor: (consumer, type) => byPair.get(`${consumer}\u0000${type}`) ?? [],
    validatorFor: (type) => validators.get(type),
  };
}
