import type { WorkflowStore } from './workflow-store.js';
import type {
  AliasRecord,
  EventRecord,
  RequestSource,
  Subscription,
  TimerRecord,
  FunctionCode,
  FunctionOpenStack,
  FunctionVersion,
  FunctionRecord,
  FunctionStatus,
  LogRecord,
  RequestError,
  RequestRecord,
  RequestStatus,
  RuntimeRecord,
  SecretRecord,
  SecretUse,
  VersionRef,
} from '../domain.js';
import type { CoordinationStore } from '../coordination/coordination-store.js';

/** Which tenant's rows a call may see: one tenant, or every tenant (admin listing). */
export type Scope = { tenantId: string } | 'all-tenants';

export interface RequestFilter {
  functionId?: string;
  status?: RequestStatus;
  requestId?: string;
  /** Only these requests (several fetched at once). */
  requestIds?: readonly string[];
  /** Only requests of this source. */
  source?: RequestSource;
  /** Only the requests a timer made. */
  timerId?: string;
  /** Newest first; at most this many. */
  limit: number;
  /** Only requests older than this one (the last of the previous page). */
  marker?: string;
  /** Only requests queued (created, retried or redriven) before this ISO time: the sweeper looks for lost jobs. */
  queuedBefore?: string;
  /** Only dead-lettered requests (true) or only the others (false). */
  deadLetter?: boolean;
  /** Only requests that ran (or run) this version. */
  version?: VersionRef;
  /** Only requests that came through this alias. */
  alias?: string;
}

/** What `updateAlias` may change. */
export type AliasChanges = Partial<Pick<AliasRecord, 'version' | 'weights' | 'description'>> & { updated_at: string };

/** What `updateFunction` may change. */
export type FunctionChanges = Partial<
  Pick<
    FunctionRecord,
    'name' | 'description' | 'memory' | 'cpus' | 'timeout' | 'retries' | 'retry_on_error' | 'max_concurrency' | 'network' | 'public' | 'type' | 'runtime' | 'status' | 'build_log' | 'code_sha256' | 'context' | 'secrets' | 'subscriptions'
  >
> & {
  updated_at: string;
  /** A new OpenStack identity; null takes it away. */
  openstack?: FunctionOpenStack | null;
};

/** What a change of a timer (a PATCH, a tick's claim) may set. */
export type TimerChanges = Partial<
  Pick<TimerRecord, 'name' | 'pattern' | 'timezone' | 'payload' | 'status' | 'count' | 'executions' | 'skipped' | 'first_execution_time' | 'next_execution_time' | 'last_execution_time' | 'last_request_ids' | 'updated_at'>
>;

export interface TimerFilter {
  functionId?: string;
}

/** A secret's value as the store holds it: sealed under a key of the keyring, never in clear. */
export type SealedValue = Pick<SecretRecord, 'key_id' | 'ciphertext'>;

/** How a request ended. */
export interface Outcome {
  status: Exclude<RequestStatus, 'queued' | 'running'>;
  response: unknown;
  error: RequestError | null;
  logs: LogRecord[];
  finishedAt: string;
  durationMs: number | null;
  /** The request exhausted its retries: it is marked dead-lettered (listed by `dead_letter=true`, redriven by an admin). */
  deadLetter?: boolean;
  /**
   * The attempt this is the outcome of (the `attempts` its start returned): stored only while the
   * request is still in that attempt, not after a redelivery of its job started it again.
   */
  attempt?: number;
}

/** How a run job asks to start its request. */
export interface StartRequest {
  /** The asking job: a running request is started again only by the job that started it (its redelivery). */
  jobId: string;
  /** ISO time of the start. */
  at: string;
  /** A request created before `createdBefore` is not started: it ends failed (RequestExpired) with `message`, dead-lettered. */
  expire?: { createdBefore: string; message: string };
}

/**
 * What came of asking to start a request. Not started: `final` (it must not run again),
 * `duplicate` (another job started it and holds it), `at_capacity` (its function runs
 * `max_concurrency` requests already: try later), `expired` (ended failed and dead-lettered).
 */
