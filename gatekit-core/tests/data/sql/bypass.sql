## Attempts to talk past the classifier, and benign look-alikes that must stay harmless.
## Format: `== classes | objects [| escaped]` then the statement; `##` lines are comments.

## ---- case, whitespace, comments
== write, bulk-write | public.t
dElEtE FrOm t
== write, bulk-write | public.t
DELETE/**/FROM/**/t
== write, bulk-write | public.t | escaped
DELETE\tFROM\n\n   t\r\n
== read |
/* DROP TABLE x */ SELECT 1
== read | | escaped
-- DROP TABLE x\nSELECT 1
== read |
SELECT 1 /* nested /* DROP TABLE x */ still a comment */
== read |
SELECT 1 /* /* */ DROP TABLE x */
== read, ddl, destructive | public.t | escaped
SELECT 1; -- a comment ends at a carriage return\rDROP TABLE t
== read |
SELECT 1 -- ; DROP TABLE t
== read | | escaped
SELECT 1 +--comment\n 2
== read, ddl, destructive | public.t
SELECT 1;DROP TABLE t
== read, write, bulk-write | public.t
SELECT 1;;;DELETE FROM t;
== read, write, bulk-write | public.t
  SELECT 1 ;
  DELETE FROM t
== read, ddl, destructive | public.t
select 1; drop table t -- trailing comment

## ---- literals are data
== read |
SELECT 'DROP TABLE t'
== read |
SELECT ';DROP TABLE t;'
== read |
SELECT $$; DROP TABLE t; $$
== read |
SELECT $x$ $$ ; DROP TABLE t; $$ $x$
== read |
SELECT $_$ DELETE FROM t $_$
== read |
SELECT E'\'; DROP TABLE t; --'
== read |
SELECT E'\u0027; DROP TABLE t; --'
== read |
SELECT U&'\0044ROP TABLE t'
== read |
SELECT U&'!0044ROP TABLE t' UESCAPE '!'
== read |
SELECT N'DROP TABLE t'
== read |
SELECT 'it''s; DROP TABLE t'
== read |
SELECT 'a' 
'b; DROP TABLE t'
== read |
SELECT format('DROP TABLE %I', 't')
== read |
SELECT 'pg_read_file(''/etc/passwd'')'
== read |
SELECT "DROP" FROM (SELECT 1 AS "DROP") x
== read |
SELECT 1 AS "DELETE FROM t"

## ---- literals that end where the server says, not where they look like ending
## (PostgreSQL 15, one simple query each: the first three and the COPY case drop `t`.)
== read, ddl, destructive | public.t
SELECT 'a\'; DROP TABLE t; --'
== read, ddl, destructive | public.t
SELECT E'\\'; DROP TABLE t; --'
== read, ddl, destructive | public.t
SELECT a$x$ , 1; DROP TABLE t; --$x$
== read, ddl, destructive, unparsed | public.t
SELECT $1$ ; DROP TABLE t; $1$
== read, ddl, destructive, unparsed | public.t
SELECT X'\'; DROP TABLE t; --'
== read, unparsed |
SELECT B'1''; DROP TABLE t; --'
== write, ddl, destructive, unparsed | public.t public.x | escaped
COPY t FROM STDIN;\nDROP TABLE x;\n
== read, unparsed |
SELECT 'never closed; DROP TABLE t
== read, unparsed |
SELECT 1 /* DROP TABLE t
== ddl, destructive, unparsed | public.t
DROP TABLE t /* never closed
== read, unparsed, ddl, destructive | public.t
SELECT 1 \; DROP TABLE t

## ---- quoted and escaped names
== read | pg_catalog.pg_authid
SELECT * FROM "pg_catalog"."pg_authid"
== read | public.Secrets
SELECT * FROM public."Secrets"
== read, unparsed | public.t
SELECT * FROM U&"\0074"
== write, bulk-write, unparsed | public.t
DELETE FROM U&"\0074"
== unparsed | public.t
"DELETE" FROM t

## ---- dangerous functions however they are written
== read, admin | /etc/passwd
SELECT "pg_read_file"('/etc/passwd')
== read, admin | /x
SELECT "PG_READ_FILE"('/x')
== read, admin | /etc/passwd
SELECT pg_catalog . pg_read_file ( '/etc/passwd' )
== read, admin | /etc/passwd
SELECT pg_read_file/**/('/etc/passwd')
== read, admin, unparsed | /etc/passwd
SELECT U&"pg\005fread\005ffile"('/etc/passwd')
== read, admin | /etc/passwd
SELECT * FROM pg_read_file('/etc/passwd') AS f
== write, admin | public.t /etc/passwd
INSERT INTO t VALUES (pg_read_file('/etc/passwd'))
== read, admin | /
WITH x AS (SELECT pg_ls_dir('/')) SELECT * FROM x
== ddl, read, admin | public.v /etc/passwd
CREATE VIEW v AS SELECT pg_read_file('/etc/passwd')
== read, admin |
SELECT 1 ORDER BY pg_terminate_backend(42)
== read, admin |
SELECT PG_CATALOG.PG_TERMINATE_BACKEND(1)
== read, admin | public.t
SELECT * FROM t WHERE pg_cancel_backend(1) IS NOT NULL
== write, admin | public.t
UPDATE t SET a = pg_reload_conf()::text WHERE id = 1
== read, admin, dcl |
SELECT set_config('ROLE', 'postgres', false)
== read, admin, dcl |
select set_config(E'role', 'x', false)
== read, admin |
SELECT set_config('gatekit' || '.user', 'x', false)
== read, admin, dcl | public.t
SELECT * FROM t WHERE set_config('role', 'postgres', true) IS NOT NULL
== read, admin |
SELECT set_config('session_replication_role', 'replica', false)
== procedural, read, admin |
PREPARE p AS SELECT pg_read_file($1)

