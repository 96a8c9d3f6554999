import { problem } from '../errors.js';
import { problems, ref, subjectRoute, type ContractApp } from '../openapi.js';
import { pathParams } from '../registry/admin-shared.js';
import type { RegistrySnapshot } from '../registry/snapshot.js';
import { parseSubject } from '../subjects/index.js';
import { statusAt, viewOf, type Consent } from './model.js';
import { decideConsent, findConsent, listConsentsOfSubject } from './repository.js';

/** How many of a subject's consents the portal lists (newest first). */
const PORTAL_LIST_LIMIT = 200;

/** What the person sees of a request: the consumer's view plus who asks and for which procedure. */
function portalView(consent: Consent, snapshot: RegistrySnapshot, now: Date) {
  return {
    ...viewOf(consent, now),
    department: { code: consent.consumer, name: snapshot.departments.get(consent.consumer)?.name ?? null },
    typeTitle: snapshot.types.get(consent.type)?.title ?? null,
    procedureTitle: snapshot.procedures.get(consent.purpose)?.title ?? null,
  };
}

/**
 * Consent and preview (ARCHITECTURE.md "Consent"): the asking department polls its request; the
 * citizen portal, acting for a person it has authenticated, lists that person's requests and
 * approves or denies them. The subject travels in the body and is matched by its HMAC.
 */
export default async function consentRoutes(app: ContractApp) {
  const consumer = app.requireRoles('consumer');
  const portal = app.requireRoles('portal');
  const params = pathParams(app, { consentId: 'ConsentId' });

  app.get(
    '/v1/consents/:consentId',
    { onRequest: consumer, schema: { params, response: { 200: ref('Consent'), ...problems(400, 401, 403, 404, 429) } } },
    async (request) => {
      const consent = await findConsent(app.db, request.params.consentId);
      // Another department's request answers as if it did not exist.
      if (!consent || consent.consumer !== request.principal!.department)
        throw problem('NOT_FOUND', 'no such consent request of this department');
      return viewOf(consent, app.consents.now());
    },
  );

  app.post(
    '/v1/portal/consents/search',
    subjectRoute(portal, 'consent.search', { body: 'PortalConsentSearchRequest', response: 'PortalConsentList' }),
    async (request) => {
      const { subject } = request.body;
      const parsed = parseSubject(subject);
      if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
      const consents = await listConsentsOfSubject(app.db, app.audit.describeSubject(subject).hmac, PORTAL_LIST_LIMIT);
      await app.audit.record(request, { action: 'consent.search', outcome: 'ok', subject, detail: { returned: consents.length } });
      const snapshot = await app.registry.get();
      const now = app.consents.now();
      return { consents: consents.map((c) => portalView(c, snapshot, now)) };
    },
  );

  app.post(
    '/v1/portal/consents/:consentId/decision',
    {
      onRequest: portal,
      config: { audit: { action: 'consent.decision', subject: 'subject' } },
      schema: {
        params,
        body: ref('ConsentDecisionRequest'),
        response: { 200: ref('PortalConsent'), ...problems(400, 401, 403, 404, 409, 422, 429, 503) },
      },
    },
    async (request) => {
      const { subject, decision } = request.body;
      const parsed = parseSubject(subject);
      if (!parsed.ok) throw problem('INVALID_SUBJECT_ID', parsed.reason);
      const consent = await findConsent(app.db, request.params.consentId);
      // Someone else's consent is answered exactly like a missing one: its existence is not revealed.
      if (!consent || consent.subjectHmac !== app.audit.describeSubject(subject).hmac)
        throw problem('NOT_FOUND', 'no such consent request for this subject');
      const now = app.consents.now();
      const status = statusAt(consent, now);
      if (status !== 'pending') throw problem('CONFLICT', `the consent request is ${status}, not pending`);
      const decided = await decideConsent(app.db, consent.consentId, decision === 'approve' ? 'approved' : 'denied', now);
      // Lost a race with another decision (or the clock passed expiresAt in between).
      if (!decided) throw problem('CONFLICT', 'the consent request has been decided or has lapsed meanwhile');
      await app.audit.record(request, {
        action: 'consent.decision',
        outcome: 'ok',
        type: decided.type,
        purpose: decided.purpose,
        caseId: decided.caseId,
        subject,
        fields: decided.fields,
        detail: { consentId: decided.consentId, decision: decided.status, consumer: decided.consumer },
      });
      return portalView(decided, await app.registry.get(), now);
    },
  );
}
