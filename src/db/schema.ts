import type { ColumnType } from 'kysely';
import type { AuditAction, AuditOutcome } from '../audit/event.js';
import type { AdapterConfig, ConsentRule, FieldDef, Role, Sharing, SubjectKind, TypeKind } from '../registry/model.js';

/** Timestamps are written as ISO strings or Dates and always read back as Dates. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in by default. */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb columns: written as a JSON string (pg would turn a JS array into a PG array), read back parsed. */
type Json<T> = ColumnType<T, string, string>;

export interface DepartmentsTable {
  code: string;
  name_zh: string;
  name_en: string;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ClientsTable {
  client_id: string;
  department: string;
  secret_hash: string;
  roles: Json<Role[]>;
  created_at: DefaultTimestamp;
  revoked_at: Timestamp | null;
}

export interface CatalogTypesTable {
  type: string;
  kind: TypeKind;
  title: string;
  provider: string;
  subject_kind: SubjectKind;
  sharing: Sharing;
  /** Migration 0007; 'none' unless written. */
  consent: ColumnType<ConsentRule, ConsentRule | undefined, ConsentRule>;
  fields: Json<FieldDef[]>;
  schema: Json<Record<string, unknown>>;
  adapter: Json<AdapterConfig>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface GrantsTable {
  grant_id: string;
  consumer: string;
  type: string;
  purposes: Json<string[]>;
  fields: Json<string[]>;
  verify_only: boolean;
  expires_at: Timestamp | null;
  /** Days after each access before the subject sees it (null: not covert). */
  covert_disclose_after_days: ColumnType<number | null, number | null | undefined, number | null>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ProceduresTable {
  code: string;
  title: string;
  materials: Json<string[]>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface GatewayKeysTable {
  kid: string;
  private_jwk: Json<Record<string, unknown>>;
  public_jwk: Json<Record<string, unknown>>;
  created_at: DefaultTimestamp;
  /** Set when a newer key takes over signing; the key stays published until `expires_at`. */
  retired_at: Timestamp | null;
  expires_at: Timestamp | null;
}

export interface GatewaySecretsTable {
  name: string;
  value: string;
  created_at: DefaultTimestamp;
}

export interface AuditEventsTable {
  seq: number;
  id: string;
  time: Timestamp;
  request_id: string;
  consumer: string | null;
  client_id: string | null;
  officer: string | null;
  action: AuditAction;
  type: string | null;
  provider: string | null;
  subject_kind: SubjectKind | null;
  subject_hmac: string | null;
  subject_masked: string | null;
  purpose: string | null;
  case_id: string | null;
  fields: Json<string[]>;
  outcome: AuditOutcome;
  error_code: string | null;
  latency_ms: number;
  record_digest: string | null;
  detail: Json<Record<string, unknown> | null>;
  prev_hash: string;
  hash: string;
  /** Set only on accesses under a covert grant: when the subject may see it. */
  disclose_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** The single row that holds the head of the audit hash chain; writers lock it to extend the chain. */
export interface AuditChainHeadTable {
  id: number;
  seq: number;
  hash: string;
  anchor_seq: number;
  anchor_hash: string;
}

/** A request for the data subject's consent (migration 0007); `expired` is computed from `expires_at` when read. */
export interface ConsentsTable {
  consent_id: string;
  consumer: string;
  client_id: string;
  type: string;
  fields: Json<string[]>;
  purpose: string;
  case_id: string;
  officer: string | null;
  subject_kind: SubjectKind;
  subject_hmac: string;
  subject_masked: string;
  status: ColumnType<'pending' | 'approved' | 'denied' | 'used', 'pending' | undefined, 'approved' | 'denied' | 'used'>;
  requested_at: Timestamp;
  expires_at: Timestamp;
  decided_at: Timestamp | null;
  used_at: Timestamp | null;
}

/** A person's objection (异议) to a record, answered by the provider department. */
export interface ObjectionsTable {
  objection_id: string;
  type: string;
  provider: string;
  subject_kind: 'person' | 'enterprise';
  subject_hmac: string;
  /** The raw subject id, sealed (AES-256-GCM): only the provider's view opens it. */
  subject_sealed: string;
  field: string | null;
  lookup_id: string | null;
  statement: string;
  status: 'open' | 'corrected' | 'rejected';
  response: string | null;
  filed_by: string;
  resolved_by: string | null;
  created_at: Timestamp;
  resolved_at: Timestamp | null;
}

/** Signed tree heads (migrations/0004_audit_checkpoints.ts); append-only. */
export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  time: ColumnType<Date, string, never>;
  jws: string;
}

/** One case (the case.material events of one POST /v1/cases), kept by a trigger on audit_events (migration 0006). */
export interface ReportCasesTable {
  consumer: string;
  request_id: string;
  procedure: string;
  case_id: string;
  started_at: Timestamp;
  materials: number;
  fetched: number;
  to_submit: number;
  /** To-submit materials by reason, e.g. {"not_held": 1}. */
  reasons: Json<Record<string, number>>;
}

export interface Database {
  departments: DepartmentsTable;
  clients: ClientsTable;
  catalog_types: CatalogTypesTable;
  grants: GrantsTable;
  procedures: ProceduresTable;
  gateway_keys: GatewayKeysTable;
  gateway_secrets: GatewaySecretsTable;
  audit_events: AuditEventsTable;
  audit_chain_head: AuditChainHeadTable;
  consents: ConsentsTable;
  objections: ObjectionsTable;
  audit_checkpoints: AuditCheckpointsTable;
  report_cases: ReportCasesTable;
}
