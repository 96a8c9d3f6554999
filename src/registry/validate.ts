import { validateAdapter, type AdapterCheckContext } from '../adapters/kinds.js';
import { problem } from '../errors.js';
import { isPlainObject } from '../json.js';
import type { Grant, Procedure, TypeDef, TypeKind } from './model.js';
import type { RegistrySnapshot } from './snapshot.js';
import { compileRecordSchema, createRecordAjv, relaxTopLevelRequired } from './snapshot.js';

/**
 * Checks of admin input against the rules of the registry. Pure: they take plain values and the
 * registry as it is now, and throw `AppError`s — VALIDATION_FAILED for a definition that is wrong
 * in itself, CONFLICT for one that names something the registry does not hold.
 */

/** What a type definition is checked against besides the registry. */
export type TypeCheckContext = AdapterCheckContext;

type Registry = Pick<RegistrySnapshot, 'departments' | 'types' | 'procedures'>;

export function checkTypeDefinition(def: TypeDef, registry: Registry, context: TypeCheckContext): void {
  const duplicates = repeated(def.fields.map((f) => f.name));
  if (duplicates.length > 0) throw problem('VALIDATION_FAILED', `body/fields lists ${duplicates.join(', ')} more than once`);

  for (const candidate of [def.schema, relaxTopLevelRequired(def.kind, def.schema)]) {
    try {
      // A fresh ajv each time: a schema that failed must leave nothing behind for the next one.
      compileRecordSchema(createRecordAjv(), candidate);
    } catch (err) {
      throw problem('VALIDATION_FAILED', `body/schema does not compile: ${(err as Error).message}`);
    }
  }

  const properties = recordProperties(def.kind, def.schema);
  if (typeof properties === 'string') throw problem('VALIDATION_FAILED', properties);
  const outside = def.fields.map((f) => f.name).filter((name) => !Object.hasOwn(properties, name));
  if (outside.length > 0) {
    const where = def.kind === 'record' ? 'properties.rows.items.properties' : 'properties';
    throw problem('VALIDATION_FAILED', `body/fields ${outside.join(', ')} are not in the schema's ${where}`);
  }

  validateAdapter(def.adapter, context);

  // Checked last: a definition that is wrong in itself is reported as such whatever the registry holds.
  if (!registry.departments.has(def.provider)) {
    throw problem('CONFLICT', `provider "${def.provider}" is not a registered department`);
  }
}

/**
 * The properties a record's fields must come from: the top-level object for a certificate, the
 * row object for a record type (whose schema describes `{rows: [...]}`), or a message saying why
 * the schema has none.
 */
function recordProperties(kind: TypeKind, schema: Record<string, unknown>): Record<string, unknown> | string {
  const top = asObject(schema.properties);
  if (schema.type !== 'object' || !top) return 'body/schema must describe an object ("type": "object" with "properties")';
  if (kind === 'certificate') return top;
  const rows = asObject(top.rows);
  const items = asObject(rows?.items);
  const columns = asObject(items?.properties);
  if (rows?.type !== 'array' || !columns) {
    return 'body/schema of a record type must describe {rows: [...]}: properties.rows needs "type": "array" and items with "properties"';
  }
  return columns;
}

export function checkGrant(grant: Grant, registry: Registry): void {
  if (!registry.departments.has(grant.consumer)) {
    throw problem('CONFLICT', `consumer "${grant.consumer}" is not a registered department`);
  }
  const type = registry.types.get(grant.type);
  if (!type) throw problem('CONFLICT', `type "${grant.type}" is not a registered catalogue type`);
  const unknownPurposes = grant.purposes.filter((p) => !registry.procedures.has(p));
  if (unknownPurposes.length > 0) {
    throw problem('CONFLICT', `purposes ${unknownPurposes.map((p) => `"${p}"`).join(', ')} are not registered procedures`);
  }
  const typeFields = new Set(type.fields.map((f) => f.name));
  const unknownFields = grant.fields.filter((f) => !typeFields.has(f));
  if (unknownFields.length > 0) {
    throw problem('CONFLICT', `fields ${unknownFields.map((f) => `"${f}"`).join(', ')} are not fields of ${grant.type}`);
  }
}

export function checkProcedure(procedure: Procedure, registry: Registry): void {
  const unknown = procedure.materials.filter((m) => !registry.types.has(m));
  if (unknown.length > 0) {
    throw problem('CONFLICT', `materials ${unknown.map((m) => `"${m}"`).join(', ')} are not registered catalogue types`);
  }
}

function repeated(names: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const n of names) (seen.has(n) ? twice : seen).add(n);
  return [...twice];
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return isPlainObject(value) ? value : undefined;
}
