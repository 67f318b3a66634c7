/**
 * SqlStore: the Store port over Kysely, one code path for SQLite, MySQL/MariaDB and PostgreSQL; the
 * dialect is chosen by the [database] connection URL (common/store/sql-dialect.ts). Values are
 * kept portable: ids and ISO-8601 times as text (they sort as they compare), booleans as 0/1, JSON
 * documents as text. Status changes that runners race for are atomic on every dialect: a request's
 * row is locked (SELECT … FOR UPDATE; SQLite's transactions hold the write lock from BEGIN) and
 * changed together with its function's slot count in one transaction, always in that order (the
 * request's row, then the function's), so two such transactions never wait on each other in a ring.
 */
import { Kysely, Migrator, SqliteAdapter, sql, type Migration, type QueryResult, type Transaction } from 'kysely';
import {
  FINAL_STATUSES,
  type AliasRecord,
  type EventRecord,
  type FunctionCode,
  type FunctionRecord,
  type FunctionStatus,
  type FunctionSubscription,
  type FunctionVersion,
  type RequestRecord,
  type RuntimeRecord,
  type SecretRecord,
  type SecretUse,
  type Subscription,
  type TimerRecord,
} from '../domain.js';
import type { CoordinationStore } from '../coordination/coordination-store.js';
import { SqlCoordinationStore, type CoordinationTables } from '../coordination/sql-coordination-store.js';
import { PrataiError } from '../errors.js';
import { migrations } from './migrations.js';
import { PrecompiledQuery } from './precompiled-query.js';
import { createSqlDialect, type SqlLocation } from './sql-dialect.js';
import { isUniqueViolation } from './sql-errors.js';
import {
  aliasInUse,
  aliasRow,
  cancelRow,
  namedQualifiers,
  qualifierUsers,
  subscribedEvents,
  unknownQualifier,
  type QualifierUsers,
  eventInUse,
  expiredRow,
  nodeSubscriptionRows,
  subscriptionRows,
  timerChangesRow,
  timerRow,
  toTimer,
  unknownEvent,
  type EventRow,
  type NodeSubscriptionRow,
  type SubscriptionRow,
  type TimerRow,
  finishableFrom,
  FUNCTION_COLUMNS,
  functionChangesRow,
  functionRow,
  functionSecretRows,
  outcomeRow,
  redriveRow,
  requeueRow,
  REQUEST_COLUMNS,
  requestRow,
  runnerRow,
  sameAsVersion,
  secretInUse,
  startBlocked,
  toAlias,
  toFunction,
  toHeartbeat,
  toRequest,
  toVersion,
  UNFINISHED,
  unknownSecret,
  unknownVersion,
  VERSION_COLUMNS,
  versionInUse,
  versionRow,
  versionText,
  type AliasRow,
  type FunctionRow,
  type FunctionSecretRow,
  type RequestRow,
  type RunnerRow,
  type RuntimeRow,
  type SecretRow,
  type VersionRow,
} from './rows.js';
import { SqlWorkflowStore, type WorkflowTables } from './sql-workflow-store.js';
import type { WorkflowStore } from './workflow-store.js';
import type { AliasChanges, FailedAttempt, FunctionChanges, Outcome, RequestFilter, RunnerHeartbeat, Scope, SealedValue, StartRequest, StartResult, Store, TimerChanges, TimerFilter } from './store.js';

export interface SqlStoreOptions {
  /** Most connections open at once to a server database ([database] max_pool_size). */
  poolSize: number;
  /** The migrations to apply; the real ones unless a test adds its own. */
  migrations?: Record<string, Migration>;
}

/** Rows the purge deletes per statement, so that no statement holds locks for long. */
const PURGE_BATCH = 500;

export interface Tables {
  functions: FunctionRow;
  requests: RequestRow;
  runtimes: RuntimeRow;
  runners: RunnerRow;
  secrets: SecretRow;
  function_secrets: FunctionSecretRow;
  timers: TimerRow;
  events: EventRow;
  subscriptions: SubscriptionRow;
  node_subscriptions: NodeSubscriptionRow;
  function_versions: VersionRow;
  function_aliases: AliasRow;
}

/** Requests inserted per statement by createRequests: well under every database's limit of parameters. */
const INSERT_BATCH = 200;

type FunctionColumns = Pick<FunctionRow, (typeof FUNCTION_COLUMNS)[number]>;

interface StartParameters {
  requestId: string;
  at: string;
  jobId: string;
}

/**
 * The usual start in one statement (SqlStore.startHoldingNoNewSlot): a request that may start
 * (store-rows.ts' startBlocked says the same: a change there goes here too) and needs no new slot
 * (its function has no max_concurrency, or it holds its slot already).
 */
function startHoldingNoNewSlot(db: Kysely<Tables>, { requestId, at, jobId }: StartParameters) {
  return db
    .updateTable('requests')
    .set((eb) => ({ status: 'running', started_at: at, attempts: eb('attempts', '+', 1), job_id: jobId }))
    .where('request_id', '=', requestId)
    .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('job_id', '=', jobId)])]))
    .where((eb) =>
      eb.or([
        eb('holds_slot', '=', 1),
        eb.not(eb.exists(eb.selectFrom('functions').select('functions.function_id').whereRef('functions.function_id', '=', 'requests.function_id').where('functions.max_concurrency', '>', 0))),
      ]),
    )
    .returningAll();
}

