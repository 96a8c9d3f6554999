import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  DEMO_CLIENTS,
  DEMO_DEPARTMENTS,
  DEMO_ENTERPRISES,
  DEMO_GRANTS,
  DEMO_PEOPLE,
  DEMO_PROCEDURES,
  DEMO_REFERENCE_DATE,
  DEMO_SHOWCASE_ENTERPRISE_INDEX,
  DEMO_SHOWCASE_PERSON_INDEX,
  DEMO_TYPES,
  createDemoDataset,
  demoTypeDefs,
  procedureSubjectKind,
} from '../../src/demo/data.js';
import { ROLES } from '../../src/registry/model.js';
import { validateCreditCode, validateResidentId } from '../../src/subjects/index.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = addFormatsModule as unknown as FormatsPlugin;
const typeByCode = new Map(DEMO_TYPES.map((t) => [t.type, t]));
const departmentCodes = new Set(DEMO_DEPARTMENTS.map((d) => d.code));
const procedureCodes = new Set(DEMO_PROCEDURES.map((p) => p.code));

function typeOf(code: string) {
  const type = typeByCode.get(code);
  if (type === undefined) throw new Error(`unknown type ${code}`);
  return type;
}

/** The object schema whose properties are the type's fields: the row schema for `record` types. */
function fieldSchema(schema: Record<string, unknown>, kind: string): Record<string, unknown> {
  if (kind !== 'record') return schema;
  const rows = (schema.properties as { rows: { items: Record<string, unknown> } }).rows;
  return rows.items;
}

