/**
 * How records are kept in every database, SQL table or MongoDB collection alike: one row shape, so
 * that each adapter only says how to find and change rows. Portable values: ids and ISO-8601 times
 * as text (they sort as they compare), booleans as 0/1, JSON documents (payload, response, error,
 * logs, image lists) as text.
 */
import {
  eventSubscriptions,
  nodeSubscriptions,
  VERSION_SETTINGS,
  type AliasRecord,
  type FunctionCode,
  type FunctionEvent,
  type FunctionOpenStack,
  type FunctionRecord,
  type FunctionStatus,
  type FunctionSubscription,
  type FunctionVersion,
  type RequestRecord,
  type RequestSource,
  type SecretUse,
  type Subscription,
  type TimerRecord,
  type TimerStatus,
  type VersionRef,
} from '../domain.js';
import { PrataiError } from '../errors.js';
import { isVersionQualifier, splitQualified } from '../qualifier.js';
import type { FailedAttempt, Outcome, RunnerHeartbeat, RunnerLoad, TimerChanges } from './store.js';

export interface FunctionRow {
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
  retries: number;
  retry_on_error: number;
  max_concurrency: number;
  /** 1 when its containers join the operator's `[runner] network`. */
  network: number;
  /** JSON object of strings; null on rows stored before migration 0005 (an empty context). */
  context: string | null;
  /** JSON array of secret names; null on rows stored before migration 0005 (none). */
  secrets: string | null;
  /** JSON of its FunctionOpenStack (trust id, roles); null without one (and before migration 0007). */
  openstack: string | null;
  /** JSON array of event names and node subscriptions (`{"path", "children"}`); null on rows stored before migration 0008 (none). */
  subscriptions: string | null;
  /** Slots taken: requests of the function running now that hold one (only counted while max_concurrency > 0). */
  running: number;
  /** The highest version number it ever published (0: none), so that none is given twice. */
  last_version: number;
  status: string;
  build_log: string;
  code_sha256: string;
  module: string;
  requirements: string;
  created_at: string;
  updated_at: string;
}

export interface RequestRow {
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
  dead_letter: number;
  /** 1 while the request holds one of its function's slots (from its start to its end or requeue). */
  holds_slot: number;
  /** The run job that started it last: the only one that may start it again. */
  job_id: string | null;
  /** When it last entered `queued` (created, retried, redriven): what the sweeper measures. */
  queued_at: string;
  /** What made it; null on rows stored before migration 0008 (a webhook). */
  source: string | null;
  /** The timer whose tick made it. */
  timer_id: string | null;
  /** That tick's instant. */
  scheduled_at: string | null;
  /** The version it runs, as text (`3`); null (rows before migration 0010) or `latest`: the function as it is. */
  version: string | null;
  /** The alias it came through, if any. */
  alias: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  /** JSON object of the headers let through to the function; null for none (and before migration 0006). */
  headers: string | null;
  /** A node change's request: its place in the chain of them (common/coordination/triggers.ts); null for others (and before migration 0014). */
  trigger_depth: number | null;
}

/** A published version: its snapshot of the function's settings (as a function's row keeps them) and code. */
export interface VersionRow {
  function_id: string;
  version: number;
  tenant_id: string;
  description: string;
  runtime: string;
  memory: number;
  cpus: number;
  timeout: number;
  retries: number;
  retry_on_error: number;
  network: number;
  /** JSON object of strings. */
  context: string;
  /** JSON array of secret names. */
  secrets: string;
  code_sha256: string;
  module: string;
  requirements: string;
  created_at: string;
}

export interface AliasRow {
  function_id: string;
  name: string;
  tenant_id: string;
  version: number;
  /** JSON object: version number → share of calls. */
  weights: string;
  description: string;
  created_at: string;
  updated_at: string;
}

export interface RuntimeRow {
  name: string;
  description: string;
  image: string;
}

/** A secret's row is its record: portable values already (common/domain.ts SecretRecord). */
export type { SecretRecord as SecretRow } from '../domain.js';

