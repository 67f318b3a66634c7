/**
 * Pratai's domain types. One word for one thing, everywhere (code, API, CLI, docs):
 *
 * - **function**: a user's code (`new_module.py` with `main(payload)`, plus `requirements.txt`),
 *   its settings (runtime, memory, cpus, timeout) and its webhook endpoint. Owned by one tenant.
 * - **tenant**: the project a function belongs to (`tenant_id`, a Keystone project id). Every read
 *   and write is scoped to one tenant.
 * - **runtime**: a language environment (`python3`) with its base image; a function's image is
 *   built on top of its runtime's image.
 * - **image**: the Docker image of one function version: runtime image + code + installed
 *   requirements. Built by a runner, never by the API.
 * - **request**: one call of a function's webhook: its payload, status, response, error and logs.
 *   Identified by `request_id`.
 * - **job**: a message on the queue telling a runner to do something (run a request, build an
 *   image). The queue carries jobs; the store holds the truth about requests.
 * - **timer**: what the API and CLI call a *job* (`/v1/jobs`, `job-create`, as Qinling does): a
 *   cron pattern that makes a request of a function at each of its instants (a **tick**). In code
 *   it is always a timer (`TimerRecord`, `timer_id`), so that "job" means a queue message only.
 * - **event**: a named channel of a tenant that functions subscribe to (`subscriptions`); a
 *   **message** published to it makes one request of each subscribed function.
 * - **node subscription**: a function's standing interest in a node of its project's coordination
 *   tree (`{"path": "/app/config", "children": false}` in its `subscriptions`): each change of the
 *   node (and, with `children`, each creation or deletion of a direct child) makes one request of it.
 * - **source**: what made a request: `webhook` (a call, one or bulk), `job` (a timer's tick),
 *   `event` (a message), `workflow` (an action instance of a workflow's invocation) or `node` (a
 *   change of a coordination node the function subscribes to).
 * - **runner**: the process that takes jobs off the queue and executes them in containers.
 * - **container**: one Docker container of a function's image, in which `runtimes/<name>/` code
 *   loads the function and calls `main`. A **warm container** serves request after request of one
 *   function; a runner's **pool** holds them; a **prewarmed container**, of a runtime's image, is
 *   started before it is needed and loaded with a function's code on its first request.
 * - **outcome**: how a request ended: succeeded, failed (the function raised or crashed), timeout
 *   or cancelled. A user's exception is an outcome, never a platform error.
 * - **attempt**: one start of a request by a runner (`attempts` counts them). A failed attempt is
 *   tried again when the function's `retries` allow it (platform failures always, function errors
 *   with `retry_on_error`): the request goes back to `queued` until then.
 * - **dead letter**: a request that exhausted its retries or expired (`dead_letter`); its job is
 *   dead-lettered in the queue too. An admin may **redrive** it: queued again, attempts reset.
 * - **slot**: one of a function's `max_concurrency` running requests, counted across all runners;
 *   a request beyond them waits in `queued`.
 * - **network**: a function's containers join the operator's Docker network (`[runner] network`)
 *   only when the function asks for it (`network`) and the operator allows it: `[runner] network`
 *   is not `none` and the policy rule `function:network` lets the caller ask. Otherwise none.
 * - **secret**: a named value of one tenant (a password, an API key), stored only encrypted under
 *   the operator's keys (`[secrets] keys`) and never shown back; a function names the secrets it
 *   is given (`secrets`), which then cannot be deleted while it does.
 * - **context**: a function's own settings, `KEY: value` strings given at its creation or update
 *   (a JSON object, or a context file of `KEY=value` lines) and shown with it.
 * - **version**: an immutable snapshot of a function's code and settings, numbered 1, 2, … per
 *   function (never reused); the function itself is the editable `latest`.
 * - **alias**: a named pointer of a function to one of its versions (`prod` → 3), optionally
 *   sending a share of calls to other versions (`weights`); callers, jobs and subscriptions target
 *   it, and moving it changes what the next calls run.
 * - **qualifier**: what a job or a subscription names after the function's (or the event's) name
 *   to run a version or an alias rather than `latest` (`hello:3`, `hello:prod`, as Lambda's
 *   qualified names); resolved at each firing, as a webhook call of that version or alias is.
 */

