/**
 * fast-check arbitraries built from the JSON Schemas of openapi/gateway.yaml (issue 9): values that
 * satisfy a schema, and mutations of them that a hostile client would send — wrong types, missing
 * and extra members, boundary lengths, NUL, lone surrogates, BOM, combining marks, right-to-left
 * text, emoji, leap seconds, year 0000 and huge numbers.
 */
import fc from 'fast-check';

export type Schema = Record<string, unknown>;

/** Plausible values by member name, so valid requests get past the registry into the flows. */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

export const NASTY_STRINGS = [
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '\ufeff',
  '\ufeffHF-1',
  'e\u0301\u0301\u0301',
  '\u202eevil\u202c',
  'مرحبا',
  '😀👩‍👩‍👧',
  '\r\n=HYPERLINK("x")',
  '@SUM(A1)',
  ' ',
  '',
  '%00',
  '../../etc/passwd',
  '2016-12-31T23:59:60Z',
  '0000-01-01T00:00:00Z',
  '2026-06-30T23:59:60+08:00',
  '9999-12-31T23:59:59Z',
  '1e309',
  'null',
];

export const NASTY_NUMBERS = [1e308, -1e308, 2 ** 63, -(2 ** 53) - 1, 1.5, -1, 0, 4294967296, 1e-300];

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

/** Resolves `#/components/...` references against the document. */
export function resolver(doc: Schema): (schema: Schema) => Schema {
  const resolve = (schema: Schema): Schema => {
    const ref = schema.$ref;
    if (typeof ref !== 'string' || !ref.startsWith('#/')) return schema;
    const target = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Schema | undefined)?.[key], doc);
    return resolve((target ?? {}) as Schema);
  };
  return resolve;
}

function codePoints(s: string): number {
  return [...s].length;
}

/** Values that satisfy `schema` (as far as the generator knows; the test judges each with Ajv). */
export function valid(schema: Schema, resolve: (s: Schema) => Schema, hints: Hints = {}, depth = 0): fc.Arbitrary<unknown> {
  const s = resolve(schema);
  if ('const' in s) return fc.constant(s.const);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
  const variants = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
  if (Array.isArray(variants)) return fc.oneof(...variants.map((v) => valid(v, resolve, hints, depth + 1)));
  if (Array.isArray(s.type)) return fc.oneof(...(s.type as string[]).map((t) => valid({ ...s, type: t }, resolve, hints, depth)));
  switch (s.type) {
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, Schema>;
      const required = (s.required ?? []) as string[];
      const entries = Object.entries(props);
      if (entries.length === 0) {
        return depth > 2
          ? fc.constant({})
          : fc.dictionary(fc.constantFrom('type', 'a', 'properties', 'x'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 });
      }
      const model = Object.fromEntries(
        entries.map(([name, p]) => {
          const generated = valid(p, resolve, hints, depth + 1);
          const hint = hints[name];
          return [name, hint ? fc.oneof({ weight: 4, arbitrary: hint }, { weight: 1, arbitrary: generated }) : generated];
        }),
      );
      return fc.record(model, { requiredKeys: required.filter((k) => k in props) });
    }
    case 'array': {
      const items = (s.items ?? {}) as Schema;
      const minLength = Number(s.minItems ?? 0);
      const maxLength = Math.max(minLength, Math.min(Number(s.maxItems ?? 3), 3));
      const item = valid(items, resolve, hints, depth + 1);
      return s.uniqueItems
        ? fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) })
        : fc.array(item, { minLength, maxLength });
    }
    case 'string':
      return stringOf(s);
    case 'integer':
      return fc.integer({ min: Number(s.minimum ?? -5), max: Number(s.maximum ?? 1000) });
    case 'number':
      return fc.double({ min: Number(s.minimum ?? -1e6), max: Number(s.maximum ?? 1e6), noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    default:
      return fc.jsonValue({ maxDepth: 1 });
  }
}

function stringOf(s: Schema): fc.Arbitrary<string> {
  const min = Number(s.minLength ?? 0);
  const max = Number(s.maxLength ?? 40);
  const fits = (v: string) => codePoints(v) >= min && codePoints(v) <= max;
  if (s.format === 'date-time')
    return fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2035-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString());
  if (s.format === 'date')
    return fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2035-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString().slice(0, 10));
  if (s.format === 'uuid') return fc.uuid();
  if (s.format === 'uri')
    return fc.constantFrom('http://127.0.0.1:4101/lookup', 'https://provider.gov.example/x', 'http://127.0.0.1:6379/');
  if (typeof s.pattern === 'string') {
    const pattern = new RegExp(s.pattern, 'u');
    const matching = fc.stringMatching(pattern).filter(fits);
    // Familiar values where the pattern takes them; filtered here, never by fast-check: a filter no
    // value passes (e.g. a UUID pattern) would retry forever.
    const familiar = ['a', 'ab-1', 'HF-2026-000001'].filter((v) => pattern.test(v) && fits(v));
    return familiar.length > 0 ? fc.oneof(matching, fc.constantFrom(...familiar)) : matching;
  }
  return fc.oneof(text, fc.string({ unit: 'grapheme-ascii', minLength: min, maxLength: Math.min(max, 24) })).filter(fits);
}

/** Every place in a JSON value, as a path of keys. */
function places(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [path];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...places(v, [...path, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...places(v, [...path, k]));
  return out;
}

function setAt(value: unknown, path: Array<string | number>, replace: (old: unknown) => unknown): unknown {
  if (path.length === 0) return replace(value);
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
  const [head, ...rest] = path;
  copy[head!] = setAt(copy[head!], rest, replace);
  return copy;
}

export type Mutation = 'wrongType' | 'remove' | 'extra' | 'nastyString' | 'long' | 'nastyNumber' | 'notAnObject';

/** A hostile variant of a valid value: one change somewhere in it. */
export function mutated(validValue: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc
    .tuple(
      validValue,
      fc.nat(),
      fc.constantFrom<Mutation>('wrongType', 'remove', 'extra', 'nastyString', 'nastyString', 'long', 'nastyNumber', 'notAnObject'),
      fc.constantFrom(...NASTY_STRINGS),
      fc.constantFrom(...NASTY_NUMBERS),
      fc.constantFrom<unknown>(42, 'x', true, null, [], {}, [1, 2], { a: 1 }),
    )
    .map(([value, pick, kind, nastyString, nastyNumber, other]) => {
      const all = places(value);
      const path = all[pick % all.length]!;
      const parent = path.slice(0, -1);
      switch (kind) {
        case 'wrongType':
          return setAt(value, path, () => other);
        case 'remove': {
          if (path.length === 0) return undefined;
          const key = path[path.length - 1]!;
          return setAt(value, parent, (p) => {
            if (Array.isArray(p)) return p.filter((_v, i) => i !== key);
            const { [key]: _gone, ...rest } = p as Record<string, unknown>;
            return rest;
          });
        }
        case 'extra':
          return setAt(value, path, (v) =>
            v && typeof v === 'object' && !Array.isArray(v)
              ? { ...v, unexpected: nastyString }
              : Array.isArray(v)
                ? [...v, nastyString]
                : v,
          );
        case 'nastyString':
          return setAt(value, path, (v) => (typeof v === 'string' ? (pick % 3 === 0 ? v + nastyString : nastyString) : nastyString));
        case 'long':
          return setAt(value, path, (v) => (typeof v === 'string' ? v + 'x'.repeat(65 + (pick % 200)) : v));
        case 'nastyNumber':
          return setAt(value, path, () => nastyNumber);
        case 'notAnObject':
          return other;
      }
    });
}
