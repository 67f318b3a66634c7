/**
 * MongoStore: the Store port over MongoDB through mongoose, as the original design named it. The
 * documents have the row shape every adapter shares (common/store/rows.ts), the same unique keys
 * and the same indexes as the SQL schema; status changes that runners race for are single
 * conditional updates of one document, which MongoDB applies atomically.
 *
 * A request's status and its function's slot count are two documents, and MongoDB changes two
 * documents atomically only in a transaction, which a standalone server does not offer. So they
 * change one after the other, in the order that errs on the safe side: a slot is taken before the
 * request is marked running (and given back if that fails), and given back after the request
 * ended. A process dying between the two steps leaves one slot counted that nothing holds: the
 * function then runs one request fewer at once, never one more.
 *
 * A secret and the functions that name it are documents of two collections too: a function is
 * stored after the check that its secrets exist, and a secret deleted after the check that no
 * function names it. Without a transaction, a function created at the very moment its secret is
 * deleted may name a secret that is gone; its requests then fail on it (UnknownSecret).
 *
 * A tick's claim and its request are two documents too: the claim (a conditional update of the
 * timer's version) comes first, so two schedulers never both fire a tick, and a process dying
 * between the two loses that one tick rather than firing it twice.
 *
 * Versions and aliases likewise: an alias is stored after the check that its versions exist, a
 * version deleted after the check that no alias targets it, and two publishes of one function at
 * the very same moment may both make a version (numbers stay unique: the function's counter is
 * incremented atomically).
 *
 * Coordination needs several documents changed atomically with a project's counter: MongoDB has
 * none (CoordinationUnsupported), so a function subscribing to a node is refused with that error.
 *
 * No MongoDB server can be had on the machines this is developed on: test/store-mongodb.test.ts
 * runs the store contract only when PRATAI_TEST_MONGODB_URL names one.
 */
import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import {
  FINAL_STATUSES,
  nodeSubscriptions,
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
import { PrataiError } from '../errors.js';
import { PYTHON3_RUNTIME } from './migrations.js';
import * as codec from './rows.js';
import type { AliasRow, EventRow, FunctionRow, FunctionSecretRow, RequestRow, RunnerRow, RuntimeRow, SecretRow, SubscriptionRow, TimerRow, VersionRow } from './rows.js';
import type { AliasChanges, FailedAttempt, FunctionChanges, Outcome, RequestFilter, RunnerHeartbeat, Scope, SealedValue, StartRequest, StartResult, Store, TimerChanges, TimerFilter } from './store.js';

export interface MongoStoreOptions {
  /** Most connections open at once ([database] max_pool_size). */
  poolSize: number;
}

/** How long an operation waits for a usable server before the store reports it unusable (the URL's serverSelectionTimeoutMS wins). */
const SERVER_SELECTION_TIMEOUT_MS = 10_000;

const text = { type: String, required: true };
const textOrNull = { type: String, default: null };
const number = { type: Number, required: true };
const zero = { type: Number, default: 0 };
// bufferCommands off: a call made while the server is away goes to the driver, which waits for it
// at most serverSelectionTimeoutMS, instead of mongoose holding it in a buffer for 10 s more.
const options = { versionKey: false, autoIndex: false, strict: true, bufferCommands: false } as const;

const functionSchema = new Schema<FunctionRow>(
  {
    function_id: text, user_id: text, tenant_id: text, name: text, description: { type: String, default: '' }, type: text, event: text,
    public: number, runtime: text, memory: number, cpus: number, timeout: number, retries: zero, retry_on_error: zero, max_concurrency: zero,
    network: zero, context: textOrNull, secrets: textOrNull, openstack: textOrNull, subscriptions: textOrNull, running: zero, last_version: zero, status: text, build_log: { type: String, default: '' },
    code_sha256: text, module: text, requirements: { type: String, default: '' }, created_at: text, updated_at: text,
  },
  { ...options, collection: 'functions' },
);
functionSchema.index({ function_id: 1 }, { unique: true });
functionSchema.index({ tenant_id: 1, name: 1 }, { unique: true });

const requestSchema = new Schema<RequestRow>(
  {
    request_id: text, function_id: text, tenant_id: text, user_id: text, status: text, payload: text, response: textOrNull,
    error: textOrNull, logs: text, attempts: number, dead_letter: zero, holds_slot: zero, job_id: textOrNull, queued_at: text, source: textOrNull, timer_id: textOrNull, scheduled_at: textOrNull, created_at: text,
    started_at: textOrNull, finished_at: textOrNull,
    duration_ms: { type: Number, default: null }, headers: textOrNull, version: textOrNull, alias: textOrNull, trigger_depth: { type: Number, default: null },
  },
  { ...options, collection: 'requests' },
);
// The SQL schema's indexes: by id; a tenant's newest first; everyone's; a function's by status; finished by age.
requestSchema.index({ request_id: 1 }, { unique: true });
requestSchema.index({ tenant_id: 1, created_at: -1, request_id: -1 });
requestSchema.index({ created_at: -1, request_id: -1 });
requestSchema.index({ function_id: 1, status: 1 });
requestSchema.index({ finished_at: 1 });
requestSchema.index({ dead_letter: 1, created_at: -1, request_id: -1 });
requestSchema.index({ status: 1, queued_at: 1 });
requestSchema.index({ timer_id: 1, created_at: -1 });

const nullableNumber = { type: Number, default: null };
const timerSchema = new Schema<TimerRow>(
  {
    timer_id: text, tenant_id: text, user_id: text, function_id: text, name: { type: String, default: '' }, pattern: text, timezone: text, payload: text,
    status: text, count: nullableNumber, executions: zero, skipped: zero, first_execution_time: textOrNull, next_execution_time: textOrNull,
    last_execution_time: textOrNull, last_request_ids: text, qualifier: textOrNull, version: number, created_at: text, updated_at: text,
  },
  { ...options, collection: 'timers' },
);
timerSchema.index({ timer_id: 1 }, { unique: true });
timerSchema.index({ status: 1, next_execution_time: 1 });
timerSchema.index({ tenant_id: 1, created_at: -1 });
timerSchema.index({ function_id: 1 });

const eventSchema = new Schema<EventRow>({ tenant_id: text, name: text, description: { type: String, default: '' }, created_at: text }, { ...options, collection: 'events' });
eventSchema.index({ tenant_id: 1, name: 1 }, { unique: true });

const subscriptionSchema = new Schema<SubscriptionRow>({ function_id: text, tenant_id: text, event_name: text, qualifier: textOrNull }, { ...options, collection: 'subscriptions' });
subscriptionSchema.index({ function_id: 1, event_name: 1 }, { unique: true });
subscriptionSchema.index({ tenant_id: 1, event_name: 1 });

const runtimeSchema = new Schema<RuntimeRow>({ name: text, description: text, image: text }, { ...options, collection: 'runtimes' });
runtimeSchema.index({ name: 1 }, { unique: true });

const runnerSchema = new Schema<RunnerRow>({ name: text, host: text, pid: number, instance_id: text, started_at: text, docker_ok: number, images: text, heartbeat_at: text, load: { type: String, default: '{}' }, drain_requested: { type: Number, default: 0 } }, { ...options, collection: 'runners' });
runnerSchema.index({ name: 1 }, { unique: true });

const secretSchema = new Schema<SecretRow>(
  { tenant_id: text, name: text, key_id: text, ciphertext: text, version: number, created_at: text, updated_at: text },
  { ...options, collection: 'secrets' },
);
secretSchema.index({ tenant_id: 1, name: 1 }, { unique: true });

const functionSecretSchema = new Schema<FunctionSecretRow>({ function_id: text, tenant_id: text, secret_name: text }, { ...options, collection: 'function_secrets' });
functionSecretSchema.index({ function_id: 1, secret_name: 1 }, { unique: true });
functionSecretSchema.index({ tenant_id: 1, secret_name: 1 });

const versionSchema = new Schema<VersionRow>(
  {
    function_id: text, version: number, tenant_id: text, description: { type: String, default: '' }, runtime: text, memory: number, cpus: number,
    timeout: number, retries: number, retry_on_error: number, network: number, context: text, secrets: text, code_sha256: text, module: text,
    requirements: { type: String, default: '' }, created_at: text,
  },
  { ...options, collection: 'function_versions' },
);
versionSchema.index({ function_id: 1, version: 1 }, { unique: true });

const aliasSchema = new Schema<AliasRow>(
  { function_id: text, name: text, tenant_id: text, version: number, weights: text, description: { type: String, default: '' }, created_at: text, updated_at: text },
  { ...options, collection: 'function_aliases' },
);
aliasSchema.index({ function_id: 1, name: 1 }, { unique: true });

/** Leaves MongoDB's own `_id` out of every answer. */
const NO_ID = { _id: 0 } as const;
const FUNCTION_PROJECTION = Object.fromEntries([['_id', 0], ...codec.FUNCTION_COLUMNS.map((column) => [column, 1])]) as Record<string, 0 | 1>;

const isDuplicateKey = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === 11000;

/** Driver errors that mean the server cannot be used: no server selected, network, buffering timed out, shutting down. */
function isUnavailable(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && /^(MongooseServerSelectionError|MongoServerSelectionError|MongoNetworkError|MongoNetworkTimeoutError|MongoNotConnectedError|MongoTopologyClosedError)$/.test(name)) return true;
  return error instanceof Error && /buffering timed out|ECONNREFUSED|not primary|NotWritablePrimary|ShutdownInProgress/.test(error.message);
}

