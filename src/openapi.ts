import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  onRequestAsyncHookHandler,
  FastifyTypeProvider,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { AuditAction } from './audit/event.js';
import type { components } from './client/gateway.js';

/**
 * openapi/gateway.yaml is the single source of the HTTP contract: its component schemas are
 * registered with Fastify and every route validates and serialises through them, so the
 * document cannot drift from what the code accepts and returns.
 */
export const OPENAPI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../openapi');
export const SCHEMA_ID = 'onetrip';

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown> } & Record<string, unknown>;
  [k: string]: unknown;
}

export function loadGatewayDocument(): OpenApiDocument {
  return parse(readFileSync(path.join(OPENAPI_DIR, 'gateway.yaml'), 'utf8')) as OpenApiDocument;
}

/** The shared schema Fastify gets: only the component schemas, under `$id: onetrip`. */
export function sharedSchema(doc: OpenApiDocument): Record<string, unknown> {
  return { $id: SCHEMA_ID, components: { schemas: doc.components.schemas } };
}

/** The names of gateway.yaml's schemas, as generated into src/client/gateway.d.ts. */
export type SchemaName = keyof components['schemas'];

/**
 * The TypeScript type of one of gateway.yaml's schemas: what a route's body, query or answer is
 * once validated, so the contract, the validation and the code cannot drift (issue 11.4).
 */
export type Schema<N extends SchemaName> = components['schemas'][N];

/** A route schema's reference to one of gateway.yaml's schemas, carrying the schema's name in its type. */
export interface SchemaRef<N extends SchemaName> {
  $ref: `${typeof SCHEMA_ID}#/components/schemas/${N}`;
}

/** A params schema of named path parameters (src/registry/admin-shared.ts `pathParams`). */
export interface PathParamsSchema<K extends string> {
  type: 'object';
  properties: Record<string, unknown>;
  required: K[];
  additionalProperties: false;
}

/** A route schema reference to a component of gateway.yaml. */
export function ref<N extends SchemaName>(name: N): SchemaRef<N> {
  return { $ref: `${SCHEMA_ID}#/components/schemas/${name}` };
}

/**
 * Types a route's body and querystring from its schema: with `body: ref('GrantPut')`, `request.body`
 * is a `Schema<'GrantPut'>`, so the schema is named once and the handler cannot drift from what is
 * validated. Replies stay untyped here; serialisation checks them against the same schemas.
 */
export interface ContractTypeProvider extends FastifyTypeProvider {
  readonly validator: this['schema'] extends SchemaRef<infer N>
    ? Schema<N>
    : this['schema'] extends PathParamsSchema<infer K>
      ? Record<K, string>
      : unknown;
  readonly serializer: unknown;
}

/** The instance a route plugin gets when its requests are typed from the contract. */
export type ContractApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ContractTypeProvider
>;

/** Every problem+json response a route can give, referenced for serialisation. */
export function problems(...statuses: number[]): Record<number, { $ref: string }> {
  return Object.fromEntries(statuses.map((s) => [s, ref('Problem')]));
}

/**
 * Options of a POST that answers what concerns one person or enterprise, named by the body's
 * `subject`: the role check, the audit action (a refusal records the subject) and the schemas.
 */
export function subjectRoute<B extends SchemaName, R extends SchemaName>(
  onRequest: onRequestAsyncHookHandler,
  action: AuditAction,
  schemas: { body: B; response: R },
) {
  return {
    onRequest,
    config: { audit: { action, subject: 'subject' } },
    schema: { body: ref(schemas.body), response: { 200: ref(schemas.response), ...problems(400, 401, 403, 422, 429, 503) } },
  };
}
