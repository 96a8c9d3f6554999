import { problem } from '../errors.js';
import { problems, ref, subjectRoute, type ContractApp, type Schema } from '../openapi.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { parseSubject } from '../subjects/index.js';
import { listCheckpoints } from './checkpoints.js';
import { EXPORT_MEDIA_TYPES, exportStream, negotiateExportFormat } from './export.js';
import { decodeCursor, searchEvents, type AuditQueryFilters } from './query.js';
import { listSubjectAccesses, type DisplayNames } from './tracker.js';
import { verifyDatabase } from './verify.js';

/** The audit filters (AuditExportRequest; AuditSearchRequest adds `limit` and `cursor`). */
type AuditRequestFilters = Schema<'AuditExportRequest'>;

function cursorSeq(cursor: string | undefined): number | null {
  if (cursor === undefined) return null;
  const seq = decodeCursor(cursor);
  if (seq === null) throw problem('VALIDATION_FAILED', 'body/cursor is not a cursor this gateway issued');
  return seq;
}

/** The filters as recorded in the auditor's own event: everything but the subject, which goes in as HMAC + masked. */
function recordedFilters(body: AuditRequestFilters): Record<string, unknown> {
  const { subject: _subject, ...rest } = body;
  return rest;
}

function namesFrom(snapshot: RegistrySnapshot): DisplayNames {
  return {
    department: (code) => snapshot.departments.get(code)?.name ?? null,
    typeTitle: (type) => snapshot.types.get(type)?.title ?? null,
    procedureTitle: (code) => snapshot.procedures.get(code)?.title ?? null,
  };
}

/**
 * The audit trail for auditors (search, export, verify) and the data tracker for auditors and the
 * citizen portal. Every read of the trail is itself an audit event, written before the answer.
 */
export default async function auditRoutes(app: ContractApp) {
  const auditor = app.requireRoles('auditor');
  const auditorOrPortal = app.requireRoles('auditor', 'portal');
  const toQuery = (body: AuditRequestFilters): AuditQueryFilters => {
    const { subject, ...rest } = body;
    return { ...rest, subjectHmac: subject ? app.audit.describeSubject(subject).hmac : undefined };
  };

  app.post(
    '/v1/audit/search',
    {
      onRequest: auditor,
      config: {
        audit: { action: 'audit.search', subject: 'subject', type: 'type', purpose: 'purpose', caseId: 'caseId', officer: 'officer' },
      },
      schema: { body: ref('AuditSearchRequest'), response: { 200: ref('AuditSearchResponse'), ...problems(400, 401, 403, 429, 503) } },
    },
    async (request) => {
      const { limit, cursor, ...filters } = request.body;
      const page = await searchEvents(app.db, toQuery(filters), { limit, before: cursorSeq(cursor) });
      await app.audit.record(request, {
        action: 'audit.search',
        outcome: 'ok',
        subject: filters.subject ?? null,
        detail: { filters: recordedFilters(filters), limit, page: cursor === undefined ? 'first' : 'next', returned: page.items.length },
      });
      return { events: page.items, nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/v1/audit/export',
    {
      onRequest: auditor,
      config: {
        audit: { action: 'audit.export', subject: 'subject', type: 'type', purpose: 'purpose', caseId: 'caseId', officer: 'officer' },
      },
      schema: {
        body: ref('AuditExportRequest'),
        response: {
          200: {
            content: {
              [EXPORT_MEDIA_TYPES.ndjson]: { schema: { type: 'string' } },
              [EXPORT_MEDIA_TYPES.csv]: { schema: { type: 'string' } },
            },
          },
          ...problems(400, 401, 403, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const format = negotiateExportFormat(request.headers.accept);
      if (!format) throw problem('VALIDATION_FAILED', `Accept must allow ${EXPORT_MEDIA_TYPES.ndjson} or ${EXPORT_MEDIA_TYPES.csv}`);
      const query = toQuery(request.body);
      // Recorded before the first byte: the export is released only once its event is durable.
      await app.audit.record(request, {
        action: 'audit.export',
        outcome: 'ok',
        subject: request.body.subject ?? null,
        detail: { filters: recordedFilters(request.body), format },
      });
      const stream = await exportStream(app.db, query, format);
      stream.on('error', (err) => request.log.error({ err }, 'audit export ended early'));
      const ext = format === 'csv' ? 'csv' : 'ndjson';
      return reply
        .type(`${EXPORT_MEDIA_TYPES[format]}; charset=utf-8`)
        .header('content-disposition', `attachment; filename="audit-export-${request.id}.${ext}"`)
        .header('cache-control', 'no-store')
        .send(stream);
    },
  );

  app.get(
    '/v1/audit/verify',
    { onRequest: auditor, schema: { response: { 200: ref('AuditVerifyResponse'), ...problems(401, 403, 429, 503) } } },
    async (request) => {
      const { anchor, ...rest } = await verifyDatabase(app.db);
      if (!rest.ok) request.log.error({ firstBrokenSeq: rest.firstBrokenSeq, reason: rest.reason }, 'the audit chain does not verify');
      return anchor.seq > 0 ? { ...rest, anchor } : rest;
    },
  );

  // Query strings are not type-coerced (app.ts): numbers arrive as digit strings.
  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/v1/audit/checkpoints',
    {
      onRequest: auditor,
      schema: {
        querystring: {
          type: 'object',
          properties: { after: { type: 'string', pattern: '^[0-9]{1,15}$' }, limit: { type: 'string', pattern: '^[0-9]{1,4}$' } },
          additionalProperties: false,
        },
        response: { 200: ref('AuditCheckpointsResponse'), ...problems(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const limit = Number(request.query.limit ?? 100);
      if (limit < 1 || limit > 1000) throw problem('VALIDATION_FAILED', 'querystring/limit must be between 1 and 1000');
      return { checkpoints: await listCheckpoints(app.db, { after: Number(request.query.after ?? 0), limit }) };
    },
  );

  app.post(
    '/v1/audit/subject-accesses',
    subjectRoute(auditorOrPortal, 'audit.subject-accesses', { body: 'SubjectAccessesRequest', response: 'SubjectAccessesResponse' }),
    async (request) => {
      const { subject, from, to, limit, cursor } = request.body;
      const parsed = parseSubject(subject);
      if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
      const described = app.audit.describeSubject(subject);
      const before = cursorSeq(cursor);
      // Auditors see covert accesses (flagged); the portal, acting for the subject, only once disclosed.
      const disclosedBy = request.principal!.roles.includes('auditor') ? undefined : app.clock();
      const page = await listSubjectAccesses(
        app.db,
        { subjectHmac: described.hmac, from, to, limit, before, disclosedBy },
        namesFrom(await app.registry.get()),
      );
      await app.audit.record(request, {
        action: 'audit.subject-accesses',
        outcome: 'ok',
        subject,
        detail: { filters: { from, to }, limit, page: cursor === undefined ? 'first' : 'next', returned: page.items.length },
      });
      return { subject: { kind: parsed.subject.kind, id: described.masked ?? '' }, accesses: page.items, nextCursor: page.nextCursor };
    },
  );
}
