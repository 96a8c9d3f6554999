import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { CompactSign } from 'jose';
import type { SigningKey } from '../keys/keyring.js';

/** base64url SHA-256 of the RFC 8785 canonical JSON of `value`: what a proof binds. */
export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonicalize(value) ?? 'null').digest('base64url');
}

/** The claims a proof carries (ARCHITECTURE.md, "proof"). */
export interface ProofClaims {
  lookupId: string;
  type: string;
  provider: string;
  subject: { kind: string; id: string };
  purpose: string;
  caseId: string;
  fetchedAt: string;
  /** digest of the released record, or of `{claim, result}` for a verification. */
  digest: string;
  claim?: unknown;
  result?: boolean;
  /** The subject's consent the record was released under (consent-required types). */
  consentId?: string;
  /** On a released record: an objection to it was open when it was released. */
  disputed?: boolean;
}

/**
 * A compact JWS (EdDSA) over the claims, with `iss` and `iat`, verifiable offline with the
 * gateway's JWKS. `typ` names the proof so it can never be confused with an access token.
 */
export async function signProof(key: SigningKey, issuer: string, claims: ProofClaims): Promise<string> {
  const payload = { ...claims, iss: issuer, iat: Math.floor(Date.now() / 1000) };
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'onetrip-proof+jws' })
    .sign(key.privateKey);
}