export type StartResult = { started: true; request: RequestRecord } | { started: false; reason: 'final' | 'duplicate' | 'at_capacity' | 'expired' };

/** What a failed attempt leaves visible on a request queued again for its next attempt. */
export interface FailedAttempt {
  /** Which attempt failed: the request is queued again only while it is still in that attempt. */
  attempt: number;
  error: RequestError | null;
  logs: LogRecord[];
  /** ISO time it was queued again. */
  at: string;
}

/** A runner's last report of itself, for /healthcheck, runtime status and telling live runners from dead ones. */
export interface RunnerHeartbeat {
  /** The runner's id: its configured name, or its host name and a suffix unique to the process. */
  name: string;
  /** The machine and process it runs as. */
  host: string;
  pid: number;
  /** New at every start of a runner process: tells a runner's later life from its earlier one under one name. */
  instanceId: string;
  /** ISO time the process started. */
  startedAt: string;
  dockerOk: boolean;
  /** Runtime images present on the runner's Docker engine. */
  images: string[];
  /** ISO time of the heartbeat. */
  at: string;
  /** What the runner holds now (absent in heartbeats of runners from before it). */
  load?: RunnerLoad;
  /**
   * An administrator asked the runner to drain (`POST /v1/runners/ID/drain`). Read from the store;
   * a heartbeat writes it only when set (false at a runner's start: a new process under the name
   * of one that was drained starts active).
   */
  drainRequested?: boolean;
}

/** A runner's work and containers as its last heartbeat reported them. */
export interface RunnerLoad {
  concurrency: number;
  /** Requests executing. */
  running: number;
  /** Warm containers idle, and busy with requests. */
  warm: number;
  busy: number;
  prewarmed: number;
  /** active: takes jobs; draining: takes none, finishes what it holds; drained: holds nothing. */
  state: 'active' | 'draining' | 'drained';
}

/**
 * The store port: the truth about functions and requests.
 * Adapters: SqlStore (SQLite, MySQL/MariaDB, PostgreSQL: one Kysely code path) and MongoStore
 * (mongoose); test/store-contract.ts holds each to the same behaviour.
 * Status changes that runners race for are conditional updates: they report whether they won.
 * A database that cannot be used makes any call throw a ServiceUnavailable PrataiError.
 */
export interface Store {
  /** Creates or upgrades the schema. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /** Throws a ServiceUnavailable PrataiError when the database cannot be used. */
  ping(): Promise<void>;
  close(): Promise<void>;

  /**
   * Throws FunctionNameTaken when the tenant already has a function of that name, UnknownSecret
   * when it names a secret its tenant does not have, UnknownEvent when it subscribes to an event
   * its tenant does not have (then nothing is stored).
   */
  createFunction(fn: FunctionRecord, code: FunctionCode): Promise<void>;
  getFunction(functionId: string, scope: Scope): Promise<FunctionRecord | undefined>;
  getFunctionCode(functionId: string): Promise<FunctionCode | undefined>;
  listFunctions(scope: Scope): Promise<FunctionRecord[]>;
  /** Records a build's result, only if the function still has that code (a newer upload wins). */
  setFunctionBuild(functionId: string, codeSha256: string, status: FunctionStatus, buildLog: string): Promise<boolean>;
  /**
   * Changes a function's settings, and its code when given (code_sha256 and status must then be
   * in `changes` too). Throws FunctionNameTaken on a rename to a taken name, UnknownSecret when
   * `changes.secrets` names a secret its tenant does not have (nothing changed). False when gone.
   */
  updateFunction(functionId: string, changes: FunctionChanges, code?: FunctionCode): Promise<boolean>;
  /** Removes the function and its code, versions, aliases, timers and subscriptions (and its hold on the secrets it names); its requests stay. False when it did not exist. */
  deleteFunction(functionId: string): Promise<boolean>;

