import { problem } from '../errors.js';
import { isGrantLive } from '../policy/access.js';
import { problems, ref, type ContractApp, type Schema } from '../openapi.js';
import { pathParams } from './admin-shared.js';
import type { Grant, TypeDef } from './model.js';
import type { RegistrySnapshot } from './snapshot.js';

/** The caller's grant for a type as the catalogue shows it. */
export type GrantView = Schema<'GrantView'>;

/**
 * Merges a department's unexpired grants for one type into one view: the purposes and fields of
 * any of them, `verifyOnly` only when every one is verify-only, and the latest expiry (`null`
 * when one of them never expires). Null when none is live: the type then reads as ungranted,
 * exactly as the policy treats it.
 */
export function grantView(type: TypeDef, grants: readonly Grant[], now: Date): GrantView | null {
  const live = grants.filter((g) => isGrantLive(g, now));
  if (live.length === 0) return null;
  const granted = new Set(live.flatMap((g) => g.fields));
  const expiries = live.map((g) => g.expiresAt);
  return {
    purposes: [...new Set(live.flatMap((g) => g.purposes))],
    // In the type's own field order; a field the type no longer has is not shown (nor served).
    fields: type.fields.map((f) => f.name).filter((name) => granted.has(name)),
    verifyOnly: live.every((g) => g.verifyOnly),
    expiresAt: expiries.includes(null) ? null : (expiries as string[]).reduce((a, b) => (new Date(b) > new Date(a) ? b : a)),
  };
}

function entry(snapshot: RegistrySnapshot, type: TypeDef, consumer: string, now: Date) {
  const { type: code, kind, title, provider, subjectKind, sharing, fields } = type;
  const consent = type.consent ?? 'none';
  return {
    type: code,
    kind,
    title,
    provider,
    subjectKind,
    sharing,
    consent,
    fields,
    grant: grantView(type, snapshot.grantsFor(consumer, code), now),
  };
}

/** The resource catalogue (资源目录) as a consumer department sees it. */
export default async function catalogRoutes(app: ContractApp) {
  const consumer = app.requireRoles('consumer');

  app.get(
    '/v1/catalog',
    { onRequest: consumer, schema: { response: { 200: ref('CatalogList'), ...problems(401, 403, 429) } } },
    async (request) => {
      const snapshot = await app.registry.get();
      const now = new Date();
      const department = request.principal!.department;
      const servable = [...snapshot.types.values()].filter((t) => t.sharing !== 'none');
      return { types: servable.map((t) => entry(snapshot, t, department, now)) };
    },
  );

  app.get(
    '/v1/catalog/:type',
    {
      onRequest: consumer,
      schema: {
        params: pathParams(app, { type: 'TypeCode' }),
        response: { 200: ref('CatalogTypeDetail'), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const snapshot = await app.registry.get();
      const type = snapshot.types.get(request.params.type);
      // A `none` type is not in the catalogue a consumer sees: it answers as unknown, not as forbidden.
      if (!type || type.sharing === 'none') throw problem('UNKNOWN_TYPE', `no catalogue type "${request.params.type}"`);
      return { ...entry(snapshot, type, request.principal!.department, new Date()), schema: type.schema };
    },
  );
}
