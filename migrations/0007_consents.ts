import { sql, type Kysely } from 'kysely';

/**
 * Consent and preview (issue 15): a catalogue type may require the data subject's consent, and
 * each request for it is kept here until the person decides. The subject is stored only as its
 * keyed HMAC (what the portal searches by) and masked form, like the audit trail. `expired` is
 * not a stored status: it is read from `expires_at` at the time of reading.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    alter table catalog_types add column consent text not null default 'none' check (consent in ('none', 'required'));
    create table consents (
      consent_id uuid primary key,
      consumer text not null,
      client_id text not null,
      type text not null,
      fields jsonb not null,
      purpose text not null,
      case_id text not null,
      officer text,
      subject_kind text not null check (subject_kind in ('person', 'enterprise')),
      subject_hmac text not null,
      subject_masked text not null,
      status text not null default 'pending' check (status in ('pending', 'approved', 'denied', 'used')),
      requested_at timestamptz not null,
      expires_at timestamptz not null,
      decided_at timestamptz,
      used_at timestamptz
    );
    create index consents_subject on consents(subject_hmac, requested_at);
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table if exists consents;
    alter table catalog_types drop column if exists consent;
  `.execute(db);
}