describe('demo catalogue', () => {
  it('has the expected departments and types', () => {
    for (const code of [
      'public-security',
      'civil-affairs',
      'market-regulation',
      'human-resources',
      'natural-resources',
      'taxation',
      'education',
      'housing-fund',
    ]) {
      expect(departmentCodes.has(code)).toBe(true);
    }
    expect(DEMO_TYPES.map((t) => t.type)).toEqual([
      'household-registration',
      'marriage-registration',
      'business-licence',
      'social-insurance-contributions',
      'real-estate-title',
      'tax-clearance',
      'degree-certificate',
      'criminal-record',
      'income-tax-record',
    ]);
    // One type is sensitive enough to need the person's consent (issue 15), and one grant serves it.
    const consentTypes = DEMO_TYPES.filter((t) => t.consent === 'required').map((t) => t.type);
    expect(consentTypes).toEqual(['income-tax-record']);
    expect(DEMO_GRANTS.some((g) => g.type === 'income-tax-record')).toBe(true);
    for (const type of DEMO_TYPES) {
      expect(type.type).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(departmentCodes.has(type.provider)).toBe(true);
    }
  });

  it('compiles every schema under draft-07 and 2020-12 in strict mode', () => {
    // With ajv-formats, as the gateway's record Ajv has it: dates say `format: date` so that
    // verifications may order them (issue 9).
    const draft07 = addFormats(new Ajv({ strict: true }));
    const draft2020 = addFormats(new Ajv2020({ strict: true }));
    for (const type of DEMO_TYPES) {
      expect(() => draft07.compile(type.schema), type.type).not.toThrow();
      expect(() => draft2020.compile(type.schema), type.type).not.toThrow();
    }
  });

  it('lists every field in the schema as a required property, and nothing else', () => {
    for (const type of DEMO_TYPES) {
      const schema = fieldSchema(type.schema, type.kind);
      const names = type.fields.map((f) => f.name);
      expect(Object.keys(schema.properties as object), type.type).toEqual(names);
      expect(schema.required, type.type).toEqual(names);
      expect(schema.additionalProperties, type.type).toBe(false);
      expect(type.schema.additionalProperties, type.type).toBe(false);
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('builds full type definitions with the builtin adapter by default, as fresh copies', () => {
    const defs = demoTypeDefs();
    expect(defs.map((d) => d.adapter)).toEqual(DEMO_TYPES.map((t) => ({ kind: 'builtin', name: t.provider })));
    const http = demoTypeDefs((provider) => ({ kind: 'http', url: `http://${provider}.test/lookup`, timeoutMs: 2000 }));
    expect(http[0]?.adapter).toEqual({ kind: 'http', url: 'http://public-security.test/lookup', timeoutMs: 2000 });
    defs[0]?.fields.push({ name: 'extra', title: 'x', sensitive: false });
    expect(DEMO_TYPES[0]?.fields.some((f) => f.name === 'extra')).toBe(false);
  });
});

describe('demo procedures, grants and clients', () => {
  it('names known materials of a single subject kind', () => {
    for (const procedure of DEMO_PROCEDURES) {
      const kind = procedureSubjectKind(procedure.code);
      expect(kind, procedure.code).toBeDefined();
      expect(procedure.materials.length).toBeGreaterThan(0);
      for (const material of procedure.materials) expect(typeOf(material).subjectKind, `${procedure.code}/${material}`).toBe(kind);
    }
    expect(procedureSubjectKind('no-such-procedure')).toBeUndefined();
  });

  it('grants refer to known departments, types, procedures and fields', () => {
    const ids = new Set<string>();
    for (const grant of DEMO_GRANTS) {
      expect(grant.grantId).toBe(`g-${grant.consumer}-${grant.type}`);
      ids.add(grant.grantId);
      expect(departmentCodes.has(grant.consumer), grant.grantId).toBe(true);
      const type = typeOf(grant.type);
      expect(type.sharing, grant.grantId).not.toBe('none');
      const fields = new Set(type.fields.map((f) => f.name));
      for (const field of grant.fields) expect(fields.has(field), `${grant.grantId}/${field}`).toBe(true);
      expect(grant.purposes.length).toBeGreaterThan(0);
      for (const purpose of grant.purposes) {
        expect(procedureCodes.has(purpose), `${grant.grantId}/${purpose}`).toBe(true);
        expect(procedureSubjectKind(purpose)).toBe(type.subjectKind);
      }
    }
    expect(ids.size).toBe(DEMO_GRANTS.length);
    expect(DEMO_GRANTS.some((g) => g.verifyOnly)).toBe(true);
    expect(DEMO_GRANTS.some((g) => g.expiresAt !== null && Date.parse(g.expiresAt) < Date.parse('2021-01-01T00:00:00Z'))).toBe(true);
  });

  it('lets each consumer department run its procedures', () => {
    const conditionalGranted = (consumer: string, type: string, purpose: string) =>
      DEMO_GRANTS.some((g) => g.consumer === consumer && g.type === type && g.purposes.includes(purpose) && g.expiresAt === null);
    const runs: [string, string][] = [
      ['civil-affairs', 'marriage-registration-application'],
      ['housing-fund', 'housing-fund-withdrawal'],
      ['human-resources', 'talent-subsidy'],
      ['market-regulation', 'enterprise-establishment'],
    ];
    for (const [consumer, code] of runs) {
      const procedure = DEMO_PROCEDURES.find((p) => p.code === code);
      for (const material of procedure?.materials ?? []) {
        if (typeOf(material).sharing === 'conditional')
          expect(conditionalGranted(consumer, material, code), `${consumer}/${material}`).toBe(true);
      }
    }
  });

  it('gives every client a known department, valid roles and a unique id', () => {
    expect(new Set(DEMO_CLIENTS.map((c) => c.clientId)).size).toBe(DEMO_CLIENTS.length);
    for (const client of DEMO_CLIENTS) {
      expect(departmentCodes.has(client.department), client.clientId).toBe(true);
      for (const role of client.roles) expect(ROLES).toContain(role);
    }
    for (const consumer of new Set(DEMO_GRANTS.map((g) => g.consumer))) {
      expect(
        DEMO_CLIENTS.some((c) => c.department === consumer && c.roles.includes('consumer')),
        consumer,
      ).toBe(true);
    }
    for (const role of ['auditor', 'portal', 'admin', 'provider'] as const)
      expect(DEMO_CLIENTS.some((c) => c.roles.includes(role))).toBe(true);
  });
});

describe('demo subjects and records', () => {
  const dataset = createDemoDataset();
  const now = new Date(`${DEMO_REFERENCE_DATE}T23:59:59Z`);

  it('has about 30 people and 12 enterprises with valid, unique ids', () => {
    expect(dataset.people).toHaveLength(30);
    expect(dataset.enterprises).toHaveLength(12);
    expect(dataset.subjects).toEqual([...dataset.people, ...dataset.enterprises]);
    expect(new Set(dataset.subjects.map((s) => s.id)).size).toBe(42);
    for (const person of dataset.people) {
      expect(person.kind).toBe('person');
      expect(validateResidentId(person.id, now)).toEqual({ ok: true, id: person.id });
    }
    for (const enterprise of dataset.enterprises) {
      expect(enterprise.kind).toBe('enterprise');
      expect(validateCreditCode(enterprise.id)).toEqual({ ok: true, id: enterprise.id });
    }
  });

  it('holds exactly the records it lists, of the right subject kind, each valid against its schema', () => {
    const ajv = addFormats(new Ajv({ strict: true, allErrors: true }));
    const validators = new Map(DEMO_TYPES.map((t) => [t.type, ajv.compile(t.schema)]));
    let checked = 0;
    for (const subject of dataset.subjects) {
      for (const type of DEMO_TYPES) {
        const record = dataset.record(type.type, subject.id);
        expect(record !== undefined, `${subject.name} ${type.type}`).toBe(subject.holds.includes(type.type));
        if (record === undefined) continue;
        expect(type.subjectKind).toBe(subject.kind);
        const validate = validators.get(type.type);
        expect(validate?.(record), `${subject.name} ${type.type}: ${ajv.errorsText(validate?.errors)}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('keeps household registration consistent with the resident ID', () => {
    for (const person of dataset.people) {
      const record = dataset.record('household-registration', person.id);
      if (record === undefined) continue;
      expect(record.name).toBe(person.name);
      expect(String(record.birthDate).replaceAll('-', '')).toBe(person.id.slice(6, 14));
      expect(record.gender).toBe(Number(person.id.charAt(16)) % 2 === 1 ? 'male' : 'female');
    }
  });

  it('has gaps, so cases show materials to submit', () => {
    for (const procedure of DEMO_PROCEDURES) {
      const applicants = procedureSubjectKind(procedure.code) === 'person' ? dataset.people : dataset.enterprises;
      const incomplete = applicants.filter((s) => procedure.materials.some((m) => !s.holds.includes(m)));
      expect(incomplete.length, procedure.code).toBeGreaterThan(0);
    }
  });

  it('puts showcase subjects first, holding every material of their procedures', () => {
    const person = DEMO_PEOPLE[DEMO_SHOWCASE_PERSON_INDEX];
    const enterprise = DEMO_ENTERPRISES[DEMO_SHOWCASE_ENTERPRISE_INDEX];
    for (const procedure of DEMO_PROCEDURES) {
      const subject = procedureSubjectKind(procedure.code) === 'person' ? person : enterprise;
      for (const material of procedure.materials) expect(subject?.holds, `${procedure.code}/${material}`).toContain(material);
    }
    expect(dataset.record('business-licence', enterprise?.id ?? '')?.status).toBe('active');
    expect(dataset.record('tax-clearance', enterprise?.id ?? '')?.clear).toBe(true);
    expect(dataset.record('marriage-registration', person?.id ?? '')?.status).toBe('married');
  });

  it('is deterministic and returns records as copies', () => {
    const again = createDemoDataset();
    expect(again.subjects).toEqual(dataset.subjects);
    expect(DEMO_PEOPLE).toEqual(dataset.people);
    expect(DEMO_ENTERPRISES).toEqual(dataset.enterprises);
    for (const subject of dataset.subjects) {
      for (const type of subject.holds) expect(again.record(type, subject.id)).toEqual(dataset.record(type, subject.id));
    }
    const id = DEMO_PEOPLE[0]?.id ?? '';
    const first = dataset.record('household-registration', id);
    if (first !== undefined) first.name = 'changed';
    expect(dataset.record('household-registration', id)?.name).toBe(DEMO_PEOPLE[0]?.name);
  });

  it('looks records up by normalised id and knows nothing of strangers', () => {
    const enterprise = dataset.enterprises[0];
    expect(dataset.record('business-licence', enterprise?.id.toLowerCase() ?? '')).toBeDefined();
    expect(dataset.record('business-licence', '91350100M000100Y43')).toBeUndefined();
    expect(dataset.record('no-such-type', enterprise?.id ?? '')).toBeUndefined();
  });

  it('keeps the withheld criminal record type for everyone, with exactly one record', () => {
    const withRecord = dataset.people.filter((p) => dataset.record('criminal-record', p.id)?.hasRecord === true);
    expect(withRecord).toHaveLength(1);
  });
});