/**
 * The queries every request runs (the webhook's, then the runner's), compiled once
 * (common/store/precompiled-query.ts). A request's end sets columns that depend on how it ends:
 * one compiled query per shape, made on first use.
 */
class HotQueries {
  readonly functionById;
  readonly functionOfTenant;
  readonly requestById;
  readonly requestOfTenant;
  readonly insertRequest;
  /** The one-statement start, where the database returns the rows it updates (SQLite, PostgreSQL). */
  readonly start?: {
    always: PrecompiledQuery<StartParameters, RequestRow>;
    unlessExpired: PrecompiledQuery<StartParameters & { createdBefore: string }, RequestRow>;
  };
  private readonly ends = new Map<string, PrecompiledQuery<Record<string, unknown>, never>>();

  constructor(private readonly db: Kysely<Tables>) {
    const fn = () => db.selectFrom('functions').select(FUNCTION_COLUMNS);
    this.functionById = new PrecompiledQuery<{ functionId: string }, FunctionColumns>(db, ['functionId'], (p) => fn().where('function_id', '=', p.functionId));
    this.functionOfTenant = new PrecompiledQuery<{ functionId: string; tenantId: string }, FunctionColumns>(db, ['functionId', 'tenantId'], (p) =>
      fn().where('function_id', '=', p.functionId).where('tenant_id', '=', p.tenantId),
    );
    const request = () => db.selectFrom('requests').selectAll();
    this.requestById = new PrecompiledQuery<{ requestId: string }, RequestRow>(db, ['requestId'], (p) => request().where('request_id', '=', p.requestId));
    this.requestOfTenant = new PrecompiledQuery<{ requestId: string; tenantId: string }, RequestRow>(db, ['requestId', 'tenantId'], (p) =>
      request().where('request_id', '=', p.requestId).where('tenant_id', '=', p.tenantId),
    );
    this.insertRequest = new PrecompiledQuery<RequestRow, never>(db, REQUEST_COLUMNS, (row) => db.insertInto('requests').values(row));
    if (db.getExecutor().adapter.supportsReturning) {
      this.start = {
        always: new PrecompiledQuery(db, ['requestId', 'at', 'jobId'], (p) => startHoldingNoNewSlot(db, p)),
        unlessExpired: new PrecompiledQuery(db, ['requestId', 'at', 'jobId', 'createdBefore'], (p: StartParameters & { createdBefore: string }) =>
          startHoldingNoNewSlot(db, p).where('created_at', '>=', p.createdBefore),
        ),
      };
    }
  }

  /**
   * The one-statement end of a request that holds no slot: `columns` set when its status is one
   * of `from` (and it is in `attempt`, when given). Its values are the parameters; which columns,
   * which statuses and whether an attempt is checked make the query's shape.
   */
  end(requestId: string, from: readonly string[], columns: Partial<RequestRow>, attempt: number | undefined): Promise<QueryResult<never>> {
    const set = Object.fromEntries(Object.entries({ ...columns, holds_slot: 0 }).filter(([, value]) => value !== undefined));
    const names = Object.keys(set);
    const shape = `${names.join(',')}|${from.join(',')}|${attempt !== undefined}`;
    let query = this.ends.get(shape);
    if (query === undefined) {
      const parameters = attempt === undefined ? [...names, 'request_id'] : [...names, 'request_id', 'attempt'];
      query = new PrecompiledQuery<Record<string, unknown>, never>(this.db, parameters, (p) => {
        const columnsOf = Object.fromEntries(names.map((name) => [name, p[name]])) as Partial<RequestRow>;
        const update = this.db.updateTable('requests').set(columnsOf).where('request_id', '=', p.request_id as string).where('status', 'in', from).where('holds_slot', '=', 0);
        return attempt === undefined ? update : update.where('attempts', '=', p.attempt as number);
      });
      this.ends.set(shape, query);
    }
    return query.execute({ ...set, request_id: requestId, ...(attempt !== undefined && { attempt }) });
  }
}

export class SqlStore implements Store {
  private readonly sqlite: boolean;
  private readonly hot: HotQueries;
  private coordinationStore: CoordinationStore | undefined;

  private constructor(
    private readonly db: Kysely<Tables>,
    private readonly migrations: Record<string, Migration>,
  ) {
    this.sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
    this.hot = new HotQueries(db);
  }

  /** Opens the database at `location` (connecting lazily: the first call reports an unusable one). */
  static open(location: SqlLocation, options: SqlStoreOptions): SqlStore {
    return new SqlStore(new Kysely<Tables>({ dialect: createSqlDialect(location, options) }), options.migrations ?? migrations);
  }

  private workflowStore: WorkflowStore | undefined;

