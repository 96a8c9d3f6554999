import { randomUUID } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { TestGateway } from './app.js';

const now = () => Math.floor(Date.now() / 1000);

/** Claims of a valid access token of `gw` for the taxation window (two minutes); `extra` overrides any. */
export function windowClaims(gw: TestGateway, extra: JWTPayload = {}): JWTPayload {
  return {
    iss: gw.app.config.publicUrl,
    aud: 'onetrip',
    sub: 'taxation-window',
    dept: 'taxation',
    roles: ['consumer'],
    jti: randomUUID(),
    iat: now(),
    exp: now() + 120,
    ...extra,
  };
}

/** Signs with the gateway's own current key, as the token endpoint would (another `kid` in the header if given). */
export function signedByGateway(gw: TestGateway, payload: JWTPayload, kid = gw.app.keyring.current.kid): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' }).sign(gw.app.keyring.current.privateKey);
}
