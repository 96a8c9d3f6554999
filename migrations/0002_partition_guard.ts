import { sql, type Kysely } from 'kysely';

/**
 * A month partition cannot be created while the default partition holds rows of that month
 * (Postgres refuses: they would have to move). Such rows only get there from outside the
 * writer, but then every event of that month would fail to commit. Instead the month keeps
 * using the default partition (still append-only, still chained) until an operator moves it.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function onetrip_audit_ensure_partition(ts timestamptz) returns text language plpgsql as $$
    declare
      month_start timestamptz := date_trunc('month', ts at time zone 'UTC') at time zone 'UTC';
      part text := 'audit_events_' || to_char(ts at time zone 'UTC', 'YYYY_MM');
    begin
      if to_regclass(part) is not null then
        return part;
      end if;
      if exists (select 1 from audit_events_default where time >= month_start and time < month_start + interval '1 month') then
        raise warning 'audit month % stays in audit_events_default: it already holds rows of that month', part;
        return 'audit_events_default';
      end if;
      execute format('create table %I partition of audit_events for values from (%L) to (%L)',
        part, month_start, month_start + interval '1 month');
      execute format('create trigger %I before truncate on %I for each statement execute function onetrip_audit_append_only()',
        part || '_no_truncate', part);
      return part;
    end $$;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function onetrip_audit_ensure_partition(ts timestamptz) returns text language plpgsql as $$
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
