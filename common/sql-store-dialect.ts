/**
 * The Kysely dialect for a SQL connection URL: SQLite (better-sqlite3), MySQL/MariaDB (mysql2) or
 * PostgreSQL (pg), each driver wrapped the same way so that
 *
 * - an error that means the database cannot be used becomes ServiceUnavailable naming the
 *   database (never its password), wherever it is thrown: connecting, querying, migrating;
 * - a SQLite transaction takes the write lock when it begins (BEGIN IMMEDIATE), and migrations run
 *   in one: two processes migrating one file then run one after the other, as Kysely's locks make
 *   them do on MySQL (GET_LOCK) and PostgreSQL (an advisory lock);
 * - the SQLite connections of one process to one file take turns (a lock per file): better-sqlite3
 *   waits for another connection's write lock synchronously, which would stall the very event loop
 *   that connection needs to finish its transaction. Other processes are waited for as SQLite does.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  MysqlDialect,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  type DatabaseConnection,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type QueryResult,
  type SqliteDatabase,
  type SqliteStatement,
  type TransactionSettings,
} from 'kysely';
import mysql from 'mysql2';
import pg from 'pg';
import { translateDatabaseError } from './sql-store-errors.js';
import type { ServerLocation, StoreLocation } from './store-url.js';

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
      return wrap(new SqliteDialect({ database: async () => new StatementCache(openSqlite(location.path)) }), translate, fileTurns(location.path));
    case 'mysql':
      return wrap(new MysqlDialect({ pool: mysqlPool(location, options) }), translate, undefined);
    case 'postgres':
      return wrap(new PostgresDialect({ pool: postgresPool(location, options) }), translate, undefined);
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

/** Statements kept prepared per SQLite connection; the store's own are a few dozen. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The SQLite database as Kysely's driver sees it, but each statement prepared once: Kysely asks
 * for `prepare` on every query, and preparing cost as much as running the store's statements.
 * Least recently used statements go past STATEMENT_CACHE_SIZE (lists of ids make SQL texts of
 * many lengths). Reusing a statement is safe: the driver runs one query at a time on its one
 * connection, and SQLite prepares a statement again by itself when a migration changed the schema.
 */
class StatementCache implements SqliteDatabase {
  private readonly statements = new Map<string, SqliteStatement>();

  constructor(private readonly database: Database.Database) {}

  prepare(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.delete(this.statements.keys().next().value as string);
    } else {
      this.statements.delete(sql);
    }
    this.statements.set(sql, statement);
    return statement;
  }

  close(): void {
    this.statements.clear();
    this.database.close();
  }
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
    return pool;
  };
}

/** SQLite's adapter, but migrations in a transaction: SQLite's DDL is transactional. */
class SqliteMigratingAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** Hands out turns one at a time, in the order asked. */
class Turns {
  private last: Promise<void> = Promise.resolve();

  /** Resolves when it is the caller's turn, with the function that ends it. */
  async take(): Promise<() => void> {
    let end = (): void => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    const previous = this.last;
    this.last = previous.then(() => ended);
    await previous;
    return end;
  }
}

const sqliteFileTurns = new Map<string, Turns>();

function fileTurns(path: string): Turns {
  const key = resolve(path);
  let turns = sqliteFileTurns.get(key);
  if (turns === undefined) {
    turns = new Turns();
    sqliteFileTurns.set(key, turns);
  }
  return turns;
}

/** `turns`: SQLite's, whose connections to one file in this process take turns. */
function wrap(inner: Dialect, translate: (error: unknown) => unknown, turns: Turns | undefined): Dialect {
  return {
    createAdapter: (): DialectAdapter => (turns ? new SqliteMigratingAdapter() : inner.createAdapter()),
    createDriver: () => new TranslatingDriver(inner.createDriver(), translate, turns),
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
  /** The end of the turn each connection in use holds (SQLite). */
  private readonly turnEnds = new Map<DatabaseConnection, () => void>();

  constructor(
    private readonly inner: Driver,
    private readonly translate: (error: unknown) => unknown,
    private readonly turns: Turns | undefined,
  ) {}

  init(): Promise<void> {
    return guarded(this.translate, () => this.inner.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const endTurn = await this.turns?.take();
    try {
      const connection = new TranslatingConnection(await guarded(this.translate, () => this.inner.acquireConnection()), this.translate);
      if (endTurn) this.turnEnds.set(connection, endTurn);
      return connection;
    } catch (error) {
      endTurn?.();
      throw error;
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (this.turns) return connection.executeQuery(CompiledQuery.raw('begin immediate')).then(() => undefined);
    return guarded(this.translate, () => this.inner.beginTransaction(unwrap(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(this.translate, () => this.inner.commitTransaction(unwrap(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return guarded(this.translate, () => this.inner.rollbackTransaction(unwrap(connection)));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.releaseConnection(unwrap(connection));
    } finally {
      this.turnEnds.get(connection)?.();
      this.turnEnds.delete(connection);
    }
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection =>
  connection instanceof TranslatingConnection ? connection.inner : connection;
