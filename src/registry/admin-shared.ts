import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditRouteConfig } from '../audit/route-facts.js';
import { problems, ref, type ContractApp, type PathParamsSchema, type SchemaName } from '../openapi.js';

/** What an admin change did to its resource, as the `admin.change` audit event says. */
export type Change = 'created' | 'updated' | 'deleted' | 'revoked';

export type Resource = 'department' | 'client' | 'type' | 'grant' | 'procedure';

/**
 * Writes the `admin.change` event and waits for its commit. Routes call it before they touch the
 * registry, so no change ever exists without its event: if the write after it fails, the operator
 * sees the error and the trail shows what was attempted. Never pass a secret here.
 */
export async function recordChange(
  app: FastifyInstance,
  request: FastifyRequest,
  change: { resource: Resource; key: string; change: Change; type?: string; extra?: Record<string, unknown> },
): Promise<void> {
  await app.audit.record(request, {
    action: 'admin.change',
    outcome: 'ok',
    type: change.type ?? null,
    detail: { resource: change.resource, key: change.key, change: change.change, ...change.extra },
  });
}

/**
 * A params schema built from path parameters of gateway.yaml (`components/parameters`), so a path
 * segment is validated by the same pattern the contract documents.
 */
export function pathParams<K extends string>(app: FastifyInstance, params: Record<K, string>): PathParamsSchema<K> {
  const defined = (app.openapi.components.parameters ?? {}) as Record<string, { schema?: unknown } | undefined>;
  const properties = Object.fromEntries(
    Object.entries<string>(params).map(([name, component]) => {
      const schema = defined[component]?.schema;
      if (!schema) throw new Error(`gateway.yaml has no components/parameters/${component}`);
      return [name, schema];
    }),
  );
  const required = Object.keys(params).filter((name): name is K => Object.hasOwn(params, name));
  return { type: 'object', properties, required, additionalProperties: false };
}

/** `GET path`: a whole registry collection (`list` answers `{ <member>: [...] }`, the `schema` of the contract). */
export function listRoute(app: ContractApp, path: string, schema: SchemaName, list: () => Promise<Record<string, unknown[]>>): void {
  app.get(path, { schema: { response: { 200: ref(schema), ...problems(401, 403, 429) } } }, list);
}

/**
 * The answer of an admin PUT once stored: reloads this replica's registry (so the change applies here
 * at once) and answers the stored item, 200 when it replaced one, 201 when it is new.
 */
export async function sendStored(app: FastifyInstance, reply: FastifyReply, existed: boolean, stored: () => Promise<unknown>) {
  await app.registry.reload();
  return reply.code(existed ? 200 : 201).send(await stored());
}

/**
 * Options of an admin PUT that creates or replaces the item at `params`: audited as `admin.change`
 * (`audit` adds what a refusal records), answering the stored item (200 replaced, 201 created).
 */
export function putOptions<K extends string, B extends SchemaName, R extends SchemaName>(
  params: PathParamsSchema<K>,
  schemas: { body: B; item: R; refusals: number[] },
  audit: AuditRouteConfig = { action: 'admin.change' },
) {
  return {
    config: { audit },
    schema: {
      params,
      body: ref(schemas.body),
      response: { 200: ref(schemas.item), 201: ref(schemas.item), ...problems(...schemas.refusals) },
    },
  };
}
