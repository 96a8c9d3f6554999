// The console's only way to the gateway: the public API, with a bearer token held in this
// module's memory (never in web storage or a cookie). Client credentials have no
// refresh token, so the secret stays in memory too, to ask for a new token before the old one
// expires; sign-out forgets both.

/** A problem+json answer (RFC 9457), or a network failure with code NETWORK. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 0 ? 'NETWORK' : `HTTP_${status}`);
    this.title = problem.title || '';
    this.detail = problem.detail || '';
  }
}

let session = null; // {clientId, secret, token, roles, dept, renewTimer}
let operations = null; // Promise<Set<"METHOD /path">> from /openapi.json
let signedOutListener = () => {};

export const onSignedOut = (fn) => (signedOutListener = fn);
export const currentSession = () => (session ? { clientId: session.clientId, roles: session.roles, dept: session.dept } : null);

async function readProblem(res) {
  try {
    return await res.json();
  } catch {
    return { title: res.statusText };
  }
}

async function send(url, init) {
  try {
    return await fetch(url, { ...init, credentials: 'omit', cache: 'no-store', redirect: 'error' });
  } catch {
    throw new ApiError(0, {});
  }
}

/** The JWT's claims (for display and the console's mode only: the gateway checks the signature). */
function claimsOf(jwt) {
  const part = jwt.split('.')[1] || '';
  const json = atob(
    part
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(part.length / 4) * 4, '='),
  );
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
}

async function fetchToken(clientId, secret) {
  const res = await send('/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
  });
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  return res.json();
}

function schedule(expiresIn) {
  clearTimeout(session.renewTimer);
  // Renew when four fifths of the lifetime have passed (at least 5 s before it ends).
  const inMs = Math.max(1, Math.min(expiresIn * 0.8, expiresIn - 5)) * 1000;
  session.renewTimer = setTimeout(() => void renew().catch(() => signOut(true, 'renewal-failed')), inMs);
}

async function renew() {
  if (!session) return;
  const mine = session;
  const answer = await fetchToken(mine.clientId, mine.secret);
  if (session !== mine) return; // signed out meanwhile
  mine.token = answer.access_token;
  schedule(answer.expires_in);
}

export async function signIn(clientId, secret) {
  signOut(false);
  const answer = await fetchToken(clientId, secret);
  const claims = claimsOf(answer.access_token);
  session = { clientId, secret, token: answer.access_token, roles: claims.roles || [], dept: claims.dept || '', renewTimer: 0 };
  schedule(answer.expires_in);
  return currentSession();
}

/** Forgets the token and the secret; reason is set when the console, not the user, ended the session. */
export function signOut(notify = true, reason = null) {
  if (session) clearTimeout(session.renewTimer);
  session = null;
  if (notify) signedOutListener(reason);
}

/**
 * Calls the API as the signed-in client. A 401 (token expired while the tab slept) is retried
 * once with a fresh token. Answers the Response for the caller to read.
 */
export async function call(method, path, { body, accept = 'application/json', query } = {}) {
  if (!session) throw new ApiError(401, { code: 'UNAUTHENTICATED', title: 'Authentication required' });
  const url = query ? `${path}?${new URLSearchParams(query)}` : path;
  const attempt = () =>
    send(url, {
      method,
      headers: { authorization: `Bearer ${session.token}`, accept, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let res = await attempt();
  if (res.status === 401 && session) {
    await renew();
    res = await attempt();
  }
  if (!res.ok) throw new ApiError(res.status, await readProblem(res));
  return res;
}

export const callJson = async (method, path, options) => (await call(method, path, options)).json();

/**
 * Whether this gateway offers an operation, by its own published contract (/openapi.json): the
 * console shows a calm "not available" panel instead of calling a route that is not there.
 */
export async function offers(method, path) {
  operations ??= send('/openapi.json', { headers: { accept: 'application/json' } })
    .then((res) => (res.ok ? res.json() : { paths: {} }))
    .then((doc) => new Set(Object.entries(doc.paths || {}).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`))))
    .catch(() => new Set());
  return (await operations).has(`${method} ${path}`);
}
