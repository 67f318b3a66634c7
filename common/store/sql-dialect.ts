/**
 * The Kysely dialect for a SQL connection URL: SQLite (better-sqlite3), MySQL/MariaDB (mysql2) or
 * PostgreSQL (pg), each driver wrapped the same way so that
 *
 * - an error that means the database cannot be used becomes ServiceUnavailable naming the
 *   database (never its password), wherever it is thrown: connecting, querying, migrating;
 * - a SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE), and migrations run
 *   in one: two processes migrating one file then run one after the other, as Kysely's locks make
 *   them do on MySQL (GET_LOCK) and PostgreSQL (an advisory lock). SQLite's driver is our own
 *   (sqlite-driver.ts): statements prepared once, writes committed in groups.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  MysqlDialect,
  PostgresDialect,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import mysql from 'mysql2';
import pg from 'pg';
import { translateDatabaseError } from './sql-errors.js';
import { SqliteDriver } from './sqlite-driver.js';
import type { ServerLocation, StoreLocation } from './url.js';

export type SqlLocation = Exclude<StoreLocation, { kind: 'mongodb' }>;

export interface SqlDialectOptions {
  /** Most connections open at once to a server database (SQLite has one). */
  poolSize: number;
}

/** How long connecting to a database server may take before the store reports it unusable. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a SQLite statement waits for another process's write lock. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;

export function createSqlDialect(location: SqlLocation, options: SqlDialectOptions): Dialect {
  const translate = (error: unknown): unknown =>
    translateDatabaseError(error, location.where, location.kind === 'sqlite' ? '' : location.password);
  switch (location.kind) {
    case 'sqlite':
      return {
        createAdapter: () => new SqliteMigratingAdapter(),
        createDriver: () => new SqliteDriver({ open: () => openSqlite(location.path), translate, path: location.path }),
        createQueryCompiler: () => new SqliteQueryCompiler(),
        createIntrospector: (db) => new SqliteIntrospector(db),
      };
    case 'mysql':
      return wrap(new MysqlDialect({ pool: mysqlPool(location, options) }), translate);
    case 'postgres':
      return wrap(new PostgresDialect({ pool: postgresPool(location, options) }), translate);
  }
}

function openSqlite(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true });
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  return database;
}

/** A factory, so that a pool is made only when Kysely first connects (and errors are translated). */
function mysqlPool(location: ServerLocation, options: SqlDialectOptions): () => Promise<mysql.Pool> {
  return async () =>
    mysql.createPool({
      ...(location.socketPath === undefined ? { host: location.host, port: location.port } : { socketPath: location.socketPath }),
      user: location.user,
      password: location.password,
      database: location.database,
      connectionLimit: options.poolSize,
      connectTimeout: CONNECT_TIMEOUT_MS,
      // utf8mb4: MySQL's "utf8" cannot hold characters outside the BMP (emoji in logs).
      charset: 'UTF8MB4_BIN',
    });
}

function postgresPool(location: ServerLocation, options: SqlDialectOptions): () => Promise<pg.Pool> {
  return async () => {
    const pool = new pg.Pool({
      host: location.socketPath ?? location.host,
      port: location.port,
      user: location.user,
      password: location.password,
      database: location.database,
      max: options.poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // An idle client whose connection the server closed (a restart, a failover) is reported here;
    // without a listener Node would end the process. The pool drops that client by itself and the
    // next query connects anew.
    pool.on('error', () => undefined);
    // A client checked out has no pool listener: when its connection dies just after a query
    // failed with it, its late 'error' would end the process too. The query has failed already
    // (ServiceUnavailable to its caller), and the pool drops the client when it comes back.
    pool.on('connect', (client) => client.on('error', () => undefined));
    return pool;
  };
}

/** SQLite's adapter, but migrations in a transaction: SQLite's DDL is transactional. */
class SqliteMigratingAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

function wrap(inner: Dialect, translate: (error: unknown) => unknown): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createDriver: () => new TranslatingDriver(inner.createDriver(), translate),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
  };
}

async function guarded<T>(translate: (error: unknown) => unknown, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw translate(error);
  }
}

class TranslatingConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly translate: (error: unknown) => unknown,
  ) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return guarded(this.translate, () => this.inner.executeQuery<R>(query));
  }

  async *streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(query, chunkSize);
    } catch (error) {
      throw this.translate(error);
    }
  }
}

/** Savepoints are left out: the store does not use them. */
class TranslatingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly translate: (error: unknown) => unknown,
  ) {}

  init(): Promise<void> {
    return guarded(this.translate, () => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new TranslatingConnection(await guarded(this.translate, () => this.inner.acquireConnection()), this.translate);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return guarded(this.translate, () => this.inner.beginTransaction(unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(this.translate, () => this.inner.commitTransaction(unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(this.translate, () => this.inner.rollbackTransaction(unwrap(connection)));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof TranslatingConnection ? connection.inner : connection;