/** One secret a function names: what makes deleting a secret in use fail, and finds its users. */
export interface FunctionSecretRow {
  function_id: string;
  tenant_id: string;
  secret_name: string;
}

/** A timer's row: its record with the payload and the last request ids as JSON text. */
export interface TimerRow extends Omit<TimerRecord, 'payload' | 'last_request_ids' | 'status'> {
  status: string;
  payload: string;
  last_request_ids: string;
}

/** An event's row is its record. */
export type { EventRecord as EventRow } from '../domain.js';

/** One event a function subscribes to: what a message fans out by, and what keeps an event in use from being deleted. */
export interface SubscriptionRow {
  function_id: string;
  tenant_id: string;
  event_name: string;
  /** The version number or alias name its messages run; null: `latest`. */
  qualifier: string | null;
}

/** One node a function subscribes to: what a coordination write finds its subscribers by. */
export interface NodeSubscriptionRow {
  function_id: string;
  tenant_id: string;
  path: string;
  /** 1 when the creation and deletion of its direct children count too. */
  children: number;
}

export interface RunnerRow {
  name: string;
  host: string;
  pid: number;
  instance_id: string;
  started_at: string;
  docker_ok: number;
  images: string;
  heartbeat_at: string;
  /** JSON of RunnerLoad; `{}` for runners from before it. */
  load: string;
  drain_requested: number;
}

/** A function's columns without its code: what listing and showing read. */
export const FUNCTION_COLUMNS = [
  'function_id', 'user_id', 'tenant_id', 'name', 'description', 'type', 'event', 'public', 'runtime',
  'memory', 'cpus', 'timeout', 'retries', 'retry_on_error', 'max_concurrency', 'network', 'context', 'secrets', 'openstack', 'subscriptions', 'status', 'build_log', 'code_sha256', 'created_at', 'updated_at',
] as const;

export function functionRow(fn: FunctionRecord, code: FunctionCode): FunctionRow {
  return {
    ...fn,
    public: fn.public ? 1 : 0,
    retry_on_error: fn.retry_on_error ? 1 : 0,
    network: fn.network ? 1 : 0,
    context: JSON.stringify(fn.context),
    secrets: JSON.stringify(fn.secrets),
    openstack: jsonOrNull(fn.openstack),
    subscriptions: JSON.stringify(fn.subscriptions),
    running: 0,
    last_version: 0,
    module: code.module,
    requirements: code.requirements,
  };
}

/** The rows that say which secrets a function names. */
export const functionSecretRows = (functionId: string, tenantId: string, names: readonly string[]): FunctionSecretRow[] =>
  names.map((name) => ({ function_id: functionId, tenant_id: tenantId, secret_name: name }));

/** The first of `names` that `found` lacks, as the error a function naming it gets. */
export function unknownSecret(names: readonly string[], found: readonly string[]): PrataiError | undefined {
  const missing = names.find((name) => !found.includes(name));
  return missing === undefined ? undefined : new PrataiError('UnknownSecret', `Expected every name in \`secrets\` to be a secret of this project, got \`${missing}\`, which is not (see GET /v1/secrets)`);
}

/** The functions that name a secret, as SecretInUse lists them. */
export function secretInUse(name: string, uses: readonly SecretUse[]): PrataiError {
  const functions = uses.map((use) => ({ function_id: use.function_id, name: use.function_name }));
  return new PrataiError('SecretInUse', `Secret \`${name}\` is given to ${functions.map((fn) => `function \`${fn.name}\` (${fn.function_id})`).join(', ')}; take it out of their \`secrets\` first`, { details: { functions } });
}

/** A function's row (columns and code) as its next version, numbered `version`. */
export function versionRow(fn: FunctionRow, version: number, description: string, at: string): VersionRow {
  const { function_id, tenant_id, runtime, memory, cpus, timeout, retries, retry_on_error, network, code_sha256, module, requirements } = fn;
  return {
    function_id, version, tenant_id, description, runtime, memory, cpus, timeout, retries, retry_on_error, network, code_sha256, module, requirements,
    context: fn.context ?? '{}',
    secrets: fn.secrets ?? '[]',
    created_at: at,
  };
}

