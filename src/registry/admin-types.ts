import { problem } from '../errors.js';
import { problems, ref, type ContractApp } from '../openapi.js';
import { listRoute, pathParams, putOptions, recordChange, sendStored } from './admin-shared.js';
import type { TypeDef } from './model.js';
import { findType, listTypes, upsertType } from './repository.js';
import { checkTypeDefinition } from './validate.js';

/** Catalogue types with their schemas and adapters (`/v1/admin/types`). */
export default async function adminTypeRoutes(app: ContractApp) {
  const params = pathParams(app, { type: 'TypeCode' });

  listRoute(app, '/v1/admin/types', 'TypeList', async () => ({ types: await listTypes(app.db) }));

  app.get(
    '/v1/admin/types/:type',
    { schema: { params, response: { 200: ref('TypeDefinition'), ...problems(400, 401, 403, 404, 429) } } },
    async (request) => {
      const type = await findType(app.db, request.params.type);
      if (!type) throw problem('NOT_FOUND', `no catalogue type "${request.params.type}"`);
      return type;
    },
  );

  app.put(
    '/v1/admin/types/:type',
    putOptions(params, { body: 'TypeDefinitionPut', item: 'TypeDefinition', refusals: [400, 401, 403, 409, 429, 503] }),
    async (request, reply) => {
      const key = request.params.type;
      const def: TypeDef = { type: key, ...request.body };
      // Checked against the registry as stored now, not a view another replica may have changed.
      const registry = await app.registry.reload();
      checkTypeDefinition(def, registry, { allowedHosts: app.adapters.allowedHosts, hasBuiltin: app.adapters.hasBuiltin });
      const existed = registry.types.has(key);
      await recordChange(app, request, { resource: 'type', key, change: existed ? 'updated' : 'created', type: key });
      await upsertType(app.db, def);
      return sendStored(app, reply, existed, () => findType(app.db, key));
    },
  );
}
