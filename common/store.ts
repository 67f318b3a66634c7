import type {
  FunctionCode,
  FunctionRecord,
  FunctionStatus,
  LogRecord,
  RequestError,
  RequestRecord,
  RequestStatus,
  RuntimeRecord,
} from './domain.js';

/** Which tenant's rows a call may see: one tenant, or every tenant (admin listing). */
export type Scope = { tenantId: string } | 'all-tenants';

export interface RequestFilter {
  functionId?: string;
  status?: RequestStatus;
  requestId?: string;
  /** Newest first; at most this many. */
  limit: number;
  /** Only requests older than this one (the last of the previous page). */
  marker?: string;
  /** Only requests created before this ISO time (the sweeper looks for jobs that were lost). */
  createdBefore?: string;
}

/** What `updateFunction` may change. */
export type FunctionChanges = Partial<
  Pick<FunctionRecord, 'name' | 'description' | 'memory' | 'cpus' | 'timeout' | 'public' | 'type' | 'runtime' | 'status' | 'build_log' | 'code_sha256'>
> & { updated_at: string };

/** How a request ended. */
export interface Outcome {
  status: Exclude<RequestStatus, 'queued' | 'running'>;
  response: unknown;
  error: RequestError | null;
  logs: LogRecord[];
  finishedAt: string;
  durationMs: number | null;
}

/** A runner's last report of itself, for /healthcheck and runtime status. */
export interface RunnerHeartbeat {
  name: string;
  dockerOk: boolean;
  /** Runtime images present on the runner's Docker engine. */
  images: string[];
  at: string;
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

  /** Throws FunctionNameTaken when the tenant already has a function of that name. */
  createFunction(fn: FunctionRecord, code: FunctionCode): Promise<void>;
  getFunction(functionId: string, scope: Scope): Promise<FunctionRecord | undefined>;
  getFunctionCode(functionId: string): Promise<FunctionCode | undefined>;
  listFunctions(scope: Scope): Promise<FunctionRecord[]>;
  /** Records a build's result, only if the function still has that code (a newer upload wins). */
  setFunctionBuild(functionId: string, codeSha256: string, status: FunctionStatus, buildLog: string): Promise<boolean>;
  /**
   * Changes a function's settings, and its code when given (code_sha256 and status must then be
   * in `changes` too). Throws FunctionNameTaken on a rename to a taken name. False when gone.
   */
  updateFunction(functionId: string, changes: FunctionChanges, code?: FunctionCode): Promise<boolean>;
  /** Removes the function and its code; its requests stay. False when it did not exist. */
  deleteFunction(functionId: string): Promise<boolean>;

  createRequest(request: RequestRecord): Promise<void>;
  /** Removes a request that was never accepted (its job could not be queued). */
  discardRequest(requestId: string): Promise<void>;
  getRequest(requestId: string, scope: Scope): Promise<RequestRecord | undefined>;
  listRequests(scope: Scope, filter: RequestFilter): Promise<RequestRecord[]>;
  /**
   * Marks a queued (or, after a redelivery, running) request as running and counts the attempt.
   * Returns the request, or undefined when it is already final or gone: then it must not run.
   */
  startRequest(requestId: string, startedAt: string): Promise<RequestRecord | undefined>;
  /** Stores the outcome of a running request. False when another outcome was stored first. */
  finishRequest(requestId: string, outcome: Outcome): Promise<boolean>;
  /** Ends a queued or running request as cancelled. False when it was already final (or gone). */
  cancelRequest(requestId: string, reason: string, at: string): Promise<boolean>;
  /** Of the given requests, those that are cancelled: a runner polls this to kill their containers. */
  cancelledAmong(requestIds: readonly string[]): Promise<string[]>;
  /** Ends every queued request of a function as cancelled; returns how many. */
  cancelQueuedRequests(functionId: string, reason: string, at: string): Promise<number>;
  /** Deletes the requests that ended (a final status) before this ISO-8601 time; returns how many. */
  purgeFinishedRequests(finishedBefore: string): Promise<number>;

  listRuntimes(): Promise<RuntimeRecord[]>;
  getRuntime(name: string): Promise<RuntimeRecord | undefined>;

  recordHeartbeat(heartbeat: RunnerHeartbeat): Promise<void>;
  listHeartbeats(): Promise<RunnerHeartbeat[]>;
}
