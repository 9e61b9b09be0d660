-- Make the indexes the project declares serve FerretDB 1.24's queries on PostgreSQL.
-- Applied by scripts/stack.sh to FerretDB's database on every start (idempotent).
--
-- Why: FerretDB stores each collection as a table with one jsonb column `_jsonb`. For a declared MongoDB
-- index it creates a btree on the fields' expressions, e.g. `((_jsonb -> 'conversation_id'))`, but it pushes
-- every equality filter down as containment, `(_jsonb -> 'conversation_id') @> '"c1"'` (also for `_id`).
-- A btree cannot serve `@>`, so every find scanned its whole table and cost grew with stored data. A GIN
-- index with `jsonb_path_ops` on the same expression serves exactly that operator, including "an array
-- field contains this value" (tasks.assignee_ids). So: for every field of every btree index FerretDB
-- creates, create the matching GIN index. An event trigger does it at the moment FerretDB creates the
-- btree (any database, any collection: the project's `ensure_indexes` stays the one list of indexes), and
-- the backfill below covers indexes created before the trigger existed.
-- FerretDB pushes down no sort and no range filter ($gt, $lt): queries must narrow by equality first
-- (docs/data.md lists each query and the index that serves it; tests/storage/test_query_plans.py checks).

CREATE OR REPLACE FUNCTION assist_gin_for_ferretdb_index(btree oid) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  tbl regclass;
  ncols integer;
  expr text;
  field text;
  made integer := 0;
BEGIN
  SELECT i.indrelid::regclass, i.indnatts INTO tbl, ncols
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
   WHERE i.indexrelid = btree AND am.amname = 'btree';
  IF tbl IS NULL THEN
    RETURN 0;
  END IF;
  FOR k IN 1..ncols LOOP
    expr := pg_get_indexdef(btree, k, true);  -- e.g. (_jsonb -> 'conversation_id'::text)
    field := substring(expr FROM $re$^\(*_jsonb -> '((?:[^']|'')+)'::text\)*$$re$);
    CONTINUE WHEN field IS NULL;  -- a dotted path (#>) or something else: not pushed down as `->`
    field := replace(field, '''''', '''');
    EXECUTE format(
      'CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((_jsonb -> %L) jsonb_path_ops)',
      left(split_part(tbl::text, '.', 2), 40) || '_gin_' || left(md5(field), 12),
      tbl, field);
    made := made + 1;
  END LOOP;
  RETURN made;
END
$fn$;

CREATE OR REPLACE FUNCTION assist_gin_on_create_index() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands()
              WHERE command_tag = 'CREATE INDEX' AND object_type = 'index' LOOP
    -- Only tables FerretDB made (they have the `_jsonb` column); the GIN indexes made here are not btrees.
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
                WHERE i.indexrelid = cmd.objid AND a.attname = '_jsonb') THEN
      PERFORM assist_gin_for_ferretdb_index(cmd.objid);
    END IF;
  END LOOP;
END
$fn$;

DROP EVENT TRIGGER IF EXISTS assist_gin_on_create_index;
CREATE EVENT TRIGGER assist_gin_on_create_index ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION assist_gin_on_create_index();

-- Backfill: every btree on a FerretDB table that has no GIN partner yet.
SELECT count(*) AS btree_indexes_seen, coalesce(sum(assist_gin_for_ferretdb_index(i.indexrelid)), 0) AS gin_fields
  FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = '_jsonb'
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am am ON am.oid = c.relam AND am.amname = 'btree';

-- FerretDB runs its queries as prepared statements; after five runs PostgreSQL may switch to a generic
-- plan, which cannot see the value in `@> $1` and picks a sequential scan. Plan each run for its values.
ALTER DATABASE ferretdb SET plan_cache_mode = force_custom_plan;
