import { hash, sign } from 'node:crypto';
import { canonicalJson as canonicalize } from '../audit/canonical.js';
import type { SigningKey } from '../keys/keyring.js';

/** base64url SHA-256 of the RFC 8785 canonical JSON of `value`: what a proof binds. */
export function digestOf(value: unknown): string {
  return hash('sha256', canonicalize(value) ?? 'null', 'base64url');
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

/** Per signing key, its protected header as base64url: the same for every proof the key signs. */
const headers = new WeakMap<SigningKey, string>();

function headerPart(key: SigningKey): string {
  let header = headers.get(key);
  if (header === undefined) {
    header = b64url(JSON.stringify({ alg: 'EdDSA', kid: key.kid, typ: 'onetrip-proof+jws' }));
    headers.set(key, header);
  }
  return header;
}

/**
 * A compact JWS (EdDSA) over the claims, with `iss` and `iat`, verifiable offline with the
 * gateway's JWKS. `typ` names the proof so it can never be confused with an access token.
 * Signed with node:crypto's one-shot Ed25519 on the calling thread: the same bytes jose's
 * CompactSign wrote (header and payload as JSON.stringify writes them; Ed25519 is deterministic),
 * without WebCrypto's job and promise round trips (issue 12). The one signer of lookups, batch
 * items, case materials and verifications; the header part is encoded once per key, and the
 * payload is the claims' JSON with `iss` and `iat` appended, as `{...claims, iss, iat}` writes it.
 */
export function signProof(key: SigningKey, issuer: string, claims: ProofClaims): string {
  const json = JSON.stringify(claims);
  const payload = `${json.length > 2 ? `${json.slice(0, -1)},` : '{'}"iss":${JSON.stringify(issuer)},"iat":${Math.floor(Date.now() / 1000)}}`;
  const signingInput = `${headerPart(key)}.${b64url(payload)}`;
  return `${signingInput}.${sign(null, Buffer.from(signingInput, 'latin1'), key.privateKey).toString('base64url')}`;
}

function b64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
