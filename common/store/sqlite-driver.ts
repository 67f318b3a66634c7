/**
 * The store's Kysely driver for SQLite: one better-sqlite3 connection per store, each statement
 * prepared once, and group commit.
 *
 * Group commit: a commit writes every page it changed to the WAL (a request's row and each of its
 * indexes: 6 to 10 pages), and every thousand pages a checkpoint syncs the files. Statements that
 * write, from whichever caller, go into one transaction (a batch) held open until the end of the
 * turn of the event loop (setImmediate), then committed together: pages that several requests
 * change (the newest leaves of the time indexes) are written once per batch. Each caller's
 * promise settles only once its batch is committed, so a caller never learns of a write that is
 * not durable, and never acts on what another caller has not committed yet: a read that runs
 * while a batch is open sees the batch and waits for its commit too; one that runs with none
 * open (nothing uncommitted exists) answers at once.
 *
 * A Kysely transaction is a savepoint in the batch; other callers' statements wait until it ends
 * (committed into the batch, or rolled back alone), and its commit resolves with the batch's.
 * The batch begins IMMEDIATE: it holds the write lock, so the store's transactions stay
 * serializable across processes as before. A failed commit rolls the whole batch back and fails
 * every caller in it.
 *
 * The SQLite connections of one process to one file take turns holding a batch (a lock per file):
 * better-sqlite3 waits for another connection's write lock synchronously, which would stall the
 * very event loop that connection needs to commit. Other processes are waited for as SQLite does.
 */
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { CompiledQuery, DatabaseConnection, Driver, QueryResult } from 'kysely';
import { FALLBACK_AUTOCHECKPOINT_PAGES, SqliteCheckpointer } from './sqlite-checkpointer.js';

/** Statements kept prepared per connection; the store's own are a few dozen. */
const STATEMENT_CACHE_SIZE = 256;

export interface SqliteDriverOptions {
  /** Opens the file, its pragmas set. */
  open(): Database.Database;
  /** Turns what better-sqlite3 throws into the platform's error. */
  translate(error: unknown): unknown;
  /** The file's path: connections of this process to one file take turns writing. */
  path: string;
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

const fileTurns = new Map<string, Turns>();

function turnsOf(path: string): Turns {
  const key = resolve(path);
  let turns = fileTurns.get(key);
  if (turns === undefined) {
    turns = new Turns();
    fileTurns.set(key, turns);
  }
  return turns;
}

/**
 * Each statement prepared once: Kysely hands over SQL text for every query, and preparing cost as
 * much as running the store's statements. Least recently used statements go past
 * STATEMENT_CACHE_SIZE (lists of ids make SQL texts of many lengths). Reusing a statement is safe:
 * one runs at a time on the connection, and SQLite prepares it again by itself when a migration
 * changed the schema.
 */
class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly database: Database.Database) {}

  prepare(sql: string): Database.Statement {
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
}

/** One transaction holding the writes of one turn of the event loop. */
class Batch {
  readonly committed: Promise<void>;
  resolve: () => void = () => undefined;
  reject: (error: unknown) => void = () => undefined;

  constructor(readonly endTurn: () => void) {
    this.committed = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.committed.catch(() => undefined); // its callers get the failure; nobody else must
  }
}

class SqliteConnection implements DatabaseConnection {
  constructor(private readonly driver: SqliteDriver) {}

  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.execute<R>(this, query);
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    for (const row of (await this.driver.execute<R>(this, query)).rows) yield { rows: [row] };
  }
}

const SAVEPOINT = 'kysely_transaction';

export class SqliteDriver implements Driver {
  private db: Database.Database | undefined;
  private statements: StatementCache | undefined;
  private readonly turns: Turns;
  private readonly checkpointer: SqliteCheckpointer;
  /** The batch open now, if any. */
  private batch: Batch | undefined;
  private opening: Promise<void> | undefined;
  private commitScheduled: NodeJS.Immediate | undefined;
  /** The connection whose Kysely transaction is open; other connections' statements wait for its end. */
  private owner: SqliteConnection | undefined;
  private ownerEnded: (() => void)[] = [];
  /** Why the last batch failed: what the statements of a transaction in it get then. */
  private batchFailure: unknown;

  constructor(private readonly options: SqliteDriverOptions) {
    this.turns = turnsOf(options.path);
    this.checkpointer = new SqliteCheckpointer(resolve(options.path));
  }

  async init(): Promise<void> {
    try {
      this.db = this.options.open();
      // Checkpoints are the worker's (sqlite-checkpointer.ts); this one only if it falls far behind.
      this.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    } catch (error) {
      throw this.options.translate(error);
    }
    this.statements = new StatementCache(this.db);
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new SqliteConnection(this);
  }

