import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PathParamsSchema } from '../openapi.js';

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
