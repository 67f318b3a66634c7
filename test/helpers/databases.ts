/**
 * A database of its own for a test, created fresh and dropped after, on the servers these machines
 * run (shared/ENVIRONMENT.md): MariaDB at 127.0.0.1:3306 as root, PostgreSQL at 127.0.0.1:5432 as
 * postgres (trust), SQLite in a temporary folder. Other servers: PRATAI_TEST_MYSQL_URL and
 * PRATAI_TEST_POSTGRESQL_URL (a URL without the database name; an admin that may create databases).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

export type TestDatabaseKind = 'sqlite' | 'mysql' | 'postgres';

export interface TestDatabase {
  /** The [database] connection URL of the new database. */
  url: string;
  /** Closes, from the server's side, every connection to this database (as a restart or a failover would). */
  killConnections(): Promise<void>;
  drop(): Promise<void>;
}

const SERVERS = {
  mysql: process.env.PRATAI_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
  postgres: process.env.PRATAI_TEST_POSTGRESQL_URL ?? 'postgresql://postgres@127.0.0.1:5432',
};

const START = {
  mysql: 'start it (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd) or set PRATAI_TEST_MYSQL_URL',
  postgres: 'start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or set PRATAI_TEST_POSTGRESQL_URL',
};

/** A database name no other test file or run uses. */
export const uniqueDatabaseName = (): string => `pratai_test_${process.pid}_${randomBytes(4).toString('hex')}`;

/** Runs `action` with an admin connection to the server of `kind`; a server that is down fails the test with how to start it. */
async function asAdmin<T>(kind: 'mysql' | 'postgres', action: (query: (text: string, values?: unknown[]) => Promise<unknown[]>) => Promise<T>): Promise<T> {
  const server = new URL(SERVERS[kind]);
  const login = { host: server.hostname, port: Number(server.port), user: decodeURIComponent(server.username), password: decodeURIComponent(server.password) };
  if (kind === 'mysql') {
    const connection = await mysql.createConnection(login).catch((error: Error) => {
      throw new Error(`MariaDB/MySQL is not reachable at ${server.host} (${error.message}): ${START.mysql}`);
    });
    try {
      return await action(async (text, values) => (await connection.query(text, values))[0] as unknown[]);
    } finally {
      await connection.end();
    }
  }
  const client = new pg.Client({ ...login, database: 'postgres' });
  await client.connect().catch((error: Error) => {
    throw new Error(`PostgreSQL is not reachable at ${server.host} (${error.message}): ${START.postgres}`);
  });
  try {
    return await action(async (text, values) => (await client.query(text, values)).rows as unknown[]);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(kind: TestDatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'pratai-store-'));
    return {
      url: `sqlite://${join(dir, 'pratai.db')}`,
      killConnections: async () => undefined,
      drop: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const name = uniqueDatabaseName();
  const server = SERVERS[kind];
  const base = server.replace(/\/+$/, '');
  if (kind === 'mysql') {
    await asAdmin('mysql', (query) => query(`create database \`${name}\``));
    return {
      url: `${base}/${name}`,
      killConnections: () =>
        asAdmin('mysql', async (query) => {
          const rows = (await query('select id from information_schema.processlist where db = ? and id <> connection_id()', [name])) as { id: number }[];
          for (const { id } of rows) await query(`kill ${Number(id)}`).catch(() => undefined); // gone already
        }),
      drop: async () => {
        await asAdmin('mysql', (query) => query(`drop database if exists \`${name}\``));
      },
    };
  }
  await asAdmin('postgres', (query) => query(`create database "${name}"`));
  return {
    url: `${base}/${name}`,
    killConnections: async () => {
      await asAdmin('postgres', (query) => query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]));
    },
    // with (force): a store a failed test left open must not keep the database alive.
    drop: async () => {
      await asAdmin('postgres', (query) => query(`drop database if exists "${name}" with (force)`));
    },
  };
}
