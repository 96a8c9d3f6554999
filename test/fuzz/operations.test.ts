/**
 * Schema-derived fuzzing of every operation in openapi/gateway.yaml (issue 9), read at test time so
 * operations added later are fuzzed too. Seeded and reproducible: FUZZ_SEED picks another seed,
 * FUZZ_REQUESTS another volume. Each request carries a token of a role the operation names.
 *
 * For every answer: no 5xx; every error is problem+json with the request id and never echoes the
 * path; nothing the schemas refuse is accepted (2xx). Afterwards the gateway is ready and the
 * audit chain verifies.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayDocument, type OpenApiDocument } from '../../src/openapi.js';
import { startTestGateway, type TestGateway } from '../helpers/app.js';
import { DATABASE_KINDS } from '../helpers/db.js';
import { mutated, resolver, valid, type Hints, type Schema } from './arbitraries.js';

const addFormats = addFormatsModule as unknown as FormatsPlugin;
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2400);
const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

interface Operation {
  method: string;
  path: string;
  id: string;
  roles: string[];
  pathParams: Array<{ name: string; schema: Schema }>;
  queryParams: Array<{ name: string; schema: Schema; required: boolean }>;
  body: { schema: Schema; form: boolean } | null;
}

interface FuzzRequest {
  op: Operation;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  hasBody: boolean;
  form: boolean;
  auth: 'role' | 'none' | 'garbage';
  rawSuffix: string;
  /** A body that is not what the schema describes at the byte level: broken JSON, another media type. */
  malformed: null | { payload: string; type: string };
}

/** The roles an operation names: `x-roles`, or "Role: `a`" / "Roles: `a`, `b`" in its description. */
function rolesOf(op: Record<string, unknown>): string[] {
  if (Array.isArray(op['x-roles'])) return op['x-roles'] as string[];
  const security = op.security as unknown[] | undefined;
  if (Array.isArray(security) && security.every((s) => Object.keys(s as object).length === 0 || 'clientBasic' in (s as object))) return [];
  const sentence = /Roles?\b[^.]*?((?:`[a-z]+`[\s,]*(?:or|and)?\s*)+)/.exec(String(op.description ?? ''));
  return sentence ? [...sentence[1]!.matchAll(/`([a-z]+)`/g)].map((m) => m[1]!) : ['admin'];
}

function operationsOf(doc: OpenApiDocument): Operation[] {
  const resolve = resolver(doc as unknown as Schema);
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const shared = ((item.parameters ?? []) as Schema[]).map(resolve);
    for (const method of METHODS) {
      const op = item[method] as Record<string, unknown> | undefined;
      if (!op) continue;
      const params = [...shared, ...((op.parameters ?? []) as Schema[]).map(resolve)];
      const content = ((op.requestBody as Schema | undefined)?.content ?? {}) as Record<string, { schema: Schema }>;
      const json = content['application/json'];
      const form = content['application/x-www-form-urlencoded'];
      ops.push({
        method: method.toUpperCase(),
        path,
        id: String(op.operationId ?? `${method} ${path}`),
        roles: rolesOf(op),
        pathParams: params.filter((p) => p.in === 'path').map((p) => ({ name: String(p.name), schema: p.schema as Schema })),
        queryParams: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: String(p.name), schema: p.schema as Schema, required: p.required === true })),
        body: json ? { schema: json.schema, form: false } : form ? { schema: form.schema, form: true } : null,
      });
    }
  }
  return ops;
}