export const toVersion = (row: VersionRow): FunctionVersion => ({
  function_id: row.function_id,
  tenant_id: row.tenant_id,
  version: Number(row.version),
  description: row.description,
  runtime: row.runtime,
  memory: Number(row.memory),
  cpus: Number(row.cpus),
  timeout: Number(row.timeout),
  retries: Number(row.retries),
  retry_on_error: Number(row.retry_on_error) === 1,
  network: Number(row.network) === 1,
  context: JSON.parse(row.context) as Record<string, string>,
  secrets: JSON.parse(row.secrets) as string[],
  code_sha256: row.code_sha256,
  created_at: row.created_at,
});

/** A version's columns without its code: what listing and showing read. */
export const VERSION_COLUMNS = [
  'function_id', 'version', 'tenant_id', 'description', 'runtime', 'memory', 'cpus', 'timeout', 'retries', 'retry_on_error', 'network', 'context', 'secrets', 'code_sha256', 'created_at',
] as const satisfies readonly (keyof VersionRow)[];

/**
 * Whether the function (its row) has the code and settings of `latest`, its highest version: then
 * publishing answers that version. Context keys and secret names compare whatever their order.
 */
export function sameAsVersion(fn: FunctionRow, latest: VersionRow | undefined): boolean {
  if (latest === undefined) return false;
  const a = toVersion(versionRow(fn, 0, '', ''));
  const b = toVersion(latest);
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_key, v: unknown) => (Array.isArray(v) ? [...(v as unknown[])].sort() : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort()) : v));
  return VERSION_SETTINGS.every((setting) => canonical(a[setting]) === canonical(b[setting]));
}

export const aliasRow = (alias: AliasRecord): AliasRow => ({ ...alias, weights: JSON.stringify(alias.weights) });

export const toAlias = (row: AliasRow): AliasRecord => ({
  function_id: row.function_id,
  tenant_id: row.tenant_id,
  name: row.name,
  version: Number(row.version),
  weights: JSON.parse(row.weights) as Record<string, number>,
  description: row.description,
  created_at: row.created_at,
  updated_at: row.updated_at,
});

/** The versions an alias sends calls to: its target and those of its weights. */
export const aliasTargets = (alias: Pick<AliasRecord, 'version' | 'weights'>): number[] => [alias.version, ...Object.keys(alias.weights).map(Number)];

/** The first version of an alias's targets that the function lacks, as the error the alias gets. */
export function unknownVersion(alias: Pick<AliasRecord, 'version' | 'weights'>, existing: readonly number[]): PrataiError | undefined {
  const missing = aliasTargets(alias).find((version) => !existing.includes(version));
  return missing === undefined
    ? undefined
    : new PrataiError('VersionNotFound', `Expected the alias to target published versions of the function, got version ${missing}, which it does not have (see GET /v1/functions/ID/versions)`);
}

/** Why a version that aliases target, or jobs or subscriptions run, cannot be deleted, listing them. */
export function versionInUse(version: number, aliases: readonly AliasRecord[], runners: QualifierUsers = { jobs: [], subscriptions: [] }): PrataiError | undefined {
  const users = aliases.filter((alias) => aliasTargets(alias).includes(version)).map((alias) => alias.name);
  const named = [...users.map((name) => `alias \`${name}\``), ...usersText(runners)];
  return named.length === 0
    ? undefined
    : new PrataiError('VersionInUse', `Version ${version} is targeted by ${named.join(', ')}; move or delete them first`, { details: { aliases: users, jobs: runners.jobs, subscriptions: runners.subscriptions } });
}

