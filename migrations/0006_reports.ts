import { sql, type Kysely } from 'kysely';

/**
 * Once-only reports (issue 13): `report_cases` holds one row per case — the `case.material` events
 * of one POST /v1/cases (consumer, request id, procedure, caseId) — with its counts of materials
 * fetched and still to submit, and the to-submit materials by the reason recorded in each event's
 * `detail.reason`. It is derived from the trail only, kept current by an AFTER INSERT trigger on
 * `audit_events` in the audit batch's own transaction, so a report reads one row per case instead of
 * every event. The migration backfills the cases already in the trail with the same rules.
 *
 * A case's materials may land in different group commits; the upsert adds them up. Events
 * re-inserted by retention (rerouted out of the default partition) are skipped: that transaction
 * sets `onetrip.rerouting`. Materials without a type are whole-request refusals (unknown
 * procedure, invalid applicant, bad body), not cases, and are left out.
 */
/** The backfill: every case in `source`, added to report_cases exactly as the trigger adds one event. */
function rollupFrom(source: string): string {
  return `
    with m as (
      select coalesce(consumer, 'unknown') as consumer, request_id, purpose as procedure, coalesce(case_id, '') as case_id, time,
        case when outcome <> 'ok' or detail->>'reason' is not null then coalesce(detail->>'reason', 'unknown') end as reason
      from ${source}
      where action = 'case.material' and type is not null and purpose is not null
    ),
    by_reason as (
      select consumer, request_id, procedure, case_id, jsonb_object_agg(reason, n) as reasons
      from (select consumer, request_id, procedure, case_id, reason, count(*)::int as n from m where reason is not null group by 1, 2, 3, 4, 5) r
      group by 1, 2, 3, 4
    ),
    cases as (
      select consumer, request_id, procedure, case_id, min(time) as started_at, count(*)::int as materials,
        (count(*) filter (where reason is null))::int as fetched, (count(*) filter (where reason is not null))::int as to_submit
      from m group by 1, 2, 3, 4
    )
    insert into report_cases as r (consumer, request_id, procedure, case_id, started_at, materials, fetched, to_submit, reasons)
    select c.consumer, c.request_id, c.procedure, c.case_id, c.started_at, c.materials, c.fetched, c.to_submit, coalesce(b.reasons, '{}'::jsonb)
    from cases c left join by_reason b using (consumer, request_id, procedure, case_id)
    on conflict (consumer, request_id, procedure, case_id) do update set
      started_at = least(r.started_at, excluded.started_at),
      materials = r.materials + excluded.materials,
      fetched = r.fetched + excluded.fetched,
      to_submit = r.to_submit + excluded.to_submit,
      reasons = (
        select coalesce(jsonb_object_agg(k, total), '{}'::jsonb)
        from (select k, sum(v::int) as total from (
          select * from jsonb_each_text(r.reasons) union all select * from jsonb_each_text(excluded.reasons)
        ) both_sides(k, v) group by k) summed
      )`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table report_cases (
      consumer text not null,
      request_id text not null,
      procedure text not null,
      case_id text not null,
      started_at timestamptz not null,
      materials integer not null,
      fetched integer not null,
      to_submit integer not null,
      reasons jsonb not null default '{}'::jsonb,
      primary key (consumer, request_id, procedure, case_id)
    );
    create index report_cases_started_at on report_cases (started_at);
  `.execute(db);
  // Row-level, with a WHEN on the action: a batch of lookups never even queues a trigger event, so the
  // audit writer's hot path pays nothing; each case material costs one upsert of its case's row.
  await sql`
    create function onetrip_report_cases_add() returns trigger language plpgsql as $fn$
    declare
      why text := case when new.outcome <> 'ok' or new.detail->>'reason' is not null then coalesce(new.detail->>'reason', 'unknown') end;
    begin
      if current_setting('onetrip.rerouting', true) is not distinct from 'on' then
        return null;
      end if;
      insert into report_cases as r (consumer, request_id, procedure, case_id, started_at, materials, fetched, to_submit, reasons)
      values (coalesce(new.consumer, 'unknown'), new.request_id, new.purpose, coalesce(new.case_id, ''), new.time, 1,
        case when why is null then 1 else 0 end, case when why is null then 0 else 1 end,
        case when why is null then '{}'::jsonb else jsonb_build_object(why, 1) end)
      on conflict (consumer, request_id, procedure, case_id) do update set
        started_at = least(r.started_at, excluded.started_at),
        materials = r.materials + 1,
        fetched = r.fetched + excluded.fetched,
        to_submit = r.to_submit + excluded.to_submit,
        reasons = case when why is null then r.reasons else r.reasons || jsonb_build_object(why, coalesce((r.reasons->>why)::int, 0) + 1) end;
      return null;
    end $fn$;
    create trigger audit_events_report_cases after insert on audit_events for each row
      when (new.action = 'case.material' and new.type is not null and new.purpose is not null)
      execute function onetrip_report_cases_add();
  `.execute(db);
  // Cases already in the trail.
  await sql.raw(rollupFrom('audit_events')).execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop trigger if exists audit_events_report_cases on audit_events;
    drop function if exists onetrip_report_cases_add();
    drop table if exists report_cases;
  `.execute(db);
}