  async releaseConnection(): Promise<void> {}

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    while (this.owner !== undefined) await this.ownerEnd();
    this.owner = connection as SqliteConnection;
    try {
      while (this.batch === undefined) await this.openBatch();
      this.run(`savepoint ${SAVEPOINT}`, []);
    } catch (error) {
      this.endOwnership();
      throw this.options.translate(error);
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const { batch } = this;
    if (this.owner !== connection || batch === undefined) throw new Error('No SQLite transaction of this connection is open');
    this.endTransaction([`release ${SAVEPOINT}`]);
    await batch.committed;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.owner !== connection) return; // it ended already: its commit failed with its batch
    this.endTransaction(this.batch === undefined ? [] : [`rollback to ${SAVEPOINT}`, `release ${SAVEPOINT}`]);
  }

  /** Ends the open Kysely transaction with `statements`; one that fails takes the batch with it. */
  private endTransaction(statements: string[]): void {
    try {
      for (const sql of statements) this.run(sql, []);
    } catch (error) {
      this.failBatch(error);
      throw this.options.translate(error);
    } finally {
      this.endOwnership();
    }
  }

  async destroy(): Promise<void> {
    clearImmediate(this.commitScheduled);
    this.commitScheduled = undefined;
    this.commit();
    // A transaction still open now is given up with its batch.
    this.failBatch(new Error('The store was closed before its transaction ended'));
    this.db?.close();
    this.checkpointer.close();
  }

  /** Runs one statement for `connection`; resolves once what it saw or wrote is committed. */
  async execute<R>(connection: SqliteConnection, query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      if (this.owner === connection) {
        // In its own transaction: it sees its own work, and its commit waits for the batch.
        if (this.batch === undefined) throw this.batchFailure;
        return this.run<R>(query.sql, query.parameters);
      }
      const statement = this.prepare(query.sql);
      for (;;) {
        if (this.owner !== undefined) {
          await this.ownerEnd();
        } else if (this.batch !== undefined) {
          const { batch } = this;
          const result = this.runStatement<R>(statement, query.parameters);
          await batch.committed;
          return result;
        } else if (statement.readonly && this.opening === undefined) {
          return this.runStatement<R>(statement, query.parameters); // nothing uncommitted to see
        } else {
          await this.openBatch();
        }
      }
    } catch (error) {
      throw this.options.translate(error);
    }
  }

  private prepare(sql: string): Database.Statement {
    if (this.statements === undefined) throw new Error('The SQLite driver was not initialized');
    return this.statements.prepare(sql);
  }

  private run<R>(sql: string, parameters: readonly unknown[]): QueryResult<R> {
    return this.runStatement<R>(this.prepare(sql), parameters);
  }

  private runStatement<R>(statement: Database.Statement, parameters: readonly unknown[]): QueryResult<R> {
    try {
      if (statement.reader) return { rows: statement.all(parameters) as R[] };
      const { changes, lastInsertRowid } = statement.run(parameters);
      return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
    } catch (error) {
      // Most failures undo the statement alone; some (a full disk, an I/O error) the whole batch.
      if (this.batch !== undefined && !this.db?.inTransaction) this.failBatch(error);
      throw error;
    }
  }

  /** Opens a batch: this file's turn in this process, then the write lock. */
  private openBatch(): Promise<void> {
    this.opening ??= (async () => {
      const endTurn = await this.turns.take();
      try {
        this.run('begin immediate', []);
      } catch (error) {
        endTurn();
        throw error;
      } finally {
        this.opening = undefined;
      }
      this.batch = new Batch(endTurn);
      this.scheduleCommit();
    })();
    return this.opening;
  }

  private scheduleCommit(): void {
    this.commitScheduled ??= setImmediate(() => {
      this.commitScheduled = undefined;
      this.commit();
    });
  }

  /** Commits the batch, unless a Kysely transaction is open in it: its end commits it then. */
  private commit(): void {
    const { batch } = this;
    if (batch === undefined || this.owner !== undefined) return;
    this.batch = undefined;
    try {
      this.run('commit', []);
    } catch (error) {
      if (this.db?.inTransaction) {
        try {
          this.run('rollback', []);
        } catch {
          // The connection rolls back by itself when it cannot: what it says is no news.
        }
      }
      batch.reject(this.options.translate(error));
      return;
    } finally {
      batch.endTurn();
    }
    batch.resolve();
    this.checkpointer.committed();
  }

  private failBatch(error: unknown): void {
    const { batch } = this;
    if (batch === undefined) return;
    this.batch = undefined;
    this.batchFailure = this.options.translate(error);
    batch.reject(this.batchFailure);
    batch.endTurn();
  }

  private ownerEnd(): Promise<void> {
    return new Promise((resolve) => this.ownerEnded.push(resolve));
  }

  private endOwnership(): void {
    this.owner = undefined;
    const waiting = this.ownerEnded;
    this.ownerEnded = [];
    for (const wake of waiting) wake();
    if (this.batch !== undefined) this.scheduleCommit();
  }
}