/** The columns `updateFunction` sets. */
export function functionChangesRow(changes: Omit<Partial<FunctionRecord>, 'openstack'> & { openstack?: FunctionOpenStack | null }, code?: FunctionCode): Partial<FunctionRow> {
  const { public: isPublic, retry_on_error: retryOnError, network, context, secrets, subscriptions, openstack, ...rest } = changes;
  return {
    ...rest,
    ...(subscriptions !== undefined && { subscriptions: JSON.stringify(subscriptions) }),
    // null takes an identity away; absent leaves it.
    ...(openstack !== undefined && { openstack: jsonOrNull(openstack) }),
    ...(context !== undefined && { context: JSON.stringify(context) }),
    ...(secrets !== undefined && { secrets: JSON.stringify(secrets) }),
    ...(isPublic !== undefined && { public: isPublic ? 1 : 0 }),
    ...(retryOnError !== undefined && { retry_on_error: retryOnError ? 1 : 0 }),
    ...(network !== undefined && { network: network ? 1 : 0 }),
    ...(code && { module: code.module, requirements: code.requirements }),
  };
}

export function toFunction(row: Pick<FunctionRow, (typeof FUNCTION_COLUMNS)[number]>): FunctionRecord {
  return {
    function_id: row.function_id,
    user_id: row.user_id,
    tenant_id: row.tenant_id,
    name: row.name,
    description: row.description,
    type: row.type as FunctionRecord['type'],
    event: row.event as FunctionEvent,
    public: row.public === 1,
    runtime: row.runtime,
    memory: row.memory,
    cpus: row.cpus,
    timeout: row.timeout,
    retries: row.retries,
    retry_on_error: row.retry_on_error === 1,
    max_concurrency: row.max_concurrency,
    network: row.network === 1,
    context: row.context === null ? {} : (JSON.parse(row.context) as Record<string, string>),
    secrets: row.secrets === null ? [] : (JSON.parse(row.secrets) as string[]),
    subscriptions: row.subscriptions === null || row.subscriptions === undefined ? [] : (JSON.parse(row.subscriptions) as FunctionSubscription[]),
    ...(row.openstack !== null && row.openstack !== undefined && { openstack: JSON.parse(row.openstack) as FunctionOpenStack }),
    status: row.status as FunctionStatus,
    build_log: row.build_log,
    code_sha256: row.code_sha256,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const jsonOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/** Every column of a request's row, in the order it is inserted. */
export const REQUEST_COLUMNS = [
  'request_id', 'function_id', 'tenant_id', 'user_id', 'status', 'payload', 'response', 'error', 'logs', 'attempts',
  'dead_letter', 'holds_slot', 'job_id', 'queued_at', 'source', 'timer_id', 'scheduled_at', 'created_at', 'started_at', 'finished_at', 'duration_ms', 'headers', 'version', 'alias', 'trigger_depth',
] as const satisfies readonly (keyof RequestRow)[];

/** A request's `version` as its row keeps it. */
export const versionText = (version: VersionRef): string => String(version);

/**
 * Every column named, rather than the record spread and some of its fields replaced: V8 made that
 * spread, whose copy changes the type of fields it shares with the record, cost 20 to 40 µs a
 * request (the webhook's costliest line); this costs well under 1 µs.
 */
export function requestRow(request: RequestRecord): RequestRow {
  return {
    request_id: request.request_id,
    function_id: request.function_id,
    tenant_id: request.tenant_id,
    user_id: request.user_id,
    status: request.status,
    payload: JSON.stringify(request.payload),
    response: jsonOrNull(request.response),
    error: jsonOrNull(request.error),
    logs: JSON.stringify(request.logs),
    attempts: request.attempts,
    dead_letter: request.dead_letter ? 1 : 0,
    holds_slot: 0,
    job_id: null,
    queued_at: request.created_at,
    // A webhook's request, the most common, keeps the column null as every request before 0008.
    source: request.source === 'webhook' ? null : request.source,
    timer_id: request.timer_id,
    scheduled_at: request.scheduled_at,
    created_at: request.created_at,
    started_at: request.started_at,
    finished_at: request.finished_at,
    duration_ms: request.duration_ms,
    headers: request.headers === undefined || Object.keys(request.headers).length === 0 ? null : JSON.stringify(request.headers),
    version: versionText(request.version),
    alias: request.alias,
    trigger_depth: request.trigger_depth ?? null,
  };
}

export function toRequest(row: RequestRow): RequestRecord {
  return {
    request_id: row.request_id,
    function_id: row.function_id,
    tenant_id: row.tenant_id,
    user_id: row.user_id,
    status: row.status as RequestRecord['status'],
    source: (row.source ?? 'webhook') as RequestSource,
    timer_id: row.timer_id ?? null,
    scheduled_at: row.scheduled_at ?? null,
    payload: JSON.parse(row.payload) as unknown,
    response: row.response === null ? null : (JSON.parse(row.response) as unknown),
    error: row.error === null ? null : (JSON.parse(row.error) as RequestRecord['error']),
    logs: JSON.parse(row.logs) as RequestRecord['logs'],
    attempts: row.attempts,
    dead_letter: row.dead_letter === 1,
    version: row.version === null || row.version === 'latest' ? 'latest' : Number(row.version),
    alias: row.alias ?? null,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    duration_ms: row.duration_ms,
    ...(row.headers !== null && row.headers !== undefined && { headers: JSON.parse(row.headers) as Record<string, string> }),
    ...(row.trigger_depth !== null && row.trigger_depth !== undefined && { trigger_depth: Number(row.trigger_depth) }),
  };
}

/** The columns a request's end sets: every end gives back the slot it held. */
type EndRow = Pick<RequestRow, 'status' | 'error' | 'finished_at' | 'holds_slot'> & Partial<RequestRow>;

/** The first of `names` that `found` lacks, as the error a function subscribing to it gets. */
export function unknownEvent(names: readonly string[], found: readonly string[]): PrataiError | undefined {
  const missing = names.find((name) => !found.includes(name));
  return missing === undefined ? undefined : new PrataiError('UnknownEvent', `Expected every name in \`subscriptions\` to be an event of this project, got \`${missing}\`, which is not (see GET /v1/events)`);
}

/** The functions that subscribe to an event, as EventInUse lists them. */
export function eventInUse(name: string, subscriptions: readonly Subscription[]): PrataiError {
  const functions = subscriptions.map((each) => ({ function_id: each.function_id, name: each.function_name }));
  return new PrataiError('EventInUse', `Event \`${name}\` has subscribers: ${functions.map((fn) => `function \`${fn.name}\` (${fn.function_id})`).join(', ')}; take it out of their \`subscriptions\` first`, { details: { functions } });
}

