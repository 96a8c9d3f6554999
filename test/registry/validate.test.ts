import { describe, expect, it } from 'vitest';
import { parseAllowedHosts } from '../../src/adapters/allowed-hosts.js';
import { AppError } from '../../src/errors.js';
import type { TypeDef } from '../../src/registry/model.js';
import { checkGrant, checkProcedure, checkTypeDefinition } from '../../src/registry/validate.js';
import { DEMO_DEPARTMENTS, demoTypeDefs } from '../../src/demo/data.js';

const types = demoTypeDefs();
const registry = {
  departments: new Map(DEMO_DEPARTMENTS.map((d) => [d.code, d])) as never,
  types: new Map(types.map((t) => [t.type, t])),
  procedures: new Map([['housing-fund-withdrawal', {}]]) as never,
};
const context = {
  allowedHosts: parseAllowedHosts('127.0.0.1,10.0.0.0/8,provider.gov.example', '1-65535'),
  hasBuiltin: (name: string) => name === 'public-security',
};

function refusal(fn: () => void): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return { code: (err as AppError).code, message: (err as AppError).message };
  }
  throw new Error('expected a refusal');
}

const contributions = types.find((t) => t.type === 'social-insurance-contributions')!;
const withDef = (over: Partial<TypeDef>): TypeDef => ({
  ...contributions,
  adapter: { kind: 'http', url: 'https://provider.gov.example/x', timeoutMs: 1000 },
  provider: 'human-resources',
  ...over,
});

describe('checkTypeDefinition', () => {
  it('accepts every demo type as the demo defines it', () => {
    for (const t of types)
      checkTypeDefinition({ ...t, adapter: { kind: 'http', url: 'http://10.1.2.3:8080/lookup', timeoutMs: 3000 } }, registry, context);
  });

  it('takes a record type’s fields from the columns of its rows', () => {
    expect(
      refusal(() =>
        checkTypeDefinition(
          withDef({ fields: [...contributions.fields, { name: 'rows', title: 'x', sensitive: false }] }),
          registry,
          context,
        ),
      ).message,
    ).toMatch(/rows are not in the schema's properties\.rows\.items\.properties/);
    const flat = { type: 'object', properties: { month: { type: 'string' } } };
    expect(refusal(() => checkTypeDefinition(withDef({ schema: flat }), registry, context)).message).toMatch(
      /must describe \{rows: \[\.\.\.\]\}/,
    );
  });

  it('refuses a schema that is not an object schema', () => {
    const r = refusal(() => checkTypeDefinition(withDef({ kind: 'certificate', schema: { type: 'array', items: {} } }), registry, context));
    expect(r).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/must describe an object/) });
  });

  it('reports a definition wrong in itself before a provider that is not registered', () => {
    expect(
      refusal(() => checkTypeDefinition(withDef({ provider: 'nobody', adapter: { kind: 'builtin', name: 'nobody' } }), registry, context))
        .code,
    ).toBe('VALIDATION_FAILED');
    expect(refusal(() => checkTypeDefinition(withDef({ provider: 'nobody' }), registry, context)).code).toBe('CONFLICT');
  });
});

describe('checkGrant and checkProcedure', () => {
  const grant = {
    grantId: 'g',
    consumer: 'housing-fund',
    type: 'social-insurance-contributions',
    purposes: ['housing-fund-withdrawal'],
    fields: ['month'],
    verifyOnly: false,
    expiresAt: null,
  };

  it('accepts a grant naming registered things and refuses each unregistered one with CONFLICT', () => {
    checkGrant(grant, registry);
    for (const over of [{ consumer: 'x' }, { type: 'x' }, { purposes: ['x'] }, { fields: ['base', 'x'] }]) {
      expect(refusal(() => checkGrant({ ...grant, ...over }, registry)).code).toBe('CONFLICT');
    }
  });

  it('refuses materials that are not registered types', () => {
    checkProcedure({ code: 'p', title: 'P', materials: ['household-registration'] }, registry);
    expect(refusal(() => checkProcedure({ code: 'p', title: 'P', materials: ['household-registration', 'x'] }, registry)).message).toMatch(
      /"x"/,
    );
  });
});
