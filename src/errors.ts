import { isDatabaseUnavailable } from './db/unavailable.js';

/**
 * Every client-visible error code with its HTTP status (ARCHITECTURE.md, "Errors").
 * Nothing else decides a status: routes throw `problem(code, detail)` and the error
 * handler turns it into application/problem+json.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, title: 'Request validation failed' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Role not permitted' },
  NOT_GRANTED: { status: 403, title: 'No grant for this type' },
  PURPOSE_NOT_ALLOWED: { status: 403, title: 'Purpose not allowed by the grant' },
  FIELD_NOT_ALLOWED: { status: 403, title: 'Field not allowed by the grant' },
  CONSENT_NOT_VALID: { status: 403, title: 'Consent not valid for this request' },
  UNKNOWN_TYPE: { status: 404, title: 'Unknown catalogue type' },
  UNKNOWN_PROCEDURE: { status: 404, title: 'Unknown procedure' },
  NOT_FOUND: { status: 404, title: 'Resource not found' },
  RECORD_NOT_FOUND: { status: 404, title: 'The provider holds no record for this subject' },
  CONFLICT: { status: 409, title: 'Conflicting state' },
  INVALID_SUBJECT_ID: { status: 422, title: 'Invalid subject identifier' },
  UNSUPPORTED_CLAIM: { status: 422, title: 'Claim operator does not fit the field' },
  RATE_LIMITED: { status: 429, title: 'Rate limit exceeded' },
  INTERNAL_ERROR: { status: 500, title: 'Internal error' },
  PROVIDER_ERROR: { status: 502, title: 'Provider failed' },
  PROVIDER_BAD_RESPONSE: { status: 502, title: 'Provider answered outside the type schema' },
  PROVIDER_UNAVAILABLE: { status: 503, title: 'Provider circuit is open' },
  AUDIT_UNAVAILABLE: { status: 503, title: 'Audit trail unavailable; no data released' },
  NOT_READY: { status: 503, title: 'Not ready' },
  PROVIDER_TIMEOUT: { status: 504, title: 'Provider timed out' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base URI of the problem `type` members; each code has its own fragment. */
export const PROBLEM_TYPE_BASE = 'https://onetrip.gov.example/problems/';

/** A client-visible failure. `cause` is logged, never sent. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown; headers?: Record<string, string>; status?: number }) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    // `status` overrides the code's status only where HTTP has a more exact one (414 URI Too Long).
    this.status = options?.status ?? ERROR_CODES[code].status;
    this.headers = options?.headers ?? {};
  }
}

export function problem(
  code: ErrorCode,
  detail: string,
  options?: { cause?: unknown; headers?: Record<string, string>; status?: number },
): AppError {
  return new AppError(code, detail, options);
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  requestId: string;
}

export function problemBody(err: AppError, requestId: string): ProblemBody {
  return {
    type: PROBLEM_TYPE_BASE + err.code.toLowerCase().replace(/_/g, '-'),
    title: ERROR_CODES[err.code].title,
    status: err.status,
    detail: err.message,
    code: err.code,
    requestId,
  };
}

/**
 * Any failure as an AppError, outside Fastify: an AppError as it is, a lost database as NOT_READY
 * (503, retried by the caller), anything else as INTERNAL_ERROR with its cause kept for the log.
 * src/plugins/errors.ts adds what Fastify's own errors (validation, body parsing, JWT) mean.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) {
    return problem('NOT_READY', 'the gateway cannot reach its database just now; retry shortly', { cause: err });
  }
  return problem('INTERNAL_ERROR', 'an internal error occurred; it has been logged with the request id', { cause: err });
}