## ---- what runs inside EXPLAIN and CTEs
== read, write, bulk-write | public.t
EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING 1) SELECT 1
== read | public.t
EXPLAIN WITH d AS (DELETE FROM t RETURNING 1) SELECT 1
== read | public.t
EXPLAIN (ANALYZE off) DELETE FROM t
== read | public.t
EXPLAIN (ANALYZE false, VERBOSE) DELETE FROM t
== read, write, bulk-write | public.t
EXPLAIN (analyse) delete from t
== read, write, bulk-write | public.t
SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) x
== write, bulk-write, read | public.a public.b
WITH d AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM d
== read, write | public.t public.log
WITH moved AS (UPDATE t SET a = 1 WHERE id = 2 RETURNING *) INSERT INTO log SELECT * FROM moved
== read | public.secrets
WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets
== read | public.secrets
SELECT * FROM secrets, (WITH secrets AS (SELECT 1) SELECT * FROM secrets) x
== read |
WITH RECURSIVE t AS (SELECT 1 UNION SELECT * FROM t) SELECT * FROM t
== read | public.a
WITH a AS (SELECT * FROM a), b AS (SELECT * FROM a) SELECT * FROM b

## ---- conditions that narrow nothing
== write, bulk-write | public.t
DELETE FROM t WHERE true
== write, bulk-write | public.t
DELETE FROM t WHERE 1 = 1
== write, bulk-write | public.t
UPDATE t SET a = 1 WHERE 'x' = 'x' OR false
== write, bulk-write | public.t
DELETE FROM t WHERE NOT false AND 2 > 1
== write | public.t
DELETE FROM t WHERE id = id

## ---- settings that change who the session is or how it is read
== dcl |
SET "role" = 'postgres'
== dcl |
SET SESSION "session_authorization" = 'postgres'
== admin |
set LOG_STATEMENT = 'none'
== admin |
SET "log_statement" = 'none'
== admin |
SET log_statement TO DEFAULT
== admin |
SET LOCAL session_replication_role = replica
== session |
SET client_encoding = DEFAULT
== admin |
SET client_encoding TO 'BIG5'
== admin |
SET standard_conforming_strings TO off
== session |
SET search_path = "$user", public
== session, read | app.t
SET SCHEMA 'app'; SELECT * FROM t
== read | app.t
SELECT set_config('search_path', 'app', false); SELECT * FROM t
== dcl |
ALTER ROLE current_user SET role = 'postgres'

## ---- benign look-alikes
== read | public.drop_log
SELECT * FROM drop_log
== read | public.t
SELECT delete_flag, truncate_at, "grant" FROM t
== read | public.grants
SELECT * FROM grants
== read | public.t
SELECT updated_at FROM t WHERE deleted = false
== read | public.t
SELECT * FROM t WHERE note = 'DELETE FROM t'
== read |
SELECT E'DROP\nTABLE'
== read |
SELECT current_setting('role')
== session, read |
SHOW role
== read | pg_catalog.pg_roles
SELECT * FROM pg_roles
== read | pg_catalog.pg_settings
SELECT name, setting FROM pg_settings WHERE name = 'log_statement'
== read | public.copy_jobs
SELECT * FROM copy_jobs
== read |
SELECT 'set_config'
== read |
SELECT pg_sleep(0.1)
== ddl | public.t
COMMENT ON TABLE t IS 'pg_read_file'
== read | public.t
SELECT * FROM t WHERE status = 'truncated' LIMIT 1
== read |
SELECT 'a' || 'b' || 'c'

## ---- rights and settings that outlive the statement
== ddl, procedural, admin |
CREATE FUNCTION f() RETURNS int LANGUAGE c AS '/tmp/x.so', 'f'
== ddl, procedural, admin |
CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpython3u AS $$ import os $$
== ddl, procedural, admin |
CREATE FUNCTION f(text) RETURNS text LANGUAGE internal AS 'pg_read_file_v2'
== dcl, admin |
ALTER ROLE bob SET standard_conforming_strings = off
== dcl, admin |
ALTER USER bob SET log_statement = 'none'
== ddl, admin, unparsed |
ALTER DATABASE shop SET log_statement = 'none'
== dcl |
ALTER ROLE bob SET search_path = app

## ---- data read through names in strings
== read | app.secrets
SELECT table_to_xml('app.secrets', true, true, '')
== read | public.secrets
SELECT table_to_xmlschema('secrets', true, true, '')
== read, procedural |
SELECT schema_to_xml('app', true, true, '')
== read, procedural |
SELECT database_to_xml(true, true, '')
== read, procedural | public.t
SELECT table_to_xml(name, true, true, '') FROM t
== read, write, bulk-write | public.t
COPY (DELETE FROM t RETURNING *) TO STDOUT
== ddl, write, bulk-write | public.t public.audit
CREATE RULE r AS ON INSERT TO t DO ALSO DELETE FROM audit
== ddl, admin | public.t
ALTER TABLE t DISABLE TRIGGER ALL
== ddl, read | public.mv public.t
CREATE MATERIALIZED VIEW mv AS SELECT * FROM t