  workflows(): WorkflowStore {
    this.workflowStore ??= new SqlWorkflowStore(this.db as unknown as Kysely<WorkflowTables>, this.sqlite);
    return this.workflowStore;
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => this.migrations },
      migrationTableName: 'pratai_migration',
      migrationLockTableName: 'pratai_migration_lock',
    });
    const { error } = await migrator.migrateToLatest();
    if (error instanceof PrataiError) throw error;
    if (error) throw new PrataiError('ServiceUnavailable', `Database migration failed: ${(error as Error).message}`, { cause: error });
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.db);
    } catch (error) {
      if (error instanceof PrataiError) throw error;
      throw new PrataiError('ServiceUnavailable', `The database cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  coordination(): CoordinationStore {
    // Its tables are its own (migration 0011_coordination); the connection pool is shared.
    return (this.coordinationStore ??= new SqlCoordinationStore(this.db as unknown as Kysely<CoordinationTables>));
  }

  async createFunction(fn: FunctionRecord, code: FunctionCode): Promise<void> {
    // A new function has no versions nor aliases for a subscription to run.
    const unknown = unknownQualifier(fn.function_id, namedQualifiers(fn), [], []);
    if (unknown) throw unknown;
    try {
      if (fn.secrets.length === 0 && fn.subscriptions.length === 0) {
        await this.db.insertInto('functions').values(functionRow(fn, code)).execute();
        return;
      }
      await this.db.transaction().execute(async (trx) => {
        await this.lockSecrets(trx, fn.tenant_id, fn.secrets);
        await this.lockEvents(trx, fn.tenant_id, subscribedEvents(fn.subscriptions));
        await trx.insertInto('functions').values(functionRow(fn, code)).execute();
        if (fn.secrets.length > 0) await trx.insertInto('function_secrets').values(functionSecretRows(fn.function_id, fn.tenant_id, fn.secrets)).execute();
        await this.insertSubscriptions(trx, fn.function_id, fn.tenant_id, fn.subscriptions);
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new PrataiError('FunctionNameTaken', `A function named \`${fn.name}\` already exists in this project`);
      }
      throw error;
    }
  }

  /**
   * Locks the tenant's secrets of these names until the transaction ends (in name order, as every
   * transaction that locks several does), so that none is deleted while a function comes to name
   * it; throws UnknownSecret when one does not exist.
   */
  private async lockSecrets(trx: Transaction<Tables>, tenantId: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const query = trx.selectFrom('secrets').select('name').where('tenant_id', '=', tenantId).where('name', 'in', names).orderBy('name');
    const found = await (this.sqlite ? query : query.forUpdate()).execute();
    const error = unknownSecret(names, found.map((row) => row.name));
    if (error) throw error;
  }

  /** Stores which events and nodes a function subscribes to (in the transaction that stores the function's row). */
  private async insertSubscriptions(trx: Transaction<Tables>, functionId: string, tenantId: string, subscriptions: readonly FunctionSubscription[]): Promise<void> {
    const events = subscriptionRows(functionId, tenantId, subscriptions);
    const nodes = nodeSubscriptionRows(functionId, tenantId, subscriptions);
    if (events.length > 0) await trx.insertInto('subscriptions').values(events).execute();
    if (nodes.length > 0) await trx.insertInto('node_subscriptions').values(nodes).execute();
  }

  /** As lockSecrets, for the events a function subscribes to: UnknownEvent when one does not exist. */
  private async lockEvents(trx: Transaction<Tables>, tenantId: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const query = trx.selectFrom('events').select('name').where('tenant_id', '=', tenantId).where('name', 'in', names).orderBy('name');
    const found = await (this.sqlite ? query : query.forUpdate()).execute();
    const error = unknownEvent(names, found.map((row) => row.name));
    if (error) throw error;
  }

  async getFunction(functionId: string, scope: Scope): Promise<FunctionRecord | undefined> {
    const { rows } = await (scope === 'all-tenants'
      ? this.hot.functionById.execute({ functionId })
      : this.hot.functionOfTenant.execute({ functionId, tenantId: scope.tenantId }));
    const row = rows[0];
    return row && toFunction(row);
  }

  async getFunctionCode(functionId: string): Promise<FunctionCode | undefined> {
    return this.db.selectFrom('functions').select(['module', 'requirements']).where('function_id', '=', functionId).executeTakeFirst();
  }

  async listFunctions(scope: Scope): Promise<FunctionRecord[]> {
    let query = this.db.selectFrom('functions').select(FUNCTION_COLUMNS).orderBy('created_at', 'desc').orderBy('function_id', 'desc');
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    return (await query.execute()).map(toFunction);
  }

  async setFunctionBuild(functionId: string, codeSha256: string, status: FunctionStatus, buildLog: string): Promise<boolean> {
    const result = await this.db
      .updateTable('functions')
      .set({ status, build_log: buildLog, updated_at: new Date().toISOString() })
      .where('function_id', '=', functionId)
      .where('code_sha256', '=', codeSha256)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async updateFunction(functionId: string, changes: FunctionChanges, code?: FunctionCode): Promise<boolean> {
    try {
      const { secrets, subscriptions } = changes;
      if (secrets === undefined && subscriptions === undefined) {
        const result = await this.db.updateTable('functions').set(functionChangesRow(changes, code)).where('function_id', '=', functionId).executeTakeFirst();
        return result.numUpdatedRows > 0n;
      }
      return await this.db.transaction().execute(async (trx) => {
        // Locked: no version or alias a subscription comes to run is deleted meanwhile.
        const fn = await this.lockFunction(trx, functionId);
        if (fn === undefined) return false;
        if (secrets !== undefined) await this.lockSecrets(trx, fn.tenant_id, secrets);
        if (subscriptions !== undefined) {
          await this.lockEvents(trx, fn.tenant_id, subscribedEvents(subscriptions));
          await this.checkQualifiers(trx, functionId, namedQualifiers({ subscriptions }));
        }
        const result = await trx.updateTable('functions').set(functionChangesRow(changes, code)).where('function_id', '=', functionId).executeTakeFirst();
        if (secrets !== undefined) {
          await trx.deleteFrom('function_secrets').where('function_id', '=', functionId).execute();
          if (secrets.length > 0) await trx.insertInto('function_secrets').values(functionSecretRows(functionId, fn.tenant_id, secrets)).execute();
        }
        if (subscriptions !== undefined) {
          await trx.deleteFrom('subscriptions').where('function_id', '=', functionId).execute();
          await trx.deleteFrom('node_subscriptions').where('function_id', '=', functionId).execute();
          await this.insertSubscriptions(trx, functionId, fn.tenant_id, subscriptions);
        }
        return result.numUpdatedRows > 0n;
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('FunctionNameTaken', `A function named \`${changes.name}\` already exists in this project`);
      throw error;
    }
  }

  async deleteFunction(functionId: string): Promise<boolean> {
    // In one transaction: a function left naming secrets it no longer has would hold them forever,
    // and its timers and subscriptions would make requests of a function that is gone.
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('function_secrets').where('function_id', '=', functionId).execute();
      await trx.deleteFrom('subscriptions').where('function_id', '=', functionId).execute();
      await trx.deleteFrom('node_subscriptions').where('function_id', '=', functionId).execute();
      await trx.deleteFrom('timers').where('function_id', '=', functionId).execute();
      await trx.deleteFrom('function_aliases').where('function_id', '=', functionId).execute();
      await trx.deleteFrom('function_versions').where('function_id', '=', functionId).execute();
      const result = await trx.deleteFrom('functions').where('function_id', '=', functionId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  /**
   * The function's row, locked until the transaction ends: what publishing, deleting a version and
   * changing an alias take first, so that one of them at a time sees and changes a function's
   * versions and aliases (no alias comes to target a version being deleted).
   */
  private lockFunction(trx: Transaction<Tables>, functionId: string): Promise<FunctionRow | undefined> {
    const query = trx.selectFrom('functions').selectAll().where('function_id', '=', functionId);
    return (this.sqlite ? query : query.forUpdate()).executeTakeFirst();
  }

  async publishVersion(functionId: string, description: string, at: string): Promise<{ version: FunctionVersion; published: boolean } | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const fn = await this.lockFunction(trx, functionId);
      if (fn === undefined) return undefined;
      const latest = await trx.selectFrom('function_versions').selectAll().where('function_id', '=', functionId).orderBy('version', 'desc').limit(1).executeTakeFirst();
      if (latest !== undefined && sameAsVersion(fn, latest)) return { version: toVersion(latest), published: false };
      const number = Number(fn.last_version) + 1;
      await trx.updateTable('functions').set({ last_version: number }).where('function_id', '=', functionId).execute();
      const row = versionRow(fn, number, description, at);
      await trx.insertInto('function_versions').values(row).execute();
      return { version: toVersion(row), published: true };
    });
  }

  async getVersion(functionId: string, version: number): Promise<FunctionVersion | undefined> {
    const row = await this.db.selectFrom('function_versions').select(VERSION_COLUMNS).where('function_id', '=', functionId).where('version', '=', version).executeTakeFirst();
    return row && toVersion({ ...row, module: '', requirements: '' });
  }

  async getVersionCode(functionId: string, version: number): Promise<FunctionCode | undefined> {
    return this.db.selectFrom('function_versions').select(['module', 'requirements']).where('function_id', '=', functionId).where('version', '=', version).executeTakeFirst();
  }

  async listVersions(functionId: string): Promise<FunctionVersion[]> {
    const rows = await this.db.selectFrom('function_versions').select(VERSION_COLUMNS).where('function_id', '=', functionId).orderBy('version').execute();
    return rows.map((row) => toVersion({ ...row, module: '', requirements: '' }));
  }

  async deleteVersion(functionId: string, version: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if ((await this.lockFunction(trx, functionId)) === undefined) return false;
      const aliases = await trx.selectFrom('function_aliases').selectAll().where('function_id', '=', functionId).execute();
      const inUse = versionInUse(version, aliases.map(toAlias), await this.qualifierUsers(trx, functionId, String(version)));
      if (inUse) throw inUse;
      const result = await trx.deleteFrom('function_versions').where('function_id', '=', functionId).where('version', '=', version).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  /** Throws VersionNotFound when the alias targets a version the function lacks (its row locked by the caller). */
  private async checkTargets(trx: Transaction<Tables>, alias: Pick<AliasRecord, 'function_id' | 'version' | 'weights'>): Promise<void> {
    const rows = await trx.selectFrom('function_versions').select('version').where('function_id', '=', alias.function_id).execute();
    const error = unknownVersion(alias, rows.map((row) => Number(row.version)));
    if (error) throw error;
  }

  async createAlias(alias: AliasRecord): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        if ((await this.lockFunction(trx, alias.function_id)) === undefined) throw new PrataiError('FunctionNotFound', `No function with id \`${alias.function_id}\``);
        await this.checkTargets(trx, alias);
        await trx.insertInto('function_aliases').values(aliasRow(alias)).execute();
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('AliasExists', `The function has an alias named \`${alias.name}\` already; move it with PATCH`);
      throw error;
    }
  }

  async getAlias(functionId: string, name: string): Promise<AliasRecord | undefined> {
    const row = await this.db.selectFrom('function_aliases').selectAll().where('function_id', '=', functionId).where('name', '=', name).executeTakeFirst();
    return row && toAlias(row);
  }

  async listAliases(functionId: string): Promise<AliasRecord[]> {
    const rows = await this.db.selectFrom('function_aliases').selectAll().where('function_id', '=', functionId).orderBy('name').execute();
    return rows.map(toAlias);
  }

  async updateAlias(functionId: string, name: string, changes: AliasChanges): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if ((await this.lockFunction(trx, functionId)) === undefined) return false;
      const row = await trx.selectFrom('function_aliases').selectAll().where('function_id', '=', functionId).where('name', '=', name).executeTakeFirst();
      if (row === undefined) return false;
      const changed = { ...toAlias(row), ...changes };
      await this.checkTargets(trx, changed);
      const { version, weights, description, updated_at } = aliasRow(changed);
      await trx.updateTable('function_aliases').set({ version, weights, description, updated_at }).where('function_id', '=', functionId).where('name', '=', name).execute();
      return true;
    });
  }

  async deleteAlias(functionId: string, name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if ((await this.lockFunction(trx, functionId)) === undefined) return false;
      const inUse = aliasInUse(name, await this.qualifierUsers(trx, functionId, name));
      if (inUse) throw inUse;
      const result = await trx.deleteFrom('function_aliases').where('function_id', '=', functionId).where('name', '=', name).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  /** The function's jobs and subscriptions that run `qualifier` (its row locked by the caller). */
  private async qualifierUsers(trx: Transaction<Tables>, functionId: string, qualifier: string): Promise<QualifierUsers> {
    const [timers, subscriptions] = await Promise.all([
      trx.selectFrom('timers').select(['timer_id', 'qualifier']).where('function_id', '=', functionId).where('qualifier', '=', qualifier).orderBy('timer_id').execute(),
      trx.selectFrom('subscriptions').select(['event_name', 'qualifier']).where('function_id', '=', functionId).where('qualifier', '=', qualifier).orderBy('event_name').execute(),
    ]);
    return qualifierUsers(qualifier, timers, subscriptions);
  }

  /** Throws VersionNotFound or AliasNotFound when a qualifier names none of the function's (its row locked by the caller). */
  private async checkQualifiers(trx: Transaction<Tables>, functionId: string, qualifiers: readonly string[]): Promise<void> {
    if (qualifiers.length === 0) return;
    const [versions, aliases] = await Promise.all([
      trx.selectFrom('function_versions').select('version').where('function_id', '=', functionId).execute(),
      trx.selectFrom('function_aliases').select('name').where('function_id', '=', functionId).execute(),
    ]);
    const unknown = unknownQualifier(functionId, qualifiers, versions.map((row) => Number(row.version)), aliases.map((row) => row.name));
    if (unknown) throw unknown;
  }

  async createSecret(secret: SecretRecord): Promise<void> {
    try {
      await this.db.insertInto('secrets').values(secret).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('SecretExists', `A secret named \`${secret.name}\` exists already in this project; change its value with PUT /v1/secrets/${secret.name}`);
      throw error;
    }
  }

  async getSecret(tenantId: string, name: string): Promise<SecretRecord | undefined> {
    return this.db.selectFrom('secrets').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
  }

  async listSecrets(scope: Scope, names?: readonly string[]): Promise<SecretRecord[]> {
    if (names !== undefined && names.length === 0) return [];
    let query = this.db.selectFrom('secrets').selectAll().orderBy('tenant_id').orderBy('name');
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    if (names !== undefined) query = query.where('name', 'in', names);
    return query.execute();
  }

  async updateSecret(tenantId: string, name: string, sealed: SealedValue, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('secrets')
      .set((eb) => ({ key_id: sealed.key_id, ciphertext: sealed.ciphertext, version: eb('version', '+', 1), updated_at: at }))
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async resealSecret(tenantId: string, name: string, from: SealedValue, to: SealedValue): Promise<boolean> {
    const result = await this.db
      .updateTable('secrets')
      .set({ key_id: to.key_id, ciphertext: to.ciphertext })
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .where('key_id', '=', from.key_id)
      .where('ciphertext', '=', from.ciphertext)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async deleteSecret(tenantId: string, name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const query = trx.selectFrom('secrets').select('name').where('tenant_id', '=', tenantId).where('name', '=', name);
      if ((await (this.sqlite ? query : query.forUpdate()).executeTakeFirst()) === undefined) return false;
      const uses = await this.secretUses(trx, tenantId, name);
      if (uses.length > 0) throw secretInUse(name, uses);
      await trx.deleteFrom('secrets').where('tenant_id', '=', tenantId).where('name', '=', name).execute();
      return true;
    });
  }

  async listSecretUses(tenantId: string, name?: string): Promise<SecretUse[]> {
    return this.secretUses(this.db, tenantId, name);
  }

  private async secretUses(db: Kysely<Tables>, tenantId: string, name?: string): Promise<SecretUse[]> {
    let query = db
      .selectFrom('function_secrets')
      .innerJoin('functions', 'functions.function_id', 'function_secrets.function_id')
      .select(['function_secrets.secret_name as secret', 'function_secrets.function_id as function_id', 'functions.name as function_name'])
      .where('function_secrets.tenant_id', '=', tenantId)
      .orderBy('function_secrets.secret_name')
      .orderBy('functions.name');
    if (name !== undefined) query = query.where('function_secrets.secret_name', '=', name);
    return query.execute();
  }

  async createRequest(request: RequestRecord): Promise<void> {
    await this.hot.insertRequest.execute(requestRow(request));
  }

  async createRequests(requests: readonly RequestRecord[]): Promise<void> {
    if (requests.length === 0) return;
    await this.db.transaction().execute(async (trx) => this.insertRequests(trx, requests));
  }

  private async insertRequests(trx: Transaction<Tables>, requests: readonly RequestRecord[]): Promise<void> {
    for (let start = 0; start < requests.length; start += INSERT_BATCH) {
      await trx.insertInto('requests').values(requests.slice(start, start + INSERT_BATCH).map(requestRow)).execute();
    }
  }

  async discardRequest(requestId: string): Promise<void> {
    await this.db.deleteFrom('requests').where('request_id', '=', requestId).execute();
  }

  async getRequest(requestId: string, scope: Scope): Promise<RequestRecord | undefined> {
    const { rows } = await (scope === 'all-tenants'
      ? this.hot.requestById.execute({ requestId })
      : this.hot.requestOfTenant.execute({ requestId, tenantId: scope.tenantId }));
    const row = rows[0];
    return row && toRequest(row);
  }

  async listRequests(scope: Scope, filter: RequestFilter): Promise<RequestRecord[]> {
    let query = this.db.selectFrom('requests').selectAll();
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    if (filter.functionId !== undefined) query = query.where('function_id', '=', filter.functionId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.requestId !== undefined) query = query.where('request_id', '=', filter.requestId);
    if (filter.requestIds !== undefined) query = filter.requestIds.length === 0 ? query.where(sql<boolean>`1 = 0`) : query.where('request_id', 'in', filter.requestIds);
    if (filter.timerId !== undefined) query = query.where('timer_id', '=', filter.timerId);
    if (filter.source !== undefined) {
      const source = filter.source;
      query = source === 'webhook' ? query.where((eb) => eb.or([eb('source', 'is', null), eb('source', '=', 'webhook')])) : query.where('source', '=', source);
    }
    if (filter.queuedBefore !== undefined) query = query.where('queued_at', '<', filter.queuedBefore);
    if (filter.deadLetter !== undefined) query = query.where('dead_letter', '=', filter.deadLetter ? 1 : 0);
    if (filter.version === 'latest') query = query.where((eb) => eb.or([eb('version', '=', 'latest'), eb('version', 'is', null)]));
    else if (filter.version !== undefined) query = query.where('version', '=', versionText(filter.version));
    if (filter.alias !== undefined) query = query.where('alias', '=', filter.alias);
    if (filter.marker !== undefined) {
      const marker = await this.getRequest(filter.marker, scope);
      if (marker === undefined) throw new PrataiError('InvalidParameter', `Expected \`marker\` to be the id of a request on the previous page, got \`${filter.marker}\` (no such request)`);
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', marker.created_at),
          eb.and([eb('created_at', '=', marker.created_at), eb('request_id', '<', marker.request_id)]),
        ]),
      );
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('request_id', 'desc').limit(filter.limit).execute();
    return rows.map(toRequest);
  }

  async startRequest(requestId: string, start: StartRequest): Promise<StartResult> {
    const quick = await this.startHoldingNoNewSlot(requestId, start);
    if (quick !== undefined) return { started: true, request: toRequest(quick) };
    return this.db.transaction().execute(async (trx) => {
      const row = await this.lockRequest(trx, requestId);
      if (row === undefined) return { started: false, reason: 'final' };
      const blocked = startBlocked(row, start.jobId, start.expire?.createdBefore);
      if (blocked === 'final' || blocked === 'duplicate') return { started: false, reason: blocked };
      if (blocked === 'expire') {
        await this.endLocked(trx, row, expiredRow(start.expire?.message ?? '', start.at));
        return { started: false, reason: 'expired' };
      }
      let holdsSlot = row.holds_slot === 1;
      if (!holdsSlot) {
        const fn = await trx.selectFrom('functions').select('max_concurrency').where('function_id', '=', row.function_id).executeTakeFirst();
        if (fn !== undefined && fn.max_concurrency > 0) {
          // The WHERE takes the slot only while one is free: concurrent starts wait on the
          // function's row and see each other's count.
          const taken = await trx
            .updateTable('functions')
            .set((eb) => ({ running: eb('running', '+', 1) }))
            .where('function_id', '=', row.function_id)
            .where((eb) => eb('running', '<', eb.ref('max_concurrency')))
            .executeTakeFirst();
          if (taken.numUpdatedRows === 0n) return { started: false, reason: 'at_capacity' };
          holdsSlot = true;
        }
      }
      await trx
        .updateTable('requests')
        .set((eb) => ({ status: 'running', started_at: start.at, attempts: eb('attempts', '+', 1), job_id: start.jobId, holds_slot: holdsSlot ? 1 : 0 }))
        .where('request_id', '=', requestId)
        .execute();
      const started = await trx.selectFrom('requests').selectAll().where('request_id', '=', requestId).executeTakeFirstOrThrow();
      return { started: true, request: toRequest(started) };
    });
  }

  async finishRequest(requestId: string, outcome: Outcome): Promise<boolean> {
    return this.endRequest(requestId, finishableFrom(outcome), outcomeRow(outcome), outcome.attempt);
  }

  async requeueRequest(requestId: string, failed: FailedAttempt): Promise<boolean> {
    return this.endRequest(requestId, ['running'], requeueRow(failed), failed.attempt);
  }

  async redriveRequest(requestId: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('requests')
      .set(redriveRow(at))
      .where('request_id', '=', requestId)
      .where('dead_letter', '=', 1)
      .where('status', 'in', FINAL_STATUSES)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async cancelRequest(requestId: string, reason: string, at: string): Promise<boolean> {
    return this.endRequest(requestId, UNFINISHED, cancelRow(reason, at));
  }

  /** The request's row, locked until the transaction ends. */
  private lockRequest(trx: Transaction<Tables>, requestId: string): Promise<RequestRow | undefined> {
    const query = trx.selectFrom('requests').selectAll().where('request_id', '=', requestId);
    // SQLite has no FOR UPDATE: its transaction holds the database's write lock already.
    return (this.sqlite ? query : query.forUpdate()).executeTakeFirst();
  }

  /**
   * The usual start in one statement, where the database returns the rows it updates (SQLite,
   * PostgreSQL): a request that may start (startBlocked) and needs no new slot (its function has
   * no max_concurrency, or it holds its slot already). Undefined when it did not start so: the
   * locked path then decides, and says why not.
   */
  private async startHoldingNoNewSlot(requestId: string, start: StartRequest): Promise<RequestRow | undefined> {
    const queries = this.hot.start;
    if (queries === undefined) return undefined;
    const parameters = { requestId, at: start.at, jobId: start.jobId };
    const { rows } = await (start.expire === undefined
      ? queries.always.execute(parameters)
      : queries.unlessExpired.execute({ ...parameters, createdBefore: start.expire.createdBefore }));
    return rows[0];
  }

  /** Moves a request out of running (or queued) when its status is one of `from` (and it is in `attempt`), giving back its slot. */
  private async endRequest(requestId: string, from: readonly string[], columns: Partial<RequestRow>, attempt?: number): Promise<boolean> {
    // Most requests hold no slot: their end is then one conditional update.
    if (((await this.hot.end(requestId, from, columns, attempt)).numAffectedRows ?? 0n) > 0n) return true;
    return this.db.transaction().execute(async (trx) => {
      const row = await this.lockRequest(trx, requestId);
      if (row === undefined || !from.includes(row.status) || (attempt !== undefined && row.attempts !== attempt)) return false;
      await this.endLocked(trx, row, columns);
      return true;
    });
  }

  private async endLocked(trx: Transaction<Tables>, row: RequestRow, columns: Partial<RequestRow>): Promise<void> {
    await trx.updateTable('requests').set({ ...columns, holds_slot: 0 }).where('request_id', '=', row.request_id).execute();
    if (row.holds_slot === 1) {
      await trx
        .updateTable('functions')
        .set((eb) => ({ running: eb('running', '-', 1) }))
        .where('function_id', '=', row.function_id)
        .where('running', '>', 0)
        .execute();
    }
  }

  async cancelledAmong(requestIds: readonly string[]): Promise<string[]> {
    if (requestIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('requests')
      .select('request_id')
      .where('request_id', 'in', requestIds)
      .where('status', '=', 'cancelled')
      .execute();
    return rows.map((row) => row.request_id);
  }

  async cancelQueuedRequests(functionId: string, reason: string, at: string): Promise<number> {
    const result = await this.db
      .updateTable('requests')
      .set(cancelRow(reason, at))
      .where('function_id', '=', functionId)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async createTimer(timer: TimerRecord): Promise<void> {
    if (timer.qualifier === null) {
      await this.db.insertInto('timers').values(timerRow(timer)).execute();
      return;
    }
    // The function's row locked: the version or alias it runs is not deleted meanwhile.
    await this.db.transaction().execute(async (trx) => {
      if ((await this.lockFunction(trx, timer.function_id)) === undefined) throw new PrataiError('FunctionNotFound', `No function with id \`${timer.function_id}\``);
      await this.checkQualifiers(trx, timer.function_id, namedQualifiers(timer));
      await trx.insertInto('timers').values(timerRow(timer)).execute();
    });
  }

  async getTimer(timerId: string, scope: Scope): Promise<TimerRecord | undefined> {
    let query = this.db.selectFrom('timers').selectAll().where('timer_id', '=', timerId);
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    const row = await query.executeTakeFirst();
    return row && toTimer(row);
  }

  async listTimers(scope: Scope, filter: TimerFilter = {}): Promise<TimerRecord[]> {
    let query = this.db.selectFrom('timers').selectAll().orderBy('created_at', 'desc').orderBy('timer_id', 'desc');
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    if (filter.functionId !== undefined) query = query.where('function_id', '=', filter.functionId);
    return (await query.execute()).map(toTimer);
  }

  async changeTimer(timerId: string, version: number, changes: TimerChanges, requests: readonly RequestRecord[] = []): Promise<boolean> {
    const update = (db: Kysely<Tables>) =>
      db
        .updateTable('timers')
        .set({ ...timerChangesRow(changes), version: version + 1 })
        .where('timer_id', '=', timerId)
        .where('version', '=', version)
        .executeTakeFirst();
    if (requests.length === 0) return (await update(this.db)).numUpdatedRows > 0n;
    return this.db.transaction().execute(async (trx) => {
      if ((await update(trx)).numUpdatedRows === 0n) return false;
      await this.insertRequests(trx, requests);
      return true;
    });
  }

  async deleteTimer(timerId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('timers').where('timer_id', '=', timerId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async dueTimers(before: string, limit: number): Promise<TimerRecord[]> {
    const rows = await this.db
      .selectFrom('timers')
      .selectAll()
      .where('status', '=', 'running')
      .where('next_execution_time', '<=', before)
      .orderBy('next_execution_time')
      .limit(limit)
      .execute();
    return rows.map(toTimer);
  }

  async nextTimerTick(): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('timers')
      .select('next_execution_time')
      .where('status', '=', 'running')
      .where('next_execution_time', 'is not', null)
      .orderBy('next_execution_time')
      .limit(1)
      .executeTakeFirst();
    return row?.next_execution_time ?? undefined;
  }

  async createEvent(event: EventRecord): Promise<void> {
    try {
      await this.db.insertInto('events').values(event).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('EventExists', `An event named \`${event.name}\` exists already in this project`);
      throw error;
    }
  }

  async getEvent(tenantId: string, name: string): Promise<EventRecord | undefined> {
    return this.db.selectFrom('events').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
  }

  async listEvents(scope: Scope): Promise<EventRecord[]> {
    let query = this.db.selectFrom('events').selectAll().orderBy('tenant_id').orderBy('name');
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    return query.execute();
  }

  async deleteEvent(tenantId: string, name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const query = trx.selectFrom('events').select('name').where('tenant_id', '=', tenantId).where('name', '=', name);
      if ((await (this.sqlite ? query : query.forUpdate()).executeTakeFirst()) === undefined) return false;
      const subscribers = await this.subscriptions(trx, tenantId, name);
      if (subscribers.length > 0) throw eventInUse(name, subscribers);
      await trx.deleteFrom('events').where('tenant_id', '=', tenantId).where('name', '=', name).execute();
      return true;
    });
  }

  async listSubscriptions(tenantId: string, event?: string): Promise<Subscription[]> {
    return this.subscriptions(this.db, tenantId, event);
  }

  private async subscriptions(db: Kysely<Tables>, tenantId: string, event?: string): Promise<Subscription[]> {
    let query = db
      .selectFrom('subscriptions')
      .innerJoin('functions', 'functions.function_id', 'subscriptions.function_id')
      .select(['subscriptions.event_name as event', 'subscriptions.function_id as function_id', 'functions.name as function_name', 'subscriptions.qualifier as qualifier'])
      .where('subscriptions.tenant_id', '=', tenantId)
      .orderBy('subscriptions.event_name')
      .orderBy('functions.name');
    if (event !== undefined) query = query.where('subscriptions.event_name', '=', event);
    return query.execute();
  }

  async listRuntimes(): Promise<RuntimeRecord[]> {
    return this.db.selectFrom('runtimes').selectAll().orderBy('name').execute();
  }

  async getRuntime(name: string): Promise<RuntimeRecord | undefined> {
    return this.db.selectFrom('runtimes').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async createRuntime(runtime: RuntimeRecord): Promise<void> {
    try {
      await this.db.insertInto('runtimes').values(runtime).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('RuntimeExists', `A runtime named \`${runtime.name}\` exists already`);
      throw error;
    }
  }

  async deleteRuntime(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const user = await trx.selectFrom('functions').select('function_id').where('runtime', '=', name).limit(1).executeTakeFirst();
      if (user !== undefined) throw new PrataiError('RuntimeInUse', `Runtime \`${name}\` is used by function \`${user.function_id}\` (and maybe others); delete or move them first`);
      const result = await trx.deleteFrom('runtimes').where('name', '=', name).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async purgeFinishedRequests(finishedBefore: string): Promise<number> {
    let purged = 0;
    for (;;) {
      const batch = await this.db
        .selectFrom('requests')
        .select('request_id')
        .where('status', 'in', FINAL_STATUSES)
        .where('finished_at', '<', finishedBefore)
        .limit(PURGE_BATCH)
        .execute();
      if (batch.length === 0) return purged;
      const result = await this.db.deleteFrom('requests').where('request_id', 'in', batch.map((row) => row.request_id)).executeTakeFirst();
      purged += Number(result.numDeletedRows);
      if (batch.length < PURGE_BATCH) return purged;
    }
  }

  async recordHeartbeat(heartbeat: RunnerHeartbeat, staleBefore: string): Promise<RunnerHeartbeat | undefined> {
    const row = runnerRow(heartbeat);
    // Only the process holding the name, or one taking over from a holder that stopped beating.
    const update = async (): Promise<boolean> => {
      const result = await this.db
        .updateTable('runners')
        .set(row)
        .where('name', '=', heartbeat.name)
        .where((eb) => eb.or([eb('instance_id', '=', heartbeat.instanceId), eb('heartbeat_at', '<', staleBefore)]))
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    };
    if (await update()) return undefined;
    try {
      await this.db.insertInto('runners').values({ drain_requested: 0, ...row }).execute();
      return undefined;
    } catch (error) {
      // Another process holds the name, or inserted its first heartbeat between the two statements.
      if (!isUniqueViolation(error)) throw error;
    }
    if (await update()) return undefined;
    const holder = await this.db.selectFrom('runners').selectAll().where('name', '=', heartbeat.name).executeTakeFirst();
    return holder === undefined ? this.recordHeartbeat(heartbeat, staleBefore) : toHeartbeat(holder);
  }

  async deleteHeartbeat(name: string, instanceId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('runners').where('name', '=', name).where('instance_id', '=', instanceId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async listHeartbeats(): Promise<RunnerHeartbeat[]> {
    const rows = await this.db.selectFrom('runners').selectAll().execute();
    return rows.map(toHeartbeat);
  }

  async pruneHeartbeats(before: string): Promise<number> {
    const result = await this.db.deleteFrom('runners').where('heartbeat_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async requestDrain(name: string): Promise<boolean> {
    const result = await this.db.updateTable('runners').set({ drain_requested: 1 }).where('name', '=', name).executeTakeFirst();
    // MySQL counts only rows it changed: a runner already asked to drain is still found.
    if (result.numUpdatedRows > 0n) return true;
    return (await this.db.selectFrom('runners').select('name').where('name', '=', name).executeTakeFirst()) !== undefined;
  }
}
