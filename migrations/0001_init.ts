import { sql, type Kysely } from 'kysely';

/**
 * Registry, keys and the audit trail. The audit table is partitioned by month, append-only
 * (row and TRUNCATE triggers) and chained: `audit_chain_head` holds the last seq and hash.
 */
// Migrations take an untyped Kysely: they describe the schema at one point in time.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table departments (
      code text primary key check (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
      name_zh text not null,
      name_en text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create table clients (
      client_id text primary key,
      department text not null references departments(code),
      secret_hash text not null,
      roles jsonb not null,
      created_at timestamptz not null default now(),
      revoked_at timestamptz
    );
    create index clients_department on clients(department);
    create table catalog_types (
      type text primary key check (type ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
      kind text not null check (kind in ('certificate', 'record')),
      title text not null,
      provider text not null references departments(code),
      subject_kind text not null check (subject_kind in ('person', 'enterprise')),
      sharing text not null check (sharing in ('unconditional', 'conditional', 'none')),
      fields jsonb not null,
      schema jsonb not null,
      adapter jsonb not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create table grants (
      grant_id text primary key,
      consumer text not null references departments(code),
      type text not null references catalog_types(type),
      purposes jsonb not null,
      fields jsonb not null,
      verify_only boolean not null default false,
      expires_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create index grants_consumer_type on grants(consumer, type);
    create table procedures (
      code text primary key check (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
      title text not null,
      materials jsonb not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    create table gateway_keys (
      kid text primary key,
      private_jwk jsonb not null,
      public_jwk jsonb not null,
      created_at timestamptz not null default now(),
      retired_at timestamptz,
      expires_at timestamptz
    );
    create table gateway_secrets (
      name text primary key,
      value text not null,
      created_at timestamptz not null default now()
    );

    create table audit_events (
      seq bigint not null,
      id uuid not null,
      time timestamptz not null,
      request_id text not null,
      consumer text,
      client_id text,
      officer text,
      action text not null,
      type text,
      provider text,
      subject_kind text,
      subject_hmac text,
      subject_masked text,
      purpose text,
      case_id text,
      fields jsonb not null,
      outcome text not null,
      error_code text,
      latency_ms integer not null,
      record_digest text,
      detail jsonb,
      prev_hash text not null,
      hash text not null,
      primary key (time, seq)
    ) partition by range (time);
    create table audit_events_default partition of audit_events default;
    create index audit_events_seq on audit_events(seq);
    create index audit_events_subject on audit_events(subject_hmac, seq);
    create index audit_events_consumer on audit_events(consumer, seq);
    create index audit_events_case on audit_events(case_id, seq);

    create table audit_chain_head (
      id integer primary key check (id = 1),
      seq bigint not null,
      hash text not null,
      anchor_seq bigint not null,
      anchor_hash text not null
    );
    insert into audit_chain_head (id, seq, hash, anchor_seq, anchor_hash)
      values (1, 0, repeat('0', 64), 0, repeat('0', 64));

    create function onetrip_audit_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$;
    create trigger audit_events_no_update_delete before update or delete on audit_events
      for each row execute function onetrip_audit_append_only();
    create trigger audit_events_no_truncate before truncate on audit_events
      for each statement execute function onetrip_audit_append_only();
    create trigger audit_events_default_no_truncate before truncate on audit_events_default
      for each statement execute function onetrip_audit_append_only();

    -- Creates the month partition holding ts (idempotent). A partition truncated directly would
    -- bypass the parent's statement trigger, so each partition gets its own.
    create function onetrip_audit_ensure_partition(ts timestamptz) returns text language plpgsql as $$
    declare
      month_start timestamptz := date_trunc('month', ts at time zone 'UTC') at time zone 'UTC';
      part text := 'audit_events_' || to_char(ts at time zone 'UTC', 'YYYY_MM');
    begin
      if to_regclass(part) is null then
        execute format('create table %I partition of audit_events for values from (%L) to (%L)',
          part, month_start, month_start + interval '1 month');
        execute format('create trigger %I before truncate on %I for each statement execute function onetrip_audit_append_only()',
          part || '_no_truncate', part);
      end if;
      return part;
    end $$;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop table if exists audit_events cascade;
    drop table if exists audit_chain_head;
    drop function if exists onetrip_audit_ensure_partition(timestamptz);
    drop function if exists onetrip_audit_append_only();
    drop table if exists gateway_secrets, gateway_keys, procedures, grants, catalog_types, clients, departments;
  `.execute(db);
}