/** The rows that say which events a function subscribes to (its `subscriptions`' strings: `EVENT` or `EVENT:QUALIFIER`). */
export const subscriptionRows = (functionId: string, tenantId: string, entries: readonly FunctionSubscription[]): SubscriptionRow[] =>
  eventSubscriptions(entries).map((entry) => {
    const { name, qualifier } = splitQualified('subscriptions', entry);
    return { function_id: functionId, tenant_id: tenantId, event_name: name, qualifier };
  });

/** The events of a function's `subscriptions` (its node subscriptions left out). */
export const subscribedEvents = (entries: readonly FunctionSubscription[]): string[] => eventSubscriptions(entries).map((entry) => splitQualified('subscriptions', entry).name);

/** The rows that say which nodes a function subscribes to. */
export const nodeSubscriptionRows = (functionId: string, tenantId: string, subscriptions: readonly FunctionSubscription[]): NodeSubscriptionRow[] =>
  nodeSubscriptions(subscriptions).map(({ path, children }) => ({ function_id: functionId, tenant_id: tenantId, path, children: children ? 1 : 0 }));

/** The qualifiers a timer or a function's subscriptions name, each once. */
export function namedQualifiers(named: { qualifier?: string | null; subscriptions?: readonly FunctionSubscription[] }): string[] {
  const all = [named.qualifier ?? null, ...eventSubscriptions(named.subscriptions ?? []).map((entry) => splitQualified('subscriptions', entry).qualifier)];
  return [...new Set(all.filter((qualifier): qualifier is string => qualifier !== null))];
}

