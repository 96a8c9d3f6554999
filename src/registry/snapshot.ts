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

/**
 * Compiled record validators kept from one snapshot to the next (issue 12): replicas reload the
 * registry every 2 s, and compiling every type's schema again each time cost ~4 % of a loaded
 * gateway's CPU. A validator is reused only for the very same kind and schema text; only the
 * current types' validators are kept, and ajv is replaced when it has compiled many schemas, so
 * admin changes cannot grow it without bound.
 */
export class RecordValidators {
  private current = new Map<string, ValidateFunction | null>();
  private ajv: Ajv | null = null;
  private compiled = 0;

  /** The validators of `types` by type code (a schema that does not compile has none). */
  forTypes(types: readonly TypeDef[]): Map<string, ValidateFunction> {
    const next = new Map<string, ValidateFunction | null>();
    const byType = new Map<string, ValidateFunction>();
    for (const t of types) {
      const key = `${t.kind}\u0000${JSON.stringify(t.schema)}`;
      let validate = next.get(key) ?? this.current.get(key);
      if (validate === undefined) {
        if (!this.ajv || this.compiled >= 1000) {
          this.ajv = createRecordAjv();
          this.compiled = 0;
        }
        this.compiled += 1;
        try {
          validate = compileRecordSchema(this.ajv, relaxTopLevelRequired(t.kind, t.schema));
        } catch {
          // Registration refuses such schemas; a row that slipped in is served as PROVIDER_BAD_RESPONSE.
          validate = null;
        }
      }
      next.set(key, validate);
      if (validate) byType.set(t.type, validate);
    }
    this.current = next;
    return byType;
  }
}

export async function loadSnapshot(db: DB, compiled: RecordValidators = new RecordValidators()): Promise<RegistrySnapshot> {
  const [departments, types, grants, procedures] = await Promise.all([
    listDepartments(db),
    listTypes(db),
    listGrants(db),
    listProcedures(db),
  ]);
  const validators = compiled.forTypes(types);
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
