import { sql, type Kysely } from 'kysely';

/**
 * Signed checkpoints and guards against a cut tail (issue 10):
 * - `audit_checkpoints`: signed tree heads, append-only like the events they vouch for;
 * - `audit_chain_head` never moves backwards (seq or anchor) and cannot be deleted or truncated;
 * - on PostgreSQL, when the migrating role may create event triggers (superuser), the audit tables
 *   cannot be dropped, and an audit partition can be detached or dropped only by retention, i.e.
 *   in a transaction that has first moved the chain anchor (src/audit/retention.ts). PGlite and
 *   managed databases without superuser skip the event trigger, with a notice.
 * A superuser can still bypass row triggers (session_replication_role = replica) or disable the
 * event trigger: checkpoints copied out of the database are what makes that visible.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table audit_checkpoints (
      seq bigint primary key,
      hash text not null,
      time timestamptz not null,
      jws text not null
    );

    create function onetrip_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'insufficient_privilege';
    end $$;
    create trigger audit_checkpoints_no_update_delete before update or delete on audit_checkpoints
      for each row execute function onetrip_refuse_change();
    create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
      for each statement execute function onetrip_refuse_change();

    create function onetrip_audit_head_forward() returns trigger language plpgsql as $$
    begin
      if new.seq < old.seq or new.anchor_seq < old.anchor_seq then
        raise exception 'audit_chain_head cannot move backwards (seq % to %, anchor % to %)',
          old.seq, new.seq, old.anchor_seq, new.anchor_seq using errcode = 'insufficient_privilege';
      end if;
      return new;
    end $$;
    create trigger audit_chain_head_forward_only before update on audit_chain_head
      for each row execute function onetrip_audit_head_forward();
    create trigger audit_chain_head_no_delete before delete on audit_chain_head
      for each row execute function onetrip_refuse_change();
    create trigger audit_chain_head_no_truncate before truncate on audit_chain_head
      for each statement execute function onetrip_refuse_change();

    -- True inside the transaction that moved the chain anchor (retention), which holds the head lock.
    -- PL/pgSQL, not SQL: an inlined SQL function would be planned (and fail) whenever the guards run
    -- while audit_chain_head is renamed, even where it is not called.
    create function onetrip_audit_retention_running() returns boolean language plpgsql as $$
    begin
      return exists (select 1 from audit_chain_head where id = 1 and xmin::text = (txid_current() % 4294967296)::text);
    end $$;

    create function onetrip_audit_guard_drop() returns event_trigger language plpgsql as $$
    declare
      obj record;
    begin
      for obj in select * from pg_event_trigger_dropped_objects() where object_type = 'table' loop
        if obj.object_name in ('audit_events', 'audit_chain_head', 'audit_checkpoints') then
          raise exception 'table % holds the audit trail and cannot be dropped', obj.object_name using errcode = 'insufficient_privilege';
        end if;
        if obj.object_name ~ '^audit_events_([0-9]{4}_[0-9]{2}|default.*)$' then
          if not onetrip_audit_retention_running() then
            raise exception 'audit partition % can only be dropped by retention ("npm run cli -- audit archive")', obj.object_name
              using errcode = 'insufficient_privilege';
          end if;
        end if;
      end loop;
    end $$;

    create function onetrip_audit_guard_detach() returns event_trigger language plpgsql as $$
    declare
      loose text;
    begin
      select c.relname into loose from pg_class c
      where c.relname ~ '^audit_events_([0-9]{4}_[0-9]{2}|default.*)$' and c.relkind in ('r', 'p')
        and c.relnamespace = (select relnamespace from pg_class where oid = 'audit_events'::regclass)
        and not exists (select 1 from pg_inherits i where i.inhrelid = c.oid and i.inhparent = 'audit_events'::regclass)
      limit 1;
      if loose is not null then
        if not onetrip_audit_retention_running() then
          raise exception 'audit partition % can only be detached by retention ("npm run cli -- audit archive")', loose
            using errcode = 'insufficient_privilege';
        end if;
      end if;
    end $$;
  `.execute(db);
  await sql`
    do $$
    begin
      if not (select rolsuper from pg_roles where rolname = current_user) then
        raise notice 'not a superuser: audit partitions are not guarded by an event trigger';
        return;
      end if;
      create event trigger onetrip_audit_guard_drop on sql_drop execute function onetrip_audit_guard_drop();
      create event trigger onetrip_audit_guard_detach on ddl_command_end when tag in ('ALTER TABLE')
        execute function onetrip_audit_guard_detach();
    exception when others then
      -- PGlite (single-user mode) and some hosted servers do not run event triggers.
      raise notice 'event triggers unavailable (%): audit partitions are not guarded by one', sqlerrm;
    end $$;
  `.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    drop event trigger if exists onetrip_audit_guard_detach;
    drop event trigger if exists onetrip_audit_guard_drop;
    drop function if exists onetrip_audit_guard_detach();
    drop function if exists onetrip_audit_guard_drop();
    drop function if exists onetrip_audit_retention_running();
    drop trigger if exists audit_chain_head_no_truncate on audit_chain_head;
    drop trigger if exists audit_chain_head_no_delete on audit_chain_head;
    drop trigger if exists audit_chain_head_forward_only on audit_chain_head;
    drop function if exists onetrip_audit_head_forward();
    drop table if exists audit_checkpoints;
    drop function if exists onetrip_refuse_change();
  `.execute(db);
}