/** The first of `qualifiers` that names no version (by number) or alias (by name) of the function, as the error to give. */
export function unknownQualifier(functionId: string, qualifiers: readonly string[], versions: readonly number[], aliases: readonly string[]): PrataiError | undefined {
  for (const qualifier of qualifiers) {
    if (isVersionQualifier(qualifier)) {
      if (!versions.includes(Number(qualifier))) return new PrataiError('VersionNotFound', `Function \`${functionId}\` has no version ${qualifier} (see GET /v1/functions/${functionId}/versions)`);
    } else if (!aliases.includes(qualifier)) {
      return new PrataiError('AliasNotFound', `Function \`${functionId}\` has no alias \`${qualifier}\` (see GET /v1/functions/${functionId}/aliases)`);
    }
  }
  return undefined;
}

/** Who runs a version or an alias of a function by its qualifier: its jobs (timers) and subscriptions that name it. */
export interface QualifierUsers {
  jobs: string[];
  subscriptions: string[];
}

/** The jobs and subscriptions among these that name `qualifier`. */
export const qualifierUsers = (qualifier: string, timers: readonly Pick<TimerRow, 'timer_id' | 'qualifier'>[], subscriptions: readonly Pick<SubscriptionRow, 'event_name' | 'qualifier'>[]): QualifierUsers => ({
  jobs: timers.filter((timer) => timer.qualifier === qualifier).map((timer) => timer.timer_id),
  subscriptions: subscriptions.filter((row) => row.qualifier === qualifier).map((row) => row.event_name),
});

const usersText = (users: QualifierUsers): string[] => [
  ...users.jobs.map((id) => `job \`${id}\``),
  ...users.subscriptions.map((event) => `its subscription to event \`${event}\``),
];

/** Why an alias that jobs or subscriptions run cannot be deleted, naming them. */
export function aliasInUse(name: string, users: QualifierUsers): PrataiError | undefined {
  const named = usersText(users);
  return named.length === 0
    ? undefined
    : new PrataiError('AliasInUse', `Alias \`${name}\` is run by ${named.join(', ')}; delete them or make them run another version or alias first`, { details: { jobs: users.jobs, subscriptions: users.subscriptions } });
}

export function timerRow(timer: TimerRecord): TimerRow {
  return { ...timer, payload: JSON.stringify(timer.payload), last_request_ids: JSON.stringify(timer.last_request_ids) };
}