export class MongoStore implements Store {
  private readonly functions: Model<FunctionRow>;
  private readonly requests: Model<RequestRow>;
  private readonly runtimes: Model<RuntimeRow>;
  private readonly runners: Model<RunnerRow>;
  private readonly secrets: Model<SecretRow>;
  private readonly functionSecrets: Model<FunctionSecretRow>;
  private readonly timers: Model<TimerRow>;
  private readonly events: Model<EventRow>;
  private readonly subscriptionRows: Model<SubscriptionRow>;
  private readonly versions: Model<VersionRow>;
  private readonly aliases: Model<AliasRow>;

  private constructor(
    private readonly connection: Connection,
    private readonly where: string,
  ) {
    this.functions = connection.model('Function', functionSchema);
    this.requests = connection.model('Request', requestSchema);
    this.runtimes = connection.model('Runtime', runtimeSchema);
    this.runners = connection.model('Runner', runnerSchema);
    this.secrets = connection.model('Secret', secretSchema);
    this.functionSecrets = connection.model('FunctionSecret', functionSecretSchema);
    this.timers = connection.model('Timer', timerSchema);
    this.events = connection.model('Event', eventSchema);
    this.subscriptionRows = connection.model('Subscription', subscriptionSchema);
    this.versions = connection.model('FunctionVersion', versionSchema);
    this.aliases = connection.model('FunctionAlias', aliasSchema);
  }

  /** Connects in the background; the first call that cannot reach the server reports it. */
  static open(location: { url: string; where: string }, options: MongoStoreOptions): MongoStore {
    const connection = mongoose.createConnection(location.url, {
      maxPoolSize: options.poolSize,
      bufferCommands: false,
      ...(!/[?&]serverSelectionTimeoutMS=/i.test(location.url) && { serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS }),
    });
    // A failed connection is reported here as well as to each waiting call; without a listener
    // Node would end the process.
    connection.on('error', () => undefined);
    return new MongoStore(connection, location.where);
  }