/** Percent-encodes the UTF-8 bytes of a path segment (a lone surrogate becomes U+FFFD, as on the wire). */
function encodeSegment(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

function asText(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
}

describe.each(DATABASE_KINDS)('schema-derived fuzzing on %s', (kind) => {
  let gw: TestGateway;
  const doc = loadGatewayDocument();
  const ops = operationsOf(doc);
  const resolve = resolver(doc as unknown as Schema);
  const ajv = new Ajv({ strict: false, allowUnionTypes: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'fuzz', components: doc.components });
  const validators = new Map<Schema, ValidateFunction>();
  const judge = (schema: Schema, value: unknown): boolean => {
    let v = validators.get(schema);
    if (!v) {
      const ref = typeof schema.$ref === 'string' ? { $ref: `fuzz${schema.$ref}` } : schema;
      v = ajv.compile(ref);
      validators.set(schema, v);
    }
    return v(value) === true;
  };

  beforeAll(async () => {
    gw = await startTestGateway(kind, {
      env: { RATE_LIMIT_PER_MINUTE: '1000000', UNAUTH_RATE_LIMIT_PER_MINUTE: '1000000', VERIFY_BUDGET_PER_DAY: '1000000' },
    });
  });
  afterAll(async () => gw?.close());

  it(`answers ${REQUESTS} fuzzed requests over every operation without a 5xx or an accepted invalid body`, async () => {
    expect(ops.length).toBeGreaterThan(20);
    const snapshot = await gw.app.registry.get();
    const subjects = gw.subjects.map((s) => ({ kind: s.kind, id: s.id }));
    const hints: Hints = {
      type: fc.constantFrom(...snapshot.types.keys()),
      subject: fc.constantFrom(...subjects),
      applicant: fc.constantFrom(...subjects),
      purpose: fc.constantFrom(...snapshot.procedures.keys()),
      procedure: fc.constantFrom(...snapshot.procedures.keys()),
      consumer: fc.constantFrom('housing-fund', 'civil-affairs', 'taxation'),
      provider: fc.constantFrom('public-security', 'civil-affairs', 'market-regulation'),
      field: fc.constantFrom('name', 'birthDate', 'gender', 'status', 'registeredCapital'),
      grant_type: fc.constant('client_credentials'),
    };
    const tokens = new Map<string, string>();
    for (const c of gw.credentials) for (const role of c.roles) if (!tokens.has(role)) tokens.set(role, await gw.token(c.clientId));

    const requestOf = (op: Operation): fc.Arbitrary<FuzzRequest> => {
      const paramArb = fc.record(
        Object.fromEntries(
          op.pathParams.map((p) => [
            p.name,
            fc
              .oneof({ weight: 4, arbitrary: valid(p.schema, resolve) }, { weight: 1, arbitrary: mutated(valid(p.schema, resolve)) })
              .map(asText),
          ]),
        ),
      ) as fc.Arbitrary<Record<string, string>>;
      const queryArb = fc.record(
        Object.fromEntries(
          op.queryParams.map((p) => [p.name, fc.oneof(valid(p.schema, resolve), mutated(valid(p.schema, resolve))).map(asText)]),
        ),
        {
          requiredKeys: [],
        },
      ) as fc.Arbitrary<Record<string, string>>;
      const bodyValid = op.body ? valid(op.body.schema, resolve, hints) : fc.constant(undefined);
      const bodyArb = op.body
        ? fc.oneof({ weight: 2, arbitrary: bodyValid }, { weight: 3, arbitrary: mutated(bodyValid) })
        : fc.constant(undefined);
      return fc.record({
        op: fc.constant(op),
        params: paramArb,
        query: queryArb,
        body: bodyArb,
        hasBody: fc.constant(op.body !== null),
        form: fc.constant(op.body?.form === true),
        auth: fc.constantFrom<FuzzRequest['auth']>('role', 'role', 'role', 'role', 'role', 'role', 'role', 'role', 'none', 'garbage'),
        rawSuffix: fc.constantFrom('', '', '', '', '', '', '', '', '', '%E0%A4%A', '%zz', 'x'.repeat(120)),
        malformed: fc.oneof(
          { weight: 12, arbitrary: fc.constant(null) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              { payload: '{"a":', type: 'application/json' },
              { payload: '\u0000', type: 'application/json' },
              { payload: '{"__proto__":{"x":1}}', type: 'application/json' },
              { payload: '[]', type: 'application/json' },
              { payload: '{"a":1}', type: 'text/plain' },
              { payload: '\ufeff\ufeff{}', type: 'application/json' },
              { payload: '{"a":1e999999}', type: 'application/json' },
              { payload: '%zz=%E0', type: 'application/x-www-form-urlencoded' },
            ),
          },
        ),
      });
    };
    // The same share for each operation; the token endpoint is slower (scrypt) and rate-limited per route.
    const perOperation = Math.ceil(REQUESTS / ops.length);
    const requests = ops.flatMap((op, i) =>
      fc.sample(requestOf(op), { seed: SEED + i, numRuns: op.id === 'issueToken' ? Math.min(perOperation, 40) : perOperation }),
    );
    const extra = fc.sample(fc.constantFrom(...ops.filter((o) => o.id !== 'issueToken')).chain(requestOf), {
      seed: SEED - 1,
      numRuns: Math.max(0, REQUESTS - requests.length),
    });
    requests.push(...extra);

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const send = async (r: FuzzRequest): Promise<void> => {
      const path = r.op.path.replace(
        /\{(\w+)\}/g,
        (_m, name: string) =>
          encodeSegment(r.params[name] ?? '') + (r.rawSuffix && r.op.pathParams.at(-1)?.name === name ? r.rawSuffix : ''),
      );
      const search = new URLSearchParams(r.query).toString();
      const url = search ? `${path}?${search}` : path;
      const headers: Record<string, string> = {};
      const role = r.op.roles.find((x) => tokens.has(x));
      if (r.auth === 'garbage') headers.authorization = 'Bearer e30.e30.AAAA';
      else if (r.auth === 'role' && role) headers.authorization = `Bearer ${tokens.get(role)}`;
      let payload: string | undefined;
      let bodySeen: unknown = undefined;
      if (r.hasBody && r.malformed) {
        payload = r.malformed.payload;
        headers['content-type'] = r.malformed.type;
      } else if (r.hasBody && r.body !== undefined) {
        if (r.form && r.body && typeof r.body === 'object' && !Array.isArray(r.body)) {
          const entries = Object.entries(r.body as Record<string, unknown>).map(([k, v]) => [k, asText(v)] as [string, string]);
          payload = new URLSearchParams(entries).toString();
          bodySeen = Object.fromEntries(entries);
          headers['content-type'] = 'application/x-www-form-urlencoded';
        } else {
          payload = JSON.stringify(r.body);
          bodySeen = JSON.parse(payload) as unknown;
          headers['content-type'] = 'application/json';
        }
      }
      const res: LightMyRequestResponse = await gw.app.inject({
        method: r.op.method as 'GET',
        url,
        headers,
        ...(payload === undefined ? {} : { payload }),
      });
      const where = `${r.op.method} ${url} ${payload?.slice(0, 200) ?? ''}`;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500) failures.push(`${res.statusCode} for ${where}: ${res.body.slice(0, 300)}`);
      if (res.statusCode >= 400) {
        const type = String(res.headers['content-type'] ?? '');
        let body: { requestId?: unknown; code?: unknown } = {};
        try {
          body = res.json();
        } catch {
          failures.push(`${res.statusCode} not JSON for ${where}`);
        }
        const problem =
          type.startsWith('application/problem+json') || (type.startsWith('application/json') && typeof body.code === 'string');
        if (!problem || body.requestId !== res.headers['x-request-id'])
          failures.push(`${res.statusCode} not problem+json with requestId for ${where}: ${type} ${res.body.slice(0, 200)}`);
        if (r.op.pathParams.length > 0 && res.body.includes(path)) failures.push(`${res.statusCode} echoes the path for ${where}`);
      }
      if (res.statusCode < 300) {
        const decoded = Object.fromEntries(Object.entries(r.params).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('utf8')]));
        const paramsOk =
          (r.rawSuffix === '' || r.op.pathParams.length === 0) && r.op.pathParams.every((p) => judge(p.schema, decoded[p.name]));
        const bodyOk = !r.op.body || (r.malformed === null && r.body !== undefined && judge(r.op.body.schema, bodySeen));
        const queryOk = r.op.queryParams.every(
          (p) =>
            r.query[p.name] === undefined ||
            judge(p.schema, /integer|number/.test(String(p.schema.type)) ? Number(r.query[p.name]) : r.query[p.name]),
        );
        if (!paramsOk || !bodyOk || !queryOk) failures.push(`${res.statusCode} accepted an invalid request: ${where}`);
      }
    };
    const started = performance.now();
    for (let i = 0; i < requests.length; i += 8) await Promise.all(requests.slice(i, i + 8).map(send));
    const seconds = (performance.now() - started) / 1000;
    console.warn(
      `fuzz on ${kind}: ${requests.length} requests over ${ops.length} operations in ${seconds.toFixed(1)} s (seed ${SEED}); statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
    );

    expect(requests.length).toBeGreaterThanOrEqual(2000);
    // One example of each kind of failure (status and operation), so a run shows every distinct defect.
    const kinds = new Map<string, string>();
    for (const f of failures) {
      const key = f.replace(/ for (\w+) (\S+).*$/s, ' $1').slice(0, 60);
      if (!kinds.has(key)) kinds.set(key, f);
    }
    expect([...kinds.values()].slice(0, 30), `seed ${SEED}: ${failures.length} failures`).toEqual([]);
    expect((await gw.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const verify = await gw.app.inject({ url: '/v1/audit/verify', headers: { authorization: `Bearer ${tokens.get('auditor')}` } });
    expect(verify.json()).toMatchObject({ ok: true });
  }, 180_000);
});