export const REQUEST_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timeout', 'cancelled'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];
/** Statuses a request never leaves. */
export const FINAL_STATUSES: readonly RequestStatus[] = ['succeeded', 'failed', 'timeout', 'cancelled'];
export const isFinal = (status: RequestStatus): boolean => FINAL_STATUSES.includes(status);

export const FUNCTION_STATUSES = ['building', 'ready', 'error'] as const;
export type FunctionStatus = (typeof FUNCTION_STATUSES)[number];

/** async: the webhook answers 202 at once; wait_for_response: it answers with the outcome. */
export const FUNCTION_TYPES = ['async', 'wait_for_response'] as const;
export type FunctionType = (typeof FUNCTION_TYPES)[number];

/** The original guide's event sources of a function. */
export const FUNCTION_EVENTS = ['webhook', 'timer', 'message'] as const;
export type FunctionEvent = (typeof FUNCTION_EVENTS)[number];

/** Who is calling, as the auth layer established it. */
export interface Identity {
  readonly userId: string;
  readonly tenantId: string;
  readonly roles: readonly string[];
}

/** A function as stored (code included) and as shown (code left out, endpoint added). */
export interface FunctionRecord {
  function_id: string;
  user_id: string;
  tenant_id: string;
  name: string;
  description: string;
  type: FunctionType;
  /** How the function is meant to be called (all can be called by their webhook): `timer` functions were made with a frequency, `message` ones with subscriptions. */
  event: FunctionEvent;
  public: boolean;
  runtime: string;
  /** MiB of memory, swap included. */
  memory: number;
  /** CPU cores (fractions allowed). */
  cpus: number;
  /** Seconds a request may run before its container is killed. */
  timeout: number;
  /** Attempts after the first that a failed request gets (0–10): platform failures, and function errors when `retry_on_error`. */
  retries: number;
  /** Whether a failed or timed-out outcome is retried too (else only platform failures are). */
  retry_on_error: boolean;
  /** Most requests of the function running at once across all runners; 0: no limit. */
  max_concurrency: number;
  /** Whether its containers join the operator's `[runner] network`; false: no network at all (the default). */
  network: boolean;
  /** Its context: settings it is given as strings, shown with it. */
  context: Record<string, string>;
  /** Names of its project's secrets it is given; their values are never part of the function. */
  secrets: string[];
  /**
   * What it subscribes to: names of its project's events (each message published to one makes a
   * request of it; `EVENT:QUALIFIER` runs that version or alias of it rather than `latest`) and
   * nodes of its project's coordination tree (each change makes a request of it).
   */
  subscriptions: FunctionSubscription[];
  /**
   * Its OpenStack identity (auth_strategy = keystone): a Keystone trust from the user who asked
   * for it to Pratai's service user, with these roles; each request gets a token of it. Absent: none.
   */
  openstack?: FunctionOpenStack;
  status: FunctionStatus;
  /** Why the last build failed, and its log; empty when it did not. */
  build_log: string;
  /** sha256 of the code and requirements: names the function's image version. */
  code_sha256: string;
  created_at: string;
  updated_at: string;
}

/** A function's OpenStack identity: the trust its requests' tokens are scoped to. */
export interface FunctionOpenStack {
  /** The Keystone trust (trustor: the user who asked; trustee: Pratai's service user). */
  trust_id: string;
  /** Roles the trust delegates, by name. */
  roles: string[];
  /** The trustor: only they (or an admin) may delete the trust in Keystone. */
  trustor_user_id: string;
}

/** The code of one function version, as taken out of the uploaded zip. */
export interface FunctionCode {
  module: string;
  requirements: string;
}

export interface LogRecord {
  /** ISO 8601 time the record was written inside the container. */
  time: string;
  /** Python level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) for logger records; INFO/ERROR for streams. */
  level: string;
  /** `pratai` for records of logging.getLogger('pratai'), `stdout` or `stderr` for printed output. */
  source: string;
  message: string;
}

export interface RequestError {
  /** The exception's class (`ValueError`) or a platform kind (`Timeout`, `MemoryLimitExceeded`). */
  type: string;
  message: string;
  traceback: string;
}

