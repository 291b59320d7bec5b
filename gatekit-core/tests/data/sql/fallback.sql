## Statements sqlparser 0.64 does not parse: classified from their tokens. Those of a small
## fixed grammar get their real classes only; the rest also carry `unparsed`.
## Format: `== classes | objects` then the statement; `##` lines are comments.

== procedural |
do $$ declare r record; begin for r in select * from t loop delete from t; end loop; end $$
== procedural |
DO LANGUAGE plpgsql $fn$ BEGIN EXECUTE 'DROP TABLE t'; END $fn$
== admin |
ALTER SYSTEM SET shared_preload_libraries = 'evil'
== admin | public.t
REINDEX TABLE t
== admin |
REINDEX INDEX t_a
== admin |
REINDEX DATABASE shop
== admin | public.t
CLUSTER t USING t_a
== admin |
CLUSTER
== admin |
CHECKPOINT
== ddl | public.t
SECURITY LABEL FOR selinux ON TABLE t IS 'system_u:object_r:sepgsql_table_t:s0'
== read | public.customers
TABLE customers
== read | public.customers
TABLE ONLY customers
== write | public.t
UPDATE t SET a = 1 WHERE CURRENT OF c
== write | public.t
DELETE FROM t WHERE CURRENT OF c
== session |
ROLLBACK PREPARED 'tx1'
== dcl |
REASSIGN OWNED BY alice TO bob
== ddl, destructive, dcl |
DROP OWNED BY alice
== ddl |
IMPORT FOREIGN SCHEMA remote FROM SERVER srv INTO local
== admin | public.t
LOCK TABLE t IN SHARE MODE NOWAIT
== write | public.t
VACUUM (VERBOSE, ANALYZE) t
== write | public.a public.b
VACUUM (FREEZE) a, b (c)
== admin | public.t
VACUUM (FULL) t
== ddl, admin |
CREATE EVENT TRIGGER audit_off ON ddl_command_start EXECUTE FUNCTION f()
== ddl, admin |
CREATE LANGUAGE plperlu
== unparsed |
FOO BAR
== unparsed |
SELEC 1
== write, bulk-write, unparsed |
DELETE t
== ddl, destructive, unparsed |
DROP TABLE
== write, bulk-write, destructive, unparsed |
TRUNCATE
== unparsed, read |
XYZ; SELECT 1
== read, unparsed |
SELECT FROM WHERE
== read, write, bulk-write, unparsed | public.t
COPY (DELETE FROM U&"\0074" RETURNING *) TO STDOUT
## Read from tokens, CTE names are reported as tables too: more objects, never fewer.
== read, write, unparsed | public.t public.x
WITH x AS (INSERT INTO U&"\0074" VALUES (1) RETURNING *) SELECT * FROM x
