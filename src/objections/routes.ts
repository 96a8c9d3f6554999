import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { problem } from '../errors.js';
import { problems, ref, subjectRoute, type ContractApp } from '../openapi.js';
import { pathParams } from '../registry/admin-shared.js';
import { parseSubject } from '../subjects/index.js';
import {
  findObjection,
  insertObjection,
  isDisclosedAccess,
  listForSubject,
  listForTypes,
  resolveObjection,
  type Objection,
  type ObjectionStatus,
} from './repository.js';

/** At most this many objections per answer (a person's list; a provider's queue, oldest first). */
const MAX_LISTED = 500;

/** PortalObjection of gateway.yaml: what the person sees. */
function portalView(o: Objection) {
  return {
    objectionId: o.objectionId,
    status: o.status,
    type: o.type,
    field: o.field,
    statement: o.statement,
    ...(o.response === null ? {} : { response: o.response }),
    createdAt: o.createdAt,
    ...(o.resolvedAt === null ? {} : { resolvedAt: o.resolvedAt }),
  };
}

/**
 * Objections (异议): the citizen portal files and lists them for a person; the provider
 * department's staff system (role `provider`) lists those to its types, with the subject id it
 * needs to find the record, and resolves them. Every step is an audit event, refusals included;
 * the raw subject id never reaches the trail (HMAC and masked form only).
 */
export default async function objectionRoutes(app: ContractApp) {
  const portal = app.requireRoles('portal');
  const provider = app.requireRoles('provider');

  const providerView = (o: Objection) => ({
    ...portalView(o),
    provider: o.provider,
    lookupId: o.lookupId,
    subject: { kind: o.subjectKind, id: app.objections.open(o.objectionId, o.subjectSealed) },
  });

  app.post(
    '/v1/portal/objections',
    {
      onRequest: portal,
      config: { audit: { action: 'objection.file', subject: 'subject', type: 'type' } },
      schema: { body: ref('ObjectionCreate'), response: { 201: ref('ObjectionCreated'), ...problems(400, 401, 403, 404, 422, 429, 503) } },
    },
    async (request, reply) => {
      const { subject, type: typeCode, field, lookupId, statement } = request.body;
      const snapshot = await app.registry.get();
      const type = snapshot.types.get(typeCode);
      if (!type) throw problem('UNKNOWN_TYPE', `type ${typeCode} is not in the catalogue`);
      const parsed = parseSubject(subject, type.subjectKind);
      if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
      if (field !== undefined && !type.fields.some((f) => f.name === field)) {
        throw problem('VALIDATION_FAILED', `body/field: ${typeCode} has no field ${field}`);
      }
      const described = app.audit.describeSubject(parsed.subject);
      if (
        lookupId !== undefined &&
        !(await isDisclosedAccess(app.db, { lookupId, subjectHmac: described.hmac, type: type.type, now: app.clock() }))
      ) {
        throw problem('NOT_FOUND', `no access ${lookupId} to this subject's ${typeCode}`);
      }
      const objection: Objection = {
        objectionId: randomUUID(),
        type: type.type,
        provider: type.provider,
        subjectKind: parsed.subject.kind,
        subjectHmac: described.hmac,
        subjectSealed: '',
        field: field ?? null,
        lookupId: lookupId ?? null,
        statement,
        status: 'open',
        response: null,
        createdAt: app.clock().toISOString(),
        resolvedAt: null,
      };
      objection.subjectSealed = app.objections.seal(objection.objectionId, parsed.subject.id);
      // The event first (as for admin changes): no objection exists without it. The statement is
      // the person's free text and stays out of the trail.
      await app.audit.record(request, {
        action: 'objection.file',
        outcome: 'ok',
        type: type.type,
        provider: type.provider,
        subject: parsed.subject,
        detail: { objectionId: objection.objectionId, field: objection.field, lookupId: objection.lookupId },
      });
      await insertObjection(app.db, { ...objection, filedBy: request.principal!.clientId });
      app.objections.disputes.invalidate();
      return reply.code(201).send({
        objectionId: objection.objectionId,
        status: objection.status,
        type: objection.type,
        provider: objection.provider,
        createdAt: objection.createdAt,
      });
    },
  );

  app.post(
    '/v1/portal/objections/search',
    subjectRoute(portal, 'objection.search', { body: 'ObjectionSearchRequest', response: 'ObjectionSearchResponse' }),
    async (request) => {
      const parsed = parseSubject(request.body.subject);
      if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
      const objections = await listForSubject(app.db, app.audit.describeSubject(parsed.subject).hmac, MAX_LISTED);
      await app.audit.record(request, {
        action: 'objection.search',
        outcome: 'ok',
        subject: parsed.subject,
        detail: { returned: objections.length },
      });
      return { objections: objections.map(portalView) };
    },
  );

  /** Types the caller's department provides: its objections, and no other department's. */
  async function providedTypes(request: FastifyRequest): Promise<Set<string>> {
    const snapshot = await app.registry.get();
    const department = request.principal!.department;
    return new Set([...snapshot.types.values()].filter((t) => t.provider === department).map((t) => t.type));
  }

  app.get<{ Querystring: { status: ObjectionStatus } }>(
    '/v1/objections',
    {
      onRequest: provider,
      config: { audit: { action: 'objection.list' } },
      schema: {
        querystring: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['open', 'corrected', 'rejected'], default: 'open' } },
          additionalProperties: false,
        },
        response: { 200: ref('ProviderObjectionList'), ...problems(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const { status } = request.query;
      const objections = await listForTypes(app.db, [...(await providedTypes(request))], status, MAX_LISTED);
      // Each listed objection discloses its subject id to this department: the trail names them.
      await app.audit.record(request, {
        action: 'objection.list',
        outcome: 'ok',
        detail: { status, returned: objections.length, objectionIds: objections.map((o) => o.objectionId) },
      });
      return { objections: objections.map(providerView) };
    },
  );

  app.post(
    '/v1/objections/:objectionId/resolution',
    {
      onRequest: provider,
      config: { audit: { action: 'objection.resolve' } },
      schema: {
        params: pathParams(app, { objectionId: 'ObjectionId' }),
        body: ref('ObjectionResolution'),
        response: { 200: ref('ProviderObjection'), ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => {
      const { objectionId } = request.params;
      const found = await findObjection(app.db, objectionId);
      // Another department's objection reads as missing: its existence is none of the caller's business.
      if (!found || !(await providedTypes(request)).has(found.type))
        throw problem('NOT_FOUND', `no objection ${objectionId} to a type of this department`);
      if (found.status !== 'open') throw problem('CONFLICT', `objection ${objectionId} is already ${found.status}`);
      const subject = { kind: found.subjectKind, id: app.objections.open(found.objectionId, found.subjectSealed) };
      const facts = { type: found.type, provider: found.provider, subject, detail: { objectionId, status: request.body.status } };
      await app.audit.record(request, { action: 'objection.resolve', outcome: 'ok', ...facts });
      const resolved = await resolveObjection(app.db, objectionId, {
        status: request.body.status,
        response: request.body.response,
        resolvedBy: request.principal!.clientId,
        resolvedAt: app.clock().toISOString(),
      });
      if (!resolved) {
        // Another resolution won between the read and the update: that refusal is recorded too.
        request.auditRecorded = false;
        throw problem('CONFLICT', `objection ${objectionId} was resolved meanwhile`);
      }
      app.objections.disputes.invalidate();
      return providerView(resolved);
    },
  );
}
