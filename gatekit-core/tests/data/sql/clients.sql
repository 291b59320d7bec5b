## What real clients send: drivers' start-up and type lookups, pgbench, ORMs.
## Format: `== classes | objects` then the statement; `##` lines are comments.

## ---- pgbench (tpcb-like, simple-update, select-only; extended mode placeholders)
== session |
BEGIN;
== read | public.pgbench_accounts
SELECT abalance FROM pgbench_accounts WHERE aid = $1;
== write | public.pgbench_accounts
UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;
== write | public.pgbench_tellers
UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;
== write | public.pgbench_branches
UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;
== write | public.pgbench_history
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);
== session |
END;
== read | public.pgbench_branches
select count(*) from pgbench_branches
== write, bulk-write, destructive | public.pgbench_history
truncate pgbench_history
== write | public.pgbench_branches
vacuum pgbench_branches
== ddl | public.pgbench_accounts
alter table pgbench_accounts add primary key (aid)
== read | pg_catalog.pg_class pg_catalog.pg_namespace pg_catalog.pg_partitioned_table pg_catalog.pg_inherits
select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and o.n is not null group by 1, 2 order by 1 asc limit 1

## ---- PostgreSQL JDBC
== session |
SET extra_float_digits = 3
== session |
SET application_name = 'PostgreSQL JDBC Driver'
== read | pg_catalog.pg_type pg_catalog.pg_namespace
SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid FROM pg_catalog.pg_type LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r from pg_namespace as ns join ( select s.r, (current_schemas(false))[s.r] as nspname from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r using ( nspname ) ) as sp ON sp.nspoid = typnamespace WHERE pg_type.oid = $1 ORDER BY sp.r, pg_type.oid DESC
== session, read |
SHOW TRANSACTION ISOLATION LEVEL
== read |
select current_schema()
== session |
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
== read |
SELECT 1

## ---- psycopg2 and psycopg 3
== read | public.customers
SELECT id, name FROM customers WHERE email = 'a@b.c'
== write | public.customers
INSERT INTO customers (name, email) VALUES ('O''Brien', 'x@y.z') RETURNING id
== session |
SAVEPOINT "_pg3_1"
== session |
RELEASE "_pg3_1"
== read | pg_catalog.pg_type
SELECT
	    typname AS name, oid, typarray AS array_oid,
	    oid::regtype::text AS regtype, typdelim AS delimiter
	FROM pg_type t
	WHERE t.oid = to_regtype($1)
	ORDER BY t.oid
== session |
SET TIME ZONE 'UTC'
== session |
SET datestyle TO 'ISO'

## ---- node-postgres
== read | public.customers
SELECT id FROM customers WHERE id = $1
== read |
SELECT NOW()

## ---- tokio-postgres type lookups
== read | pg_catalog.pg_type pg_catalog.pg_range pg_catalog.pg_namespace
SELECT t.typname, t.typtype, t.typelem, r.rngsubtype, t.typbasetype, n.nspname, t.typrelid
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid
WHERE t.oid = $1
== read | pg_catalog.pg_type pg_catalog.pg_namespace
SELECT t.typname, t.typtype, t.typelem, NULL::OID, t.typbasetype, n.nspname, t.typrelid
FROM pg_catalog.pg_type t
INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid
WHERE t.oid = $1
== read | pg_catalog.pg_enum
SELECT enumlabel
FROM pg_catalog.pg_enum
WHERE enumtypid = $1
ORDER BY enumsortorder
== read | pg_catalog.pg_attribute
SELECT attname, atttypid
FROM pg_catalog.pg_attribute
WHERE attrelid = $1
AND NOT attisdropped
AND attnum > 0
ORDER BY attnum

## ---- Django
== read | public.auth_user
SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login" FROM "auth_user" WHERE "auth_user"."username" = 'admin' LIMIT 21
== write | public.django_session
INSERT INTO "django_session" ("session_key", "session_data", "expire_date") VALUES ('abc', 'data', '2026-01-01T00:00:00'::timestamp)
== write | public.auth_user
UPDATE "auth_user" SET "last_login" = '2026-11-25T10:00:00+00:00'::timestamptz WHERE "auth_user"."id" = 1
== write | public.django_session
DELETE FROM "django_session" WHERE "django_session"."session_key" IN ('abc')
== read | public.django_migrations
SELECT (1) AS "a" FROM "django_migrations" WHERE "django_migrations"."app" = 'auth' LIMIT 1
== read | public.shop_order
SELECT COUNT(*) AS "__count" FROM "shop_order" WHERE "shop_order"."status" = 'paid'
== read | pg_catalog.pg_class pg_catalog.pg_namespace
SELECT c.relname, CASE WHEN c.relispartition THEN 'p' WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('f', 'm', 'p', 'r', 'v') AND n.nspname NOT IN ('pg_catalog', 'pg_toast') AND pg_catalog.pg_table_is_visible(c.oid)
== ddl | public.shop_order
CREATE TABLE "shop_order" ("id" bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, "status" varchar(20) NOT NULL, "placed_at" timestamp with time zone NOT NULL)

## ---- Rails (ActiveRecord)
== read | public.users
SELECT "users".* FROM "users" WHERE "users"."id" = $1 LIMIT $2
== write | public.users
INSERT INTO "users" ("name", "created_at", "updated_at") VALUES ($1, $2, $3) RETURNING "id"
== write | public.users
UPDATE "users" SET "name" = $1, "updated_at" = $2 WHERE "users"."id" = $3
== write | public.users
DELETE FROM "users" WHERE "users"."id" = $1
== read | public.schema_migrations
SELECT "schema_migrations"."version" FROM "schema_migrations" ORDER BY "schema_migrations"."version" ASC
== read | pg_catalog.pg_attribute pg_catalog.pg_attrdef pg_catalog.pg_type pg_catalog.pg_collation
SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.atttypid, a.atttypmod, c.collname, col_description(a.attrelid, a.attnum) AS comment FROM pg_attribute a LEFT JOIN pg_attrdef d ON a.attrelid = d.adrelid AND a.attnum = d.adnum LEFT JOIN pg_type t ON a.atttypid = t.oid LEFT JOIN pg_collation c ON a.attcollation = c.oid AND a.attcollation <> t.typcollation WHERE a.attrelid = '"users"'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
== session |
SET client_min_messages TO 'warning'
== session |
SET standard_conforming_strings = on
== session |
SET intervalstyle = iso_8601
== session, read |
SHOW max_identifier_length

## ---- Hibernate
== read | public.users
select u1_0.id,u1_0.email,u1_0.name from users u1_0 where u1_0.id=$1
== read |
select nextval('users_seq')
== write | public.users
insert into users (email,name,id) values ($1,$2,$3)
== write | public.users
update users set email=$1,name=$2 where id=$3
== write | public.users
delete from users where id=$1

## ---- Prisma
== read | public.User
SELECT "public"."User"."id", "public"."User"."email" FROM "public"."User" WHERE "public"."User"."email" = $1 LIMIT $2 OFFSET $3
== write | public.User
INSERT INTO "public"."User" ("email","name") VALUES ($1,$2) RETURNING "public"."User"."id", "public"."User"."email"
== write | public.User
UPDATE "public"."User" SET "name" = $1 WHERE ("public"."User"."id" = $2 AND 1=1) RETURNING "public"."User"."id"
== write | public.Post
DELETE FROM "public"."Post" WHERE ("public"."Post"."id" = $1 AND 1=1)