  /**
   * Publishes the function as it is now (code and the settings of VERSION_SETTINGS) as its next
   * version, numbered one past the highest it ever had; when they equal its highest version's,
   * that version is answered instead (`published` false). Undefined when the function is gone.
   */
  publishVersion(functionId: string, description: string, at: string): Promise<{ version: FunctionVersion; published: boolean } | undefined>;
  getVersion(functionId: string, version: number): Promise<FunctionVersion | undefined>;
  getVersionCode(functionId: string, version: number): Promise<FunctionCode | undefined>;
  /** The function's versions, by number. */
  listVersions(functionId: string): Promise<FunctionVersion[]>;
  /** Deletes a version no alias targets: false when it did not exist; throws VersionInUse (naming the aliases) otherwise. */
  deleteVersion(functionId: string, version: number): Promise<boolean>;
  /** Throws AliasExists when the function has one of that name, VersionNotFound when it names a version the function lacks. */
  createAlias(alias: AliasRecord): Promise<void>;
  getAlias(functionId: string, name: string): Promise<AliasRecord | undefined>;
  /** The function's aliases, by name. */
  listAliases(functionId: string): Promise<AliasRecord[]>;
  /** Moves or reweights an alias; throws VersionNotFound as createAlias does. False when it is gone. */
  updateAlias(functionId: string, name: string, changes: AliasChanges): Promise<boolean>;
  deleteAlias(functionId: string, name: string): Promise<boolean>;

  /** Stores a new secret (sealed); throws SecretExists when its tenant has one of that name. */
  createSecret(secret: SecretRecord): Promise<void>;
  getSecret(tenantId: string, name: string): Promise<SecretRecord | undefined>;
  /** The secrets in scope, by tenant then name; only those of `names`, when given. */
  listSecrets(scope: Scope, names?: readonly string[]): Promise<SecretRecord[]>;
  /** Replaces a secret's sealed value and counts a new version. False when it is gone. */
  updateSecret(tenantId: string, name: string, sealed: SealedValue, at: string): Promise<boolean>;
  /**
   * Seals a secret's unchanged value again (key rotation), only while it still holds `from`, so
   * that a change of value meanwhile is never overwritten. Its version and times stay.
   */
  resealSecret(tenantId: string, name: string, from: SealedValue, to: SealedValue): Promise<boolean>;
  /** Deletes a secret no function names: false when it did not exist; throws SecretInUse (naming the functions) otherwise. */
  deleteSecret(tenantId: string, name: string): Promise<boolean>;
  /** Which functions of the tenant name its secrets (only secret `name`, when given), by secret then function name. */
  listSecretUses(tenantId: string, name?: string): Promise<SecretUse[]>;

  createRequest(request: RequestRecord): Promise<void>;
  /** Stores several requests at once, all or none (a bulk call, a message's fan-out). */
  createRequests(requests: readonly RequestRecord[]): Promise<void>;
  /** Removes a request that was never accepted (its job could not be queued). */
  discardRequest(requestId: string): Promise<void>;
  getRequest(requestId: string, scope: Scope): Promise<RequestRecord | undefined>;
  listRequests(scope: Scope, filter: RequestFilter): Promise<RequestRecord[]>;
  /**
   * Marks a queued request (or a running one, asked by the job that started it: a redelivery) as
   * running and counts the attempt, taking one of its function's `max_concurrency` slots unless
   * it holds one already (a redelivered request keeps its slot). One atomic step across runners.
   */
  startRequest(requestId: string, start: StartRequest): Promise<StartResult>;
  /** Stores the outcome of a running request (in `outcome.attempt`, when given), giving back its slot. False when another outcome was stored first, or another attempt started. */
  finishRequest(requestId: string, outcome: Outcome): Promise<boolean>;
  /**
   * Puts a running request back to `queued` for its next attempt, keeping the failed attempt's
   * error and logs visible and giving back its slot. False when it is no longer running.
   */
  requeueRequest(requestId: string, failed: FailedAttempt): Promise<boolean>;
  /** Queues a dead-lettered request again: attempts reset, dead-letter mark cleared. False when it is not dead-lettered. */
  redriveRequest(requestId: string, at: string): Promise<boolean>;
  /** Ends a queued or running request as cancelled (giving back its slot). False when it was already final (or gone). */
  cancelRequest(requestId: string, reason: string, at: string): Promise<boolean>;
  /** Of the given requests, those that are cancelled: a runner polls this to kill their containers. */
  cancelledAmong(requestIds: readonly string[]): Promise<string[]>;
  /** Ends every queued request of a function as cancelled (a queued request holds no slot); returns how many. */
  cancelQueuedRequests(functionId: string, reason: string, at: string): Promise<number>;
  /** Deletes the requests that ended (a final status) before this ISO-8601 time; returns how many. */
  purgeFinishedRequests(finishedBefore: string): Promise<number>;

