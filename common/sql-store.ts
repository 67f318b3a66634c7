/**
 * SqlStore: the Store port over Kysely. One code path for every SQL dialect; the dialect is chosen
 * by the [database] connection URL. Values are kept portable: ids and ISO-8601 times as text,
 * booleans as 0/1, JSON documents as text.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Selectable } from 'kysely';
import type { FunctionCode, FunctionRecord, FunctionStatus, RequestRecord, RuntimeRecord } from './domain.js';
import { PrataiError } from './errors.js';
import { migrations } from './migrations.js';
import type { FunctionChanges, Outcome, RequestFilter, RunnerHeartbeat, Scope, Store } from './store.js';

interface FunctionsTable {
  function_id: string;
  user_id: string;
  tenant_id: string;
  name: string;
  description: string;
  type: string;
  event: string;
  public: number;
  runtime: string;
  memory: number;
  cpus: number;
  timeout: number;
  status: string;
  build_log: string;
  code_sha256: string;
  module: string;
  requirements: string;
  created_at: string;
  updated_at: string;
}

interface RequestsTable {
  request_id: string;
  function_id: string;
  tenant_id: string;
  user_id: string;
  status: string;
  payload: string;
  response: string | null;
  error: string | null;
  logs: string;
  attempts: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

interface RuntimesTable {
  name: string;
  description: string;
  image: string;
}

interface RunnersTable {
  name: string;
  docker_ok: number;
  images: string;
  heartbeat_at: string;
}

export interface Tables {
  functions: FunctionsTable;
  requests: RequestsTable;
  runtimes: RuntimesTable;
  runners: RunnersTable;
}

const FUNCTION_COLUMNS = [
  'function_id', 'user_id', 'tenant_id', 'name', 'description', 'type', 'event', 'public', 'runtime',
  'memory', 'cpus', 'timeout', 'status', 'build_log', 'code_sha256', 'created_at', 'updated_at',
] as const;

function toFunction(row: Pick<Selectable<FunctionsTable>, (typeof FUNCTION_COLUMNS)[number]>): FunctionRecord {
  return { ...row, public: row.public === 1, type: row.type as FunctionRecord['type'], event: 'webhook', status: row.status as FunctionStatus };
}

function toRequest(row: Selectable<RequestsTable>): RequestRecord {
  return {
    ...row,
    status: row.status as RequestRecord['status'],
    payload: JSON.parse(row.payload) as unknown,
    response: row.response === null ? null : (JSON.parse(row.response) as unknown),
    error: row.error === null ? null : (JSON.parse(row.error) as RequestRecord['error']),
    logs: JSON.parse(row.logs) as RequestRecord['logs'],
  };
}

function isUniqueViolation(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = `${typeof code === 'string' || typeof code === 'number' ? code : ''}${typeof message === 'string' ? message : ''}`;
  return /UNIQUE|unique|23505|ER_DUP_ENTRY/.test(text);
}

export class SqlStore implements Store {
  private constructor(private readonly db: Kysely<Tables>) {}

  /** Opens the database named by a connection URL. Only sqlite:/// for now. */
  static open(url: string): SqlStore {
    const match = /^sqlite:\/\/(\/.*)$/.exec(url);
    if (match?.[1] === undefined) {
      throw new PrataiError('InvalidParameter', `Expected [database] connection to be sqlite:///ABSOLUTE/PATH, got \`${url}\``);
    }
    const path = match[1];
    mkdirSync(dirname(path), { recursive: true });
    const database = new Database(path);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    database.pragma('busy_timeout = 5000');
    return new SqlStore(new Kysely<Tables>({ dialect: new SqliteDialect({ database }) }));
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: { getMigrations: async () => migrations } });
    const { error } = await migrator.migrateToLatest();
    if (error) throw new PrataiError('ServiceUnavailable', `Database migration failed: ${(error as Error).message}`, { cause: error });
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.db);
    } catch (error) {
      throw new PrataiError('ServiceUnavailable', `The database cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async createFunction(fn: FunctionRecord, code: FunctionCode): Promise<void> {
    try {
      await this.db
        .insertInto('functions')
        .values({ ...fn, public: fn.public ? 1 : 0, module: code.module, requirements: code.requirements })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new PrataiError('FunctionNameTaken', `A function named \`${fn.name}\` already exists in this project`);
      }
      throw error;
    }
  }

  async getFunction(functionId: string, scope: Scope): Promise<FunctionRecord | undefined> {
    let query = this.db.selectFrom('functions').select(FUNCTION_COLUMNS).where('function_id', '=', functionId);
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    const row = await query.executeTakeFirst();
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
    const { public: isPublic, ...rest } = changes;
    try {
      const result = await this.db
        .updateTable('functions')
        .set({ ...rest, ...(isPublic !== undefined && { public: isPublic ? 1 : 0 }), ...(code && { module: code.module, requirements: code.requirements }) })
        .where('function_id', '=', functionId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('FunctionNameTaken', `A function named \`${changes.name}\` already exists in this project`);
      throw error;
    }
  }

  async deleteFunction(functionId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('functions').where('function_id', '=', functionId).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async createRequest(request: RequestRecord): Promise<void> {
    await this.db
      .insertInto('requests')
      .values({
        ...request,
        payload: JSON.stringify(request.payload),
        response: request.response === null ? null : JSON.stringify(request.response),
        error: request.error === null ? null : JSON.stringify(request.error),
        logs: JSON.stringify(request.logs),
      })
      .execute();
  }

  async discardRequest(requestId: string): Promise<void> {
    await this.db.deleteFrom('requests').where('request_id', '=', requestId).execute();
  }

  async getRequest(requestId: string, scope: Scope): Promise<RequestRecord | undefined> {
    let query = this.db.selectFrom('requests').selectAll().where('request_id', '=', requestId);
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    const row = await query.executeTakeFirst();
    return row && toRequest(row);
  }

  async listRequests(scope: Scope, filter: RequestFilter): Promise<RequestRecord[]> {
    let query = this.db.selectFrom('requests').selectAll();
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    if (filter.functionId !== undefined) query = query.where('function_id', '=', filter.functionId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.requestId !== undefined) query = query.where('request_id', '=', filter.requestId);
    if (filter.createdBefore !== undefined) query = query.where('created_at', '<', filter.createdBefore);
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

  async startRequest(requestId: string, startedAt: string): Promise<RequestRecord | undefined> {
    const result = await this.db
      .updateTable('requests')
      .set((eb) => ({ status: 'running', started_at: startedAt, attempts: eb('attempts', '+', 1) }))
      .where('request_id', '=', requestId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return undefined;
    return this.getRequest(requestId, 'all-tenants');
  }

  async finishRequest(requestId: string, outcome: Outcome): Promise<boolean> {
    const result = await this.db
      .updateTable('requests')
      .set({
        status: outcome.status,
        response: outcome.response === null || outcome.response === undefined ? null : JSON.stringify(outcome.response),
        error: outcome.error === null ? null : JSON.stringify(outcome.error),
        logs: JSON.stringify(outcome.logs),
        finished_at: outcome.finishedAt,
        duration_ms: outcome.durationMs,
      })
      .where('request_id', '=', requestId)
      .where('status', 'in', outcome.status === 'cancelled' ? ['queued', 'running'] : ['running'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async cancelRequest(requestId: string, reason: string, at: string): Promise<boolean> {
    const result = await this.db
      .updateTable('requests')
      .set({ status: 'cancelled', error: JSON.stringify({ type: 'Cancelled', message: reason, traceback: '' }), finished_at: at })
      .where('request_id', '=', requestId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
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
      .set({
        status: 'cancelled',
        error: JSON.stringify({ type: 'Cancelled', message: reason, traceback: '' }),
        finished_at: at,
      })
      .where('function_id', '=', functionId)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async listRuntimes(): Promise<RuntimeRecord[]> {
    return this.db.selectFrom('runtimes').selectAll().orderBy('name').execute();
  }

  async getRuntime(name: string): Promise<RuntimeRecord | undefined> {
    return this.db.selectFrom('runtimes').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async recordHeartbeat(heartbeat: RunnerHeartbeat): Promise<void> {
    const row = { docker_ok: heartbeat.dockerOk ? 1 : 0, images: JSON.stringify(heartbeat.images), heartbeat_at: heartbeat.at };
    const updated = await this.db.updateTable('runners').set(row).where('name', '=', heartbeat.name).executeTakeFirst();
    if (updated.numUpdatedRows === 0n) {
      await this.db.insertInto('runners').values({ name: heartbeat.name, ...row }).execute();
    }
  }

  async listHeartbeats(): Promise<RunnerHeartbeat[]> {
    const rows = await this.db.selectFrom('runners').selectAll().execute();
    return rows.map((row) => ({ name: row.name, dockerOk: row.docker_ok === 1, images: JSON.parse(row.images) as string[], at: row.heartbeat_at }));
  }
}
