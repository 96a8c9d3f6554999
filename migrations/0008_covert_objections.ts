import { sql, type Kysely } from 'kysely';

/**
 * Covert grants and objections (issue 15).
 *
 * - `grants.covert_disclose_after_days`: a covert grant's accesses are hidden from the data
 *   subject for that many days after each access (null: not covert).
 * - `audit_events.disclose_at`: fixed per event when it is written, so changing a grant later
 *   never re-hides (or reveals early) what was accessed under it. Null for every other event.
 * - `objections`: a person's dispute of a record, answered by the provider department.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table grants add column covert_disclose_after_days integer
      check (covert_disclose_after_days between 1 and 1825);
    alter table audit_events add column disclose_at timestamptz;
    create index audit_events_covert on audit_events(seq) where disclose_at is not null;

    create table objections (
      objection_id uuid primary key,
      type text not null references catalog_types(type),
      provider text not null references departments(code),
      subject_kind text not null check (subject_kind in ('person', 'enterprise')),
      -- Keyed HMAC, as in the audit trail: what the portal's search and the disputed check match.
      subject_hmac text not null,
      -- The raw id, AES-256-GCM sealed, only so the provider department can find its record.
      subject_sealed text not null,
      field text,
      lookup_id uuid,
      statement text not null check (char_length(statement) between 1 and 2000),
      status text not null default 'open' check (status in ('open', 'corrected', 'rejected')),
      response text check (response is null or char_length(response) between 1 and 2000),
      filed_by text not null,
      resolved_by text,
      created_at timestamptz not null,
      resolved_at timestamptz,
      check ((status = 'open') = (resolved_at is null))
    );
    create index objections_subject on objections(subject_hmac, created_at);
    create index objections_open on objections(type, subject_hmac) where status = 'open';
    create index objections_type_status on objections(type, status, created_at);
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table if exists objections;
    drop index if exists audit_events_covert;
    alter table audit_events drop column if exists disclose_at;
    alter table grants drop column if exists covert_disclose_after_days;
  `.execute(db);
}