  createTimer(timer: TimerRecord): Promise<void>;
  getTimer(timerId: string, scope: Scope): Promise<TimerRecord | undefined>;
  /** Newest first. */
  listTimers(scope: Scope, filter?: TimerFilter): Promise<TimerRecord[]>;
  /**
   * Changes a timer only while it is at `version` (its version then grows by one), and stores
   * `requests` in the same transaction: a tick's claim is this, with the tick's request, so that
   * of schedulers racing for a tick exactly one stores its request, and a claimed tick's request
   * is never lost. False when the timer changed meanwhile or is gone: nothing changed or stored.
   */
  changeTimer(timerId: string, version: number, changes: TimerChanges, requests?: readonly RequestRecord[]): Promise<boolean>;
  deleteTimer(timerId: string): Promise<boolean>;
  /** Running timers whose next tick is at or before this ISO time, soonest first; at most `limit`. */
  dueTimers(before: string, limit: number): Promise<TimerRecord[]>;
  /** The soonest next tick of any running timer. */
  nextTimerTick(): Promise<string | undefined>;

  /** Stores a new event; throws EventExists when its tenant has one of that name. */
  createEvent(event: EventRecord): Promise<void>;
  getEvent(tenantId: string, name: string): Promise<EventRecord | undefined>;
  /** By tenant then name. */
  listEvents(scope: Scope): Promise<EventRecord[]>;
  /** Deletes an event no function subscribes to: false when it did not exist; throws EventInUse (naming the functions) otherwise. */
  deleteEvent(tenantId: string, name: string): Promise<boolean>;
  /** The tenant's functions subscribed to its events (only to `event`, when given), by event then function name. */
  listSubscriptions(tenantId: string, event?: string): Promise<Subscription[]>;

  listRuntimes(): Promise<RuntimeRecord[]>;
  getRuntime(name: string): Promise<RuntimeRecord | undefined>;
  /** Adds a runtime; throws RuntimeExists when its name is taken. */
  createRuntime(runtime: RuntimeRecord): Promise<void>;
  /** Removes a runtime no function uses: false when it did not exist; throws RuntimeInUse otherwise. */
  deleteRuntime(name: string): Promise<boolean>;

  /**
   * Records a runner's heartbeat under its name, unless another process (another `instanceId`)
   * holds the name with a heartbeat at or after `staleBefore` (ISO): then nothing is recorded and
   * that holder's heartbeat is returned. Of processes racing for one name, one gets it.
   */
  recordHeartbeat(heartbeat: RunnerHeartbeat, staleBefore: string): Promise<RunnerHeartbeat | undefined>;
  /** Removes a runner's heartbeat while the process `instanceId` holds it (a clean stop); false otherwise. */
  deleteHeartbeat(name: string, instanceId: string): Promise<boolean>;
  listHeartbeats(): Promise<RunnerHeartbeat[]>;
  /** Deletes the heartbeats of runners silent since before this ISO time (dead for long); returns how many. */
  pruneHeartbeats(before: string): Promise<number>;
  /** Marks a runner to drain, which its next heartbeat reads; false when no runner has that id. */
  requestDrain(name: string): Promise<boolean>;

  /** The project trees of coordination, in the same database; throws CoordinationUnsupported where the database cannot hold them. */
  coordination(): CoordinationStore;

  /** The workflows' store over the same database; absent where workflows are not supported (MongoDB). */
  workflows?(): WorkflowStore;
}