  /** Runs one operation, turning "the server cannot be used" into ServiceUnavailable naming it. */
  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      await this.connection.asPromise();
      return await operation();
    } catch (error) {
      if (error instanceof PrataiError || !isUnavailable(error)) throw error;
      throw new PrataiError('ServiceUnavailable', `The database ${this.where} cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }

  /** MongoDB has no schema to migrate: the indexes are made (idempotently, from any number of processes) and the runtime seeded. */
  async migrate(): Promise<void> {
    await this.run(async () => {
      for (const model of [this.functions, this.requests, this.runtimes, this.runners, this.secrets, this.functionSecrets, this.versions, this.aliases, this.timers, this.events, this.subscriptionRows]) await model.createIndexes();
      // What SQL's migration 0002 adds, on documents stored before it.
      await this.functions.updateMany({ retries: { $exists: false } }, { $set: { retries: 0, retry_on_error: 0, max_concurrency: 0, running: 0 } });
      await this.requests.updateMany({ queued_at: { $exists: false } }, [{ $set: { dead_letter: 0, holds_slot: 0, job_id: null, queued_at: '$created_at' } }]);
      // What SQL's migration 0003 adds.
      await this.functions.updateMany({ network: { $exists: false } }, { $set: { network: 0 } });
      try {
        await this.runtimes.updateOne({ name: PYTHON3_RUNTIME.name }, { $setOnInsert: PYTHON3_RUNTIME }, { upsert: true });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error; // another process seeded it at the same moment
      }
    });
  }

  async ping(): Promise<void> {
    await this.run(async () => this.connection.db?.command({ ping: 1 }));
  }

  coordination(): CoordinationStore {
    // A project's writes need one counter and several documents changed atomically, which a
    // standalone MongoDB (no multi-document transactions) cannot give.
    throw new PrataiError('CoordinationUnsupported', 'Coordination needs a SQL database ([database] connection: SQLite, MariaDB or PostgreSQL); this deployment uses MongoDB');
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  async createFunction(fn: FunctionRecord, code: FunctionCode): Promise<void> {
    // A new function has no versions nor aliases for a subscription to run.
    const unknown = codec.unknownQualifier(fn.function_id, codec.namedQualifiers(fn), [], []);
    if (unknown) throw unknown;
    await this.checkSecrets(fn.tenant_id, fn.secrets);
    await this.checkSubscriptions(fn.tenant_id, fn.subscriptions);
    await this.run(async () => {
      try {
        await this.functions.create(codec.functionRow(fn, code));
      } catch (error) {
        if (isDuplicateKey(error)) throw new PrataiError('FunctionNameTaken', `A function named \`${fn.name}\` already exists in this project`);
        throw error;
      }
    });
    await this.nameSecrets(fn.function_id, fn.tenant_id, fn.secrets);
    await this.subscribe(fn.function_id, fn.tenant_id, fn.subscriptions);
  }

  /**
   * Throws UnknownEvent when one of the events is not the tenant's, CoordinationUnsupported for a
   * node subscription: without coordination here, no node ever changes.
   */
  private async checkSubscriptions(tenantId: string, subscriptions: readonly FunctionSubscription[]): Promise<void> {
    const node = nodeSubscriptions(subscriptions)[0];
    if (node !== undefined) {
      throw new PrataiError('CoordinationUnsupported', `Expected no node subscription in \`subscriptions\`, got one of ${node.path}: nodes need coordination, which needs a SQL database ([database] connection: SQLite, MariaDB or PostgreSQL); this deployment uses MongoDB`);
    }
    const names = codec.subscribedEvents(subscriptions);
    if (names.length === 0) return;
    const found = await this.run(() => this.events.find({ tenant_id: tenantId, name: { $in: names } }, { _id: 0, name: 1 }).lean<{ name: string }[]>());
    const error = codec.unknownEvent(names, found.map((row) => row.name));
    if (error) throw error;
  }

  /** Makes the events of `subscriptions` (`EVENT` or `EVENT:QUALIFIER`) the function's event subscriptions (checkSubscriptions allowed no node). */
  private async subscribe(functionId: string, tenantId: string, subscriptions: readonly FunctionSubscription[]): Promise<void> {
    const rows = codec.subscriptionRows(functionId, tenantId, subscriptions);
    await this.run(async () => {
      await this.subscriptionRows.deleteMany({ function_id: functionId, event_name: { $nin: rows.map((row) => row.event_name) } });
      for (const row of rows) {
        const { qualifier, ...key } = row;
        await this.subscriptionRows.updateOne(key, { $set: { qualifier } }, { upsert: true });
      }
    });
  }

  /** Throws VersionNotFound or AliasNotFound when a qualifier names none of the function's (checked, not locked: no transactions here). */
  private async checkQualifiers(functionId: string, qualifiers: readonly string[]): Promise<void> {
    if (qualifiers.length === 0) return;
    const [versions, aliases] = await Promise.all([this.listVersions(functionId), this.listAliases(functionId)]);
    const unknown = codec.unknownQualifier(functionId, qualifiers, versions.map((v) => v.version), aliases.map((a) => a.name));
    if (unknown) throw unknown;
  }

  /** The function's jobs and subscriptions that run `qualifier`. */
  private async qualifierUsers(functionId: string, qualifier: string): Promise<codec.QualifierUsers> {
    const [timers, subscriptions] = await this.run(() =>
      Promise.all([
        this.timers.find({ function_id: functionId, qualifier }, { _id: 0, timer_id: 1, qualifier: 1 }).sort({ timer_id: 1 }).lean<Pick<TimerRow, 'timer_id' | 'qualifier'>[]>(),
        this.subscriptionRows.find({ function_id: functionId, qualifier }, { _id: 0, event_name: 1, qualifier: 1 }).sort({ event_name: 1 }).lean<Pick<SubscriptionRow, 'event_name' | 'qualifier'>[]>(),
      ]),
    );
    return codec.qualifierUsers(qualifier, timers, subscriptions);
  }

  /** Throws UnknownSecret when one of `names` is not a secret of the tenant. */
  private async checkSecrets(tenantId: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const found = await this.run(() => this.secrets.find({ tenant_id: tenantId, name: { $in: names } }, { _id: 0, name: 1 }).lean<{ name: string }[]>());
    const error = codec.unknownSecret(names, found.map((row) => row.name));
    if (error) throw error;
  }

  /** Makes `names` the secrets the function names. */
  private async nameSecrets(functionId: string, tenantId: string, names: readonly string[]): Promise<void> {
    await this.run(async () => {
      await this.functionSecrets.deleteMany({ function_id: functionId, secret_name: { $nin: names } });
      for (const row of codec.functionSecretRows(functionId, tenantId, names)) await this.functionSecrets.updateOne(row, { $setOnInsert: row }, { upsert: true });
    });
  }

  async getFunction(functionId: string, scope: Scope): Promise<FunctionRecord | undefined> {
    const row = await this.run(() => this.functions.findOne({ function_id: functionId, ...tenantOf(scope) }, FUNCTION_PROJECTION).lean<FunctionRow>());
    return row ? codec.toFunction(row) : undefined;
  }

  async getFunctionCode(functionId: string): Promise<FunctionCode | undefined> {
    const row = await this.run(() => this.functions.findOne({ function_id: functionId }, { _id: 0, module: 1, requirements: 1 }).lean<FunctionCode>());
    return row ?? undefined;
  }

  async listFunctions(scope: Scope): Promise<FunctionRecord[]> {
    const rows = await this.run(() => this.functions.find(tenantOf(scope), FUNCTION_PROJECTION).sort({ created_at: -1, function_id: -1 }).lean<FunctionRow[]>());
    return rows.map(codec.toFunction);
  }

  async setFunctionBuild(functionId: string, codeSha256: string, status: FunctionStatus, buildLog: string): Promise<boolean> {
    const result = await this.run(() =>
      this.functions.updateOne({ function_id: functionId, code_sha256: codeSha256 }, { $set: { status, build_log: buildLog, updated_at: new Date().toISOString() } }),
    );
    return result.matchedCount > 0;
  }

  async updateFunction(functionId: string, changes: FunctionChanges, code?: FunctionCode): Promise<boolean> {
    let tenantId: string | undefined;
    if (changes.secrets !== undefined || changes.subscriptions !== undefined) {
      const fn = await this.run(() => this.functions.findOne({ function_id: functionId }, { _id: 0, tenant_id: 1 }).lean<{ tenant_id: string }>());
      if (fn === null) return false;
      tenantId = fn.tenant_id;
      if (changes.secrets !== undefined) await this.checkSecrets(tenantId, changes.secrets);
      if (changes.subscriptions !== undefined) {
        await this.checkSubscriptions(tenantId, changes.subscriptions);
        await this.checkQualifiers(functionId, codec.namedQualifiers({ subscriptions: changes.subscriptions }));
      }
    }
    const changed = await this.run(async () => {
      try {
        const result = await this.functions.updateOne({ function_id: functionId }, { $set: codec.functionChangesRow(changes, code) });
        return result.matchedCount > 0;
      } catch (error) {
        if (isDuplicateKey(error)) throw new PrataiError('FunctionNameTaken', `A function named \`${changes.name}\` already exists in this project`);
        throw error;
      }
    });
    if (changed && changes.secrets !== undefined && tenantId !== undefined) await this.nameSecrets(functionId, tenantId, changes.secrets);
    if (changed && changes.subscriptions !== undefined && tenantId !== undefined) await this.subscribe(functionId, tenantId, changes.subscriptions);
    return changed;
  }

  async deleteFunction(functionId: string): Promise<boolean> {
    const result = await this.run(() => this.functions.deleteOne({ function_id: functionId }));
    await this.run(() => this.functionSecrets.deleteMany({ function_id: functionId }));
    await this.run(() => this.subscriptionRows.deleteMany({ function_id: functionId }));
    await this.run(() => this.timers.deleteMany({ function_id: functionId }));
    await this.run(() => this.aliases.deleteMany({ function_id: functionId }));
    await this.run(() => this.versions.deleteMany({ function_id: functionId }));
    return result.deletedCount > 0;
  }

  async publishVersion(functionId: string, description: string, at: string): Promise<{ version: FunctionVersion; published: boolean } | undefined> {
    const fn = await this.run(() => this.functions.findOne({ function_id: functionId }, NO_ID).lean<FunctionRow>());
    if (fn === null) return undefined;
    const latest = await this.run(() => this.versions.findOne({ function_id: functionId }, NO_ID).sort({ version: -1 }).lean<VersionRow>());
    if (latest !== null && codec.sameAsVersion(fn, latest)) return { version: codec.toVersion(latest), published: false };
    const counted = await this.run(() => this.functions.findOneAndUpdate({ function_id: functionId }, { $inc: { last_version: 1 } }, { new: true, projection: { _id: 0, last_version: 1 } }).lean<{ last_version: number }>());
    if (counted === null) return undefined;
    const row = codec.versionRow(fn, counted.last_version, description, at);
    await this.run(() => this.versions.create(row));
    return { version: codec.toVersion(row), published: true };
  }

  async getVersion(functionId: string, version: number): Promise<FunctionVersion | undefined> {
    const row = await this.run(() => this.versions.findOne({ function_id: functionId, version }, NO_ID).lean<VersionRow>());
    return row ? codec.toVersion(row) : undefined;
  }

  async getVersionCode(functionId: string, version: number): Promise<FunctionCode | undefined> {
    const row = await this.run(() => this.versions.findOne({ function_id: functionId, version }, { _id: 0, module: 1, requirements: 1 }).lean<FunctionCode>());
    return row ?? undefined;
  }

  async listVersions(functionId: string): Promise<FunctionVersion[]> {
    const rows = await this.run(() => this.versions.find({ function_id: functionId }, { _id: 0, module: 0, requirements: 0 }).sort({ version: 1 }).lean<VersionRow[]>());
    return rows.map(codec.toVersion);
  }

  async deleteVersion(functionId: string, version: number): Promise<boolean> {
    const inUse = codec.versionInUse(version, await this.listAliases(functionId), await this.qualifierUsers(functionId, String(version)));
    if (inUse) throw inUse;
    const result = await this.run(() => this.versions.deleteOne({ function_id: functionId, version }));
    return result.deletedCount > 0;
  }

  private async checkTargets(alias: Pick<AliasRecord, 'function_id' | 'version' | 'weights'>): Promise<void> {
    const rows = await this.run(() => this.versions.find({ function_id: alias.function_id }, { _id: 0, version: 1 }).lean<{ version: number }[]>());
    const error = codec.unknownVersion(alias, rows.map((row) => row.version));
    if (error) throw error;
  }

  async createAlias(alias: AliasRecord): Promise<void> {
    await this.checkTargets(alias);
    await this.run(async () => {
      try {
        await this.aliases.create(codec.aliasRow(alias));
      } catch (error) {
        if (isDuplicateKey(error)) throw new PrataiError('AliasExists', `The function has an alias named \`${alias.name}\` already; move it with PATCH`);
        throw error;
      }
    });
  }

  async getAlias(functionId: string, name: string): Promise<AliasRecord | undefined> {
    const row = await this.run(() => this.aliases.findOne({ function_id: functionId, name }, NO_ID).lean<AliasRow>());
    return row ? codec.toAlias(row) : undefined;
  }

  async listAliases(functionId: string): Promise<AliasRecord[]> {
    const rows = await this.run(() => this.aliases.find({ function_id: functionId }, NO_ID).sort({ name: 1 }).lean<AliasRow[]>());
    return rows.map(codec.toAlias);
  }

  async updateAlias(functionId: string, name: string, changes: AliasChanges): Promise<boolean> {
    const alias = await this.getAlias(functionId, name);
    if (alias === undefined) return false;
    const changed = { ...alias, ...changes };
    await this.checkTargets(changed);
    const { version, weights, description, updated_at } = codec.aliasRow(changed);
    const result = await this.run(() => this.aliases.updateOne({ function_id: functionId, name }, { $set: { version, weights, description, updated_at } }));
    return result.matchedCount > 0;
  }

  async deleteAlias(functionId: string, name: string): Promise<boolean> {
    const inUse = codec.aliasInUse(name, await this.qualifierUsers(functionId, name));
    if (inUse) throw inUse;
    const result = await this.run(() => this.aliases.deleteOne({ function_id: functionId, name }));
    return result.deletedCount > 0;
  }

  async createSecret(secret: SecretRecord): Promise<void> {
    await this.run(async () => {
      try {
        await this.secrets.create(secret);
      } catch (error) {
        if (isDuplicateKey(error)) throw new PrataiError('SecretExists', `A secret named \`${secret.name}\` exists already in this project; change its value with PUT /v1/secrets/${secret.name}`);
        throw error;
      }
    });
  }

  async getSecret(tenantId: string, name: string): Promise<SecretRecord | undefined> {
    const row = await this.run(() => this.secrets.findOne({ tenant_id: tenantId, name }, NO_ID).lean<SecretRecord>());
    return row ?? undefined;
  }

  async listSecrets(scope: Scope, names?: readonly string[]): Promise<SecretRecord[]> {
    const query = { ...tenantOf(scope), ...(names !== undefined && { name: { $in: names } }) };
    return this.run(() => this.secrets.find(query, NO_ID).sort({ tenant_id: 1, name: 1 }).lean<SecretRecord[]>());
  }

  async updateSecret(tenantId: string, name: string, sealed: SealedValue, at: string): Promise<boolean> {
    const result = await this.run(() =>
      this.secrets.updateOne({ tenant_id: tenantId, name }, { $set: { key_id: sealed.key_id, ciphertext: sealed.ciphertext, updated_at: at }, $inc: { version: 1 } }),
    );
    return result.matchedCount > 0;
  }

  async resealSecret(tenantId: string, name: string, from: SealedValue, to: SealedValue): Promise<boolean> {
    const result = await this.run(() =>
      this.secrets.updateOne({ tenant_id: tenantId, name, key_id: from.key_id, ciphertext: from.ciphertext }, { $set: { key_id: to.key_id, ciphertext: to.ciphertext } }),
    );
    return result.matchedCount > 0;
  }

  async deleteSecret(tenantId: string, name: string): Promise<boolean> {
    const uses = await this.listSecretUses(tenantId, name);
    if (uses.length > 0) {
      if ((await this.getSecret(tenantId, name)) === undefined) return false;
      throw codec.secretInUse(name, uses);
    }
    const result = await this.run(() => this.secrets.deleteOne({ tenant_id: tenantId, name }));
    return result.deletedCount > 0;
  }

  async listSecretUses(tenantId: string, name?: string): Promise<SecretUse[]> {
    const rows = await this.run(() =>
      this.functionSecrets.find({ tenant_id: tenantId, ...(name !== undefined && { secret_name: name }) }, NO_ID).lean<FunctionSecretRow[]>(),
    );
    if (rows.length === 0) return [];
    const functions = await this.run(() =>
      this.functions.find({ function_id: { $in: [...new Set(rows.map((row) => row.function_id))] } }, { _id: 0, function_id: 1, name: 1 }).lean<{ function_id: string; name: string }[]>(),
    );
    const names = new Map(functions.map((fn) => [fn.function_id, fn.name]));
    return rows
      .filter((row) => names.has(row.function_id))
      .map((row) => ({ secret: row.secret_name, function_id: row.function_id, function_name: names.get(row.function_id) as string }))
      .sort((a, b) => (a.secret === b.secret ? (a.function_name < b.function_name ? -1 : 1) : a.secret < b.secret ? -1 : 1));
  }

  async createRequest(request: RequestRecord): Promise<void> {
    await this.run(() => this.requests.create(codec.requestRow(request)));
  }

  async createRequests(requests: readonly RequestRecord[]): Promise<void> {
    if (requests.length === 0) return;
    // All or none without a transaction: what was inserted before a failure is removed again.
    try {
      await this.run(() => this.requests.insertMany(requests.map(codec.requestRow), { ordered: true }));
    } catch (error) {
      await this.run(() => this.requests.deleteMany({ request_id: { $in: requests.map((request) => request.request_id) } })).catch(() => undefined);
      throw error;
    }
  }

  async discardRequest(requestId: string): Promise<void> {
    await this.run(() => this.requests.deleteOne({ request_id: requestId }));
  }

  async getRequest(requestId: string, scope: Scope): Promise<RequestRecord | undefined> {
    const row = await this.run(() => this.requests.findOne({ request_id: requestId, ...tenantOf(scope) }, NO_ID).lean<RequestRow>());
    return row ? codec.toRequest(row) : undefined;
  }

  async listRequests(scope: Scope, filter: RequestFilter): Promise<RequestRecord[]> {
    const query: Record<string, unknown> = { ...tenantOf(scope) };
    if (filter.functionId !== undefined) query.function_id = filter.functionId;
    if (filter.status !== undefined) query.status = filter.status;
    if (filter.requestId !== undefined) query.request_id = filter.requestId;
    if (filter.requestIds !== undefined) query.request_id = filter.requestId === undefined ? { $in: filter.requestIds } : { $in: filter.requestIds.filter((id) => id === filter.requestId) };
    if (filter.timerId !== undefined) query.timer_id = filter.timerId;
    if (filter.source !== undefined) query.source = filter.source === 'webhook' ? { $in: [null, 'webhook'] } : filter.source;
    if (filter.queuedBefore !== undefined) query.queued_at = { $lt: filter.queuedBefore };
    if (filter.deadLetter !== undefined) query.dead_letter = filter.deadLetter ? 1 : 0;
    if (filter.version !== undefined) query.version = filter.version === 'latest' ? { $in: ['latest', null] } : codec.versionText(filter.version);
    if (filter.alias !== undefined) query.alias = filter.alias;
    const createdBefore: Record<string, unknown>[] = [];
    if (filter.marker !== undefined) {
      const marker = await this.getRequest(filter.marker, scope);
      if (marker === undefined) throw new PrataiError('InvalidParameter', `Expected \`marker\` to be the id of a request on the previous page, got \`${filter.marker}\` (no such request)`);
      createdBefore.push({ $or: [{ created_at: { $lt: marker.created_at } }, { created_at: marker.created_at, request_id: { $lt: marker.request_id } }] });
    }
    if (createdBefore.length > 0) query.$and = createdBefore;
    const rows = await this.run(() => this.requests.find(query, NO_ID).sort({ created_at: -1, request_id: -1 }).limit(filter.limit).lean<RequestRow[]>());
    return rows.map(codec.toRequest);
  }

  async startRequest(requestId: string, start: StartRequest): Promise<StartResult> {
    const row = await this.run(() => this.requests.findOne({ request_id: requestId }, NO_ID).lean<RequestRow>());
    if (row === null) return { started: false, reason: 'final' };
    const blocked = codec.startBlocked(row, start.jobId, start.expire?.createdBefore);
    if (blocked === 'final' || blocked === 'duplicate') return { started: false, reason: blocked };
    const takeable = { request_id: requestId, holds_slot: row.holds_slot, $or: [{ status: 'queued' }, { status: 'running', job_id: start.jobId }] };
    if (blocked === 'expire') {
      const ended = await this.run(() => this.requests.updateOne(takeable, { $set: codec.expiredRow(start.expire?.message ?? '', start.at) }));
      if (ended.modifiedCount === 0) return this.startRequest(requestId, start); // it changed meanwhile: decide again
      if (row.holds_slot === 1) await this.giveBackSlot(row.function_id);
      return { started: false, reason: 'expired' };
    }
    let tookSlot = false;
    if (row.holds_slot !== 1) {
      const fn = await this.run(() => this.functions.findOne({ function_id: row.function_id }, { _id: 0, max_concurrency: 1 }).lean<Pick<FunctionRow, 'max_concurrency'>>());
      if (fn !== null && fn.max_concurrency > 0) {
        const taken = await this.run(() =>
          this.functions.updateOne({ function_id: row.function_id, $expr: { $lt: ['$running', '$max_concurrency'] } }, { $inc: { running: 1 } }),
        );
        if (taken.modifiedCount === 0) return { started: false, reason: 'at_capacity' };
        tookSlot = true;
      }
    }
    const started = await this.run(() =>
      this.requests
        .findOneAndUpdate(
          takeable,
          { $set: { status: 'running', started_at: start.at, job_id: start.jobId, holds_slot: row.holds_slot === 1 || tookSlot ? 1 : 0 }, $inc: { attempts: 1 } },
          { returnDocument: 'after', projection: NO_ID },
        )
        .lean<RequestRow>(),
    );
    if (started !== null) return { started: true, request: codec.toRequest(started) };
    // Another runner moved it between the read and the update: give the slot back, decide again.
    if (tookSlot) await this.giveBackSlot(row.function_id);
    return this.startRequest(requestId, start);
  }

  async finishRequest(requestId: string, outcome: Outcome): Promise<boolean> {
    return this.endRequest(requestId, codec.finishableFrom(outcome), codec.outcomeRow(outcome), outcome.attempt);
  }

  async requeueRequest(requestId: string, failed: FailedAttempt): Promise<boolean> {
    return this.endRequest(requestId, ['running'], codec.requeueRow(failed), failed.attempt);
  }

  async redriveRequest(requestId: string, at: string): Promise<boolean> {
    const result = await this.run(() =>
      this.requests.updateOne({ request_id: requestId, dead_letter: 1, status: { $in: FINAL_STATUSES } }, { $set: codec.redriveRow(at) }),
    );
    return result.modifiedCount > 0;
  }

  async cancelRequest(requestId: string, reason: string, at: string): Promise<boolean> {
    return this.endRequest(requestId, codec.UNFINISHED, codec.cancelRow(reason, at));
  }

  /** Moves a request whose status is one of `from` (and that is in `attempt`), then gives back the slot it held. */
  private async endRequest(requestId: string, from: readonly string[], columns: Partial<RequestRow>, attempt?: number): Promise<boolean> {
    const before = await this.run(() =>
      this.requests
        .findOneAndUpdate({ request_id: requestId, status: { $in: from }, ...(attempt !== undefined && { attempts: attempt }) }, { $set: { ...columns, holds_slot: 0 } }, { returnDocument: 'before', projection: { _id: 0, function_id: 1, holds_slot: 1 } })
        .lean<Pick<RequestRow, 'function_id' | 'holds_slot'>>(),
    );
    if (before === null) return false;
    if (before.holds_slot === 1) await this.giveBackSlot(before.function_id);
    return true;
  }

  private async giveBackSlot(functionId: string): Promise<void> {
    await this.run(() => this.functions.updateOne({ function_id: functionId, running: { $gt: 0 } }, { $inc: { running: -1 } }));
  }

  async cancelledAmong(requestIds: readonly string[]): Promise<string[]> {
    if (requestIds.length === 0) return [];
    const rows = await this.run(() => this.requests.find({ request_id: { $in: requestIds }, status: 'cancelled' }, { _id: 0, request_id: 1 }).lean<{ request_id: string }[]>());
    return rows.map((row) => row.request_id);
  }

  async cancelQueuedRequests(functionId: string, reason: string, at: string): Promise<number> {
    const result = await this.run(() => this.requests.updateMany({ function_id: functionId, status: 'queued' }, { $set: codec.cancelRow(reason, at) }));
    return result.modifiedCount;
  }

  async purgeFinishedRequests(finishedBefore: string): Promise<number> {
    const result = await this.run(() => this.requests.deleteMany({ status: { $in: FINAL_STATUSES }, finished_at: { $lt: finishedBefore } }));
    return result.deletedCount;
  }

  async createTimer(timer: TimerRecord): Promise<void> {
    if (timer.qualifier !== null) {
      if ((await this.getFunction(timer.function_id, 'all-tenants')) === undefined) throw new PrataiError('FunctionNotFound', `No function with id \`${timer.function_id}\``);
      await this.checkQualifiers(timer.function_id, codec.namedQualifiers(timer));
    }
    await this.run(() => this.timers.create(codec.timerRow(timer)));
  }

  async getTimer(timerId: string, scope: Scope): Promise<TimerRecord | undefined> {
    const row = await this.run(() => this.timers.findOne({ timer_id: timerId, ...tenantOf(scope) }, NO_ID).lean<TimerRow>());
    return row ? codec.toTimer(row) : undefined;
  }

  async listTimers(scope: Scope, filter: TimerFilter = {}): Promise<TimerRecord[]> {
    const query = { ...tenantOf(scope), ...(filter.functionId !== undefined && { function_id: filter.functionId }) };
    const rows = await this.run(() => this.timers.find(query, NO_ID).sort({ created_at: -1, timer_id: -1 }).lean<TimerRow[]>());
    return rows.map(codec.toTimer);
  }

  async changeTimer(timerId: string, version: number, changes: TimerChanges, requests: readonly RequestRecord[] = []): Promise<boolean> {
    const result = await this.run(() => this.timers.updateOne({ timer_id: timerId, version }, { $set: { ...codec.timerChangesRow(changes), version: version + 1 } }));
    if (result.modifiedCount === 0) return false;
    if (requests.length > 0) await this.createRequests(requests);
    return true;
  }

  async deleteTimer(timerId: string): Promise<boolean> {
    const result = await this.run(() => this.timers.deleteOne({ timer_id: timerId }));
    return result.deletedCount > 0;
  }

  async dueTimers(before: string, limit: number): Promise<TimerRecord[]> {
    const rows = await this.run(() =>
      this.timers.find({ status: 'running', next_execution_time: { $ne: null, $lte: before } }, NO_ID).sort({ next_execution_time: 1 }).limit(limit).lean<TimerRow[]>(),
    );
    return rows.map(codec.toTimer);
  }

  async nextTimerTick(): Promise<string | undefined> {
    const row = await this.run(() =>
      this.timers.findOne({ status: 'running', next_execution_time: { $ne: null } }, { _id: 0, next_execution_time: 1 }).sort({ next_execution_time: 1 }).lean<Pick<TimerRow, 'next_execution_time'>>(),
    );
    return row?.next_execution_time ?? undefined;
  }

  async createEvent(event: EventRecord): Promise<void> {
    await this.run(async () => {
      try {
        await this.events.create(event);
      } catch (error) {
        if (isDuplicateKey(error)) throw new PrataiError('EventExists', `An event named \`${event.name}\` exists already in this project`);
        throw error;
      }
    });
  }

  async getEvent(tenantId: string, name: string): Promise<EventRecord | undefined> {
    const row = await this.run(() => this.events.findOne({ tenant_id: tenantId, name }, NO_ID).lean<EventRecord>());
    return row ?? undefined;
  }

  async listEvents(scope: Scope): Promise<EventRecord[]> {
    return this.run(() => this.events.find(tenantOf(scope), NO_ID).sort({ tenant_id: 1, name: 1 }).lean<EventRecord[]>());
  }

  async deleteEvent(tenantId: string, name: string): Promise<boolean> {
    const subscribers = await this.listSubscriptions(tenantId, name);
    if (subscribers.length > 0) {
      if ((await this.getEvent(tenantId, name)) === undefined) return false;
      throw codec.eventInUse(name, subscribers);
    }
    const result = await this.run(() => this.events.deleteOne({ tenant_id: tenantId, name }));
    return result.deletedCount > 0;
  }

  async listSubscriptions(tenantId: string, event?: string): Promise<Subscription[]> {
    const rows = await this.run(() =>
      this.subscriptionRows.find({ tenant_id: tenantId, ...(event !== undefined && { event_name: event }) }, NO_ID).lean<SubscriptionRow[]>(),
    );
    if (rows.length === 0) return [];
    const functions = await this.run(() =>
      this.functions.find({ function_id: { $in: [...new Set(rows.map((row) => row.function_id))] } }, { _id: 0, function_id: 1, name: 1 }).lean<{ function_id: string; name: string }[]>(),
    );
    const names = new Map(functions.map((fn) => [fn.function_id, fn.name]));
    return rows
      .filter((row) => names.has(row.function_id))
      .map((row) => ({ event: row.event_name, function_id: row.function_id, function_name: names.get(row.function_id) as string, qualifier: row.qualifier ?? null }))
      .sort((a, b) => (a.event === b.event ? (a.function_name < b.function_name ? -1 : 1) : a.event < b.event ? -1 : 1));
  }

  async listRuntimes(): Promise<RuntimeRecord[]> {
    return this.run(() => this.runtimes.find({}, NO_ID).sort({ name: 1 }).lean<RuntimeRecord[]>());
  }

  async getRuntime(name: string): Promise<RuntimeRecord | undefined> {
    const row = await this.run(() => this.runtimes.findOne({ name }, NO_ID).lean<RuntimeRecord>());
    return row ?? undefined;
  }

  async createRuntime(runtime: RuntimeRecord): Promise<void> {
    await this.run(async () => {
      try {
        await this.runtimes.create(runtime);
      } catch (error) {
        if (isDuplicateKey(error)) throw new PrataiError('RuntimeExists', `A runtime named \`${runtime.name}\` exists already`);
        throw error;
      }
    });
  }

  async deleteRuntime(name: string): Promise<boolean> {
    // Without multi-document transactions a function created on it at this instant could slip
    // through; its requests then fail with the runtime missing, which the runner reports.
    const user = await this.run(() => this.functions.findOne({ runtime: name }, { function_id: 1 }).lean<{ function_id: string }>());
    if (user) throw new PrataiError('RuntimeInUse', `Runtime \`${name}\` is used by function \`${user.function_id}\` (and maybe others); delete or move them first`);
    const result = await this.run(() => this.runtimes.deleteOne({ name }));
    return result.deletedCount > 0;
  }

  async recordHeartbeat(heartbeat: RunnerHeartbeat, staleBefore: string): Promise<RunnerHeartbeat | undefined> {
    const row = codec.runnerRow(heartbeat);
    // Only the process holding the name, or one taking over from a holder that stopped beating.
    const update = async (): Promise<boolean> => {
      const result = await this.runners.updateOne({ name: row.name, $or: [{ instance_id: row.instance_id }, { heartbeat_at: { $lt: staleBefore } }] }, { $set: row });
      return result.matchedCount > 0;
    };
    const holder = await this.run(async () => {
      if (await update()) return undefined;
      try {
        await this.runners.create(row);
        return undefined;
      } catch (error) {
        // Another process holds the name, or inserted its first heartbeat between the two calls.
        if (!isDuplicateKey(error)) throw error;
      }
      if (await update()) return undefined;
      return (await this.runners.findOne({ name: row.name }, NO_ID).lean<RunnerRow>()) ?? 'gone';
    });
    return holder === 'gone' ? this.recordHeartbeat(heartbeat, staleBefore) : holder === undefined ? undefined : codec.toHeartbeat(holder);
  }

  async deleteHeartbeat(name: string, instanceId: string): Promise<boolean> {
    const result = await this.run(() => this.runners.deleteOne({ name, instance_id: instanceId }));
    return result.deletedCount > 0;
  }

  async listHeartbeats(): Promise<RunnerHeartbeat[]> {
    const rows = await this.run(() => this.runners.find({}, NO_ID).lean<RunnerRow[]>());
    return rows.map(codec.toHeartbeat);
  }

  async pruneHeartbeats(before: string): Promise<number> {
    const result = await this.run(() => this.runners.deleteMany({ heartbeat_at: { $lt: before } }));
    return result.deletedCount;
  }

  async requestDrain(name: string): Promise<boolean> {
    const result = await this.run(() => this.runners.updateOne({ name }, { $set: { drain_requested: 1 } }));
    return result.matchedCount > 0;
  }
}

const tenantOf = (scope: Scope): { tenant_id?: string } => (scope === 'all-tenants' ? {} : { tenant_id: scope.tenantId });