/** What made a request: a webhook call, a timer's tick (`job` in the API), an event's message, a workflow, a node's change. */
export const REQUEST_SOURCES = ['webhook', 'job', 'event', 'workflow', 'node'] as const;
export type RequestSource = (typeof REQUEST_SOURCES)[number];

export interface RequestRecord {
  request_id: string;
  function_id: string;
  tenant_id: string;
  user_id: string;
  status: RequestStatus;
  source: RequestSource;
  /** The timer whose tick made it (shown as `job_id` by the API); null for other sources. */
  timer_id: string | null;
  /** The tick's instant, for a request a timer made: its firing delay is created_at minus this. */
  scheduled_at: string | null;
  payload: unknown;
  response: unknown;
  error: RequestError | null;
  logs: LogRecord[];
  /** Times a runner started this request: more than 1 after a retry or a redelivery. */
  attempts: number;
  /** True once it exhausted its retries or expired; cleared by a redrive. */
  dead_letter: boolean;
  /**
   * The webhook call's headers that `[api] context_headers` lets through to the function
   * (lower-case names); absent on requests stored before they were kept, or with none.
   */
  headers?: Record<string, string>;
  /** The version it runs, chosen when it was accepted: a number, or `latest` (the function as it is). */
  version: VersionRef;
  /** The alias it came through, if any. */
  alias: string | null;
  /**
   * For a request a node change made (`source` node): how many such requests lead to it, itself
   * included (1: the change was an outside write's; n + 1: a write of a request at n). Absent on others.
   */
  trigger_depth?: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

/** A secret's name: what `secrets` lists and `/v1/secrets/{name}` takes. */
export const SECRET_NAME = {
  pattern: /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/,
  hint: 'a name of letters, digits, `_`, `.` and `-`, starting with a letter or `_`, at most 128 characters',
  max: 128,
} as const;

/** Most bytes a secret's value may take (UTF-8): 64 KiB. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** A secret as stored: its value only sealed (common/secrets/cipher.ts), never in clear. */
export interface SecretRecord {
  tenant_id: string;
  name: string;
  /** The id of the key it is sealed under (first 8 hex digits of the key's sha256). */
  key_id: string;
  /** base64 of IV, GCM tag and AES-256-GCM ciphertext. */
  ciphertext: string;
  /** 1 at creation, incremented by every change of its value (not by a re-encryption). */
  version: number;
  created_at: string;
  updated_at: string;
}

/** A function that names a secret. */
export interface SecretUse {
  secret: string;
  function_id: string;
  function_name: string;
}

export const TIMER_STATUSES = ['running', 'paused', 'done'] as const;
export type TimerStatus = (typeof TIMER_STATUSES)[number];

/**
 * A timer (an API *job*): a function's request at each instant of a cron pattern, with a payload.
 * `version` grows with every change (a tick's claim, a PATCH): a claim applies only to the
 * version it read, which is what makes each tick fire once however many schedulers race for it.
 */
export interface TimerRecord {
  timer_id: string;
  tenant_id: string;
  user_id: string;
  function_id: string;
  name: string;
  /** Cron: 5 fields, or 6 with seconds first. */
  pattern: string;
  /** IANA time zone the pattern is read in. */
  timezone: string;
  payload: unknown;
  status: TimerStatus;
  /** Firings left before it is done; null: no end. */
  count: number | null;
  /** Requests it made so far. */
  executions: number;
  /** Ticks it missed (every process was down, or late by more than a tick) and did not fire. */
  skipped: number;
  /** No tick before this ISO time; null: from its creation. */
  first_execution_time: string | null;
  /** Its next tick; null once done. */
  next_execution_time: string | null;
  /** The instant of its last firing. */
  last_execution_time: string | null;
  /** The requests of its last firings, newest first (a few). */
  last_request_ids: string[];
  /** The version number or alias name each tick runs, resolved at the tick; null: `latest`. */
  qualifier: string | null;
  /** Counts its changes: a tick is claimed only at the version the scheduler read (not a function's version). */
  version: number;
  created_at: string;
  updated_at: string;
}

/** What a request runs: a published version's number, or `latest`, the function as it is now. */
export type VersionRef = number | 'latest';

/** The settings a version keeps (with its code): what it runs with, whatever the function becomes. */
export const VERSION_SETTINGS = ['runtime', 'memory', 'cpus', 'timeout', 'retries', 'retry_on_error', 'network', 'context', 'secrets', 'code_sha256'] as const;

/** A published version of a function: an immutable snapshot of its code and settings. */
export type FunctionVersion = Pick<FunctionRecord, 'function_id' | 'tenant_id' | (typeof VERSION_SETTINGS)[number]> & {
  /** 1, 2, … per function; a deleted version's number is never given again. */
  version: number;
  description: string;
  created_at: string;
};

/** An alias name: letters, digits, `_` and `-`, starting with a letter (so never a version number); `latest` is reserved. */
export const ALIAS_NAME = {
  pattern: /^(?!latest$)[A-Za-z][A-Za-z0-9_-]{0,63}$/,
  hint: 'a name of letters, digits, `_` and `-`, starting with a letter, at most 64 characters, and not `latest`',
} as const;

/** A named pointer of a function to one of its versions. */
export interface AliasRecord {
  function_id: string;
  tenant_id: string;
  name: string;
  /** The version it sends calls to, but for the shares `weights` send elsewhere. */
  version: number;
  /** Shares of calls (0–1, summing to at most 1) sent to other versions instead, by version number. */
  weights: Record<string, number>;
  description: string;
  created_at: string;
  updated_at: string;
}

/** An event's name, as a secret's. */
export const EVENT_NAME = SECRET_NAME;

/** A tenant's event: a name functions subscribe to. */
export interface EventRecord {
  tenant_id: string;
  name: string;
  description: string;
  created_at: string;
}

/**
 * A function's subscription to a node of its project's coordination tree: a change of the node
 * (created, its data set, deleted) makes a request of it; with `children`, so does the creation
 * or deletion of each of its direct children (ZooKeeper's child watch, reporting the child).
 */
export interface NodeSubscription {
  path: string;
  children: boolean;
}

/** One entry of a function's `subscriptions`: an event's name, or a node subscription. */
export type FunctionSubscription = string | NodeSubscription;

/** The events a function's subscriptions name, in their order. */
export const eventSubscriptions = (subscriptions: readonly FunctionSubscription[]): string[] => subscriptions.filter((each): each is string => typeof each === 'string');

/** The node subscriptions among a function's subscriptions, in their order. */
export const nodeSubscriptions = (subscriptions: readonly FunctionSubscription[]): NodeSubscription[] => subscriptions.filter((each): each is NodeSubscription => typeof each !== 'string');

/** A function that subscribes to an event. */
export interface Subscription {
  event: string;
  function_id: string;
  function_name: string;
  /** The version number or alias name each message runs (`EVENT:QUALIFIER` in the function's `subscriptions`); null: `latest`. */
  qualifier: string | null;
}

export interface RuntimeRecord {
  name: string;
  description: string;
  image: string;
}

/**
 * A job on the queue. Kept small: the store holds everything else. A run job's `job_id` is new at
 * every publish and kept through redeliveries and retries: only the job that started a request may
 * start it again, so a duplicate job (the sweeper's) never runs a request another job holds.
 */
export type Job =
  /**
   * `function_id` lets the runner skip reading the request before starting it; jobs of earlier
   * releases lack it. `version`: the published version the request runs; absent, `latest`.
   */
  | { kind: 'run'; request_id: string; job_id: string; function_id?: string; version?: number }
  | { kind: 'build'; function_id: string; code_sha256: string }
  /** Without `version`: the function was deleted. With it: that version was, its image goes once nothing uses it. */
  | { kind: 'forget'; function_id: string; version?: number; code_sha256?: string };

/** The run job of a request: its version travels with it, so a runner runs what the request was accepted for. */
export const runJob = (request: Pick<RequestRecord, 'request_id' | 'function_id' | 'version'>, jobId: string): Extract<Job, { kind: 'run' }> => ({
  kind: 'run',
  request_id: request.request_id,
  job_id: jobId,
  function_id: request.function_id,
  ...(request.version !== 'latest' && { version: request.version }),
});