export function toTimer(row: TimerRow): TimerRecord {
  return {
    timer_id: row.timer_id,
    tenant_id: row.tenant_id,
    user_id: row.user_id,
    function_id: row.function_id,
    name: row.name,
    pattern: row.pattern,
    timezone: row.timezone,
    payload: JSON.parse(row.payload) as unknown,
    status: row.status as TimerStatus,
    count: row.count ?? null,
    executions: row.executions,
    skipped: row.skipped,
    first_execution_time: row.first_execution_time ?? null,
    next_execution_time: row.next_execution_time ?? null,
    last_execution_time: row.last_execution_time ?? null,
    last_request_ids: JSON.parse(row.last_request_ids) as string[],
    qualifier: row.qualifier ?? null,
    version: row.version,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** The columns a change of a timer sets (its version is counted by the store). */
export function timerChangesRow(changes: TimerChanges): Partial<TimerRow> {
  const { payload, last_request_ids: ids, ...rest } = changes;
  return {
    ...rest,
    ...(payload !== undefined && { payload: JSON.stringify(payload) }),
    ...(ids !== undefined && { last_request_ids: JSON.stringify(ids) }),
  };
}

/** The columns `finishRequest` sets. */
export function outcomeRow(outcome: Outcome): EndRow {
  return {
    status: outcome.status,
    response: jsonOrNull(outcome.response),
    error: jsonOrNull(outcome.error),
    logs: JSON.stringify(outcome.logs),
    finished_at: outcome.finishedAt,
    duration_ms: outcome.durationMs,
    dead_letter: outcome.deadLetter ? 1 : 0,
    holds_slot: 0,
  };
}

/** The columns a cancel sets: status, an error saying why, the time. */
export function cancelRow(reason: string, at: string): EndRow {
  return { status: 'cancelled', error: JSON.stringify({ type: 'Cancelled', message: reason, traceback: '' }), finished_at: at, holds_slot: 0 };
}

/** The columns of a request that expired before a runner started it: failed, dead-lettered. */
export function expiredRow(message: string, at: string): EndRow {
  return { status: 'failed', error: JSON.stringify({ type: 'RequestExpired', message, traceback: '' }), finished_at: at, dead_letter: 1, holds_slot: 0 };
}

/** The columns of a request queued again after a failed attempt: that attempt's error and logs stay visible. */
export function requeueRow(failed: FailedAttempt): EndRow {
  return { status: 'queued', response: null, error: jsonOrNull(failed.error), logs: JSON.stringify(failed.logs), finished_at: null, duration_ms: null, queued_at: failed.at, holds_slot: 0 };
}

/** The columns of a redriven request: queued, attempts reset; its last error stays visible until the next attempt. */
export function redriveRow(at: string): Partial<RequestRow> {
  return { status: 'queued', attempts: 0, dead_letter: 0, response: null, started_at: null, finished_at: null, duration_ms: null, job_id: null, queued_at: at };
}

/** Statuses from which `finishRequest` with this outcome may move a request. */
export const finishableFrom = (outcome: Outcome): string[] => (outcome.status === 'cancelled' ? ['queued', 'running'] : ['running']);

/** Statuses `startRequest` and a cancel may move a request from. */
export const UNFINISHED = ['queued', 'running'];

/**
 * The decision `startRequest` takes on a request's row, the same on every database: null to go
 * on and start it, else why not. Expiry comes before capacity: an expired request is never kept
 * waiting for a slot. SqlStore's one-statement start (startHoldingNoNewSlot) says the same in its
 * WHERE clause: a change here goes there too.
 */
export function startBlocked(
  row: Pick<RequestRow, 'status' | 'job_id' | 'created_at'>,
  jobId: string,
  expireCreatedBefore: string | undefined,
): 'final' | 'duplicate' | 'expire' | null {
  if (!UNFINISHED.includes(row.status)) return 'final';
  if (row.status === 'running' && row.job_id !== jobId) return 'duplicate';
  if (expireCreatedBefore !== undefined && row.created_at < expireCreatedBefore) return 'expire';
  return null;
}

/** The columns a heartbeat writes: `drain_requested` only when it says (an administrator's request is otherwise kept). */
export function runnerRow(heartbeat: RunnerHeartbeat): Omit<RunnerRow, 'drain_requested'> & { drain_requested?: number } {
  const { name, host, pid, instanceId, startedAt, dockerOk, images, at, load, drainRequested } = heartbeat;
  return {
    name,
    host,
    pid,
    instance_id: instanceId,
    started_at: startedAt,
    docker_ok: dockerOk ? 1 : 0,
    images: JSON.stringify(images),
    heartbeat_at: at,
    load: JSON.stringify(load ?? {}),
    ...(drainRequested === undefined ? {} : { drain_requested: drainRequested ? 1 : 0 }),
  };
}

export function toHeartbeat(row: RunnerRow): RunnerHeartbeat {
  return {
    name: row.name,
    host: row.host,
    pid: Number(row.pid),
    instanceId: row.instance_id,
    startedAt: row.started_at,
    dockerOk: Number(row.docker_ok) === 1,
    images: JSON.parse(row.images) as string[],
    at: row.heartbeat_at,
    ...loadOf(row.load),
    drainRequested: Number(row.drain_requested) === 1,
  };
}

function loadOf(raw: string | undefined): { load?: RunnerLoad } {
  try {
    const load = JSON.parse(raw ?? '{}') as Partial<RunnerLoad>;
    return typeof load.state === 'string' ? { load: load as RunnerLoad } : {};
  } catch {
    return {};
  }
}
