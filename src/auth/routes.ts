import type { FastifyInstance, FastifyRequest } from 'fastify';
import { problem } from '../errors.js';
import { problems, ref } from '../openapi.js';
import { assertSafeText } from '../plugins/input.js';
import { findClient } from '../registry/repository.js';
import { verifySecret } from './secrets.js';

interface TokenBody {
  grant_type?: string;
  client_id?: string;
  client_secret?: string;
  scope?: string;
}

/** RFC 6749 §2.3.1: HTTP Basic client authentication, both parts form-urlencoded. */
function basicCredentials(request: FastifyRequest): { id: string; secret: string } | null {
  const header = request.headers.authorization;
  if (!header?.toLowerCase().startsWith('basic ')) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw problem('UNAUTHENTICATED', 'malformed HTTP Basic credentials');
  try {
    return { id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')) };
  } catch {
    throw problem('UNAUTHENTICATED', 'malformed HTTP Basic credentials');
  }
}

export default async function authRoutes(app: FastifyInstance) {
  app.post<{ Body: TokenBody }>(
    '/v1/auth/token',
    {
      config: { auditAction: 'token.issue', rateLimit: { max: 60, timeWindow: 60_000 } },
      schema: {
        body: ref('TokenRequest'),
        response: { 200: ref('TokenResponse'), ...problems(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      if (body.grant_type !== 'client_credentials') {
        throw problem('VALIDATION_FAILED', 'grant_type must be client_credentials');
      }
      const basic = basicCredentials(request);
      if (basic && (body.client_id || body.client_secret)) {
        throw problem('VALIDATION_FAILED', 'send client credentials either with HTTP Basic or in the body, not both');
      }
      // Header-derived text obeys the input rules too (src/plugins/input.ts checks bodies and queries).
      assertSafeText(basic, 'authorization');
      const id = basic?.id ?? body.client_id;
      const secret = basic?.secret ?? body.client_secret;
      if (!id || !secret) throw problem('UNAUTHENTICATED', 'client_id and client_secret are required');

      const client = await findClient(app.db, id);
      // Unknown and wrong secrets take the same path and time, so client ids cannot be probed.
      const ok = await verifySecret(secret, client?.secretHash ?? DUMMY_HASH);
      if (!client || !ok || client.revokedAt) {
        throw problem('UNAUTHENTICATED', client?.revokedAt && ok ? 'the client has been revoked' : 'invalid client credentials');
      }
      const { token, expiresIn } = app.issueToken(client);
      request.principal = { clientId: client.clientId, dept: client.department, roles: client.roles, jti: '' };
      await app.audit.record(request, { action: 'token.issue', outcome: 'ok', detail: { roles: client.roles } });
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return { access_token: token, token_type: 'Bearer', expires_in: expiresIn };
    },
  );
}

// A hash of a random secret nobody knows: verifying against it costs what a real check costs.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
