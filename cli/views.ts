/**
 * How each record is shown: the fields of a show command (in the original documentation's order,
 * then the newer ones) and the columns of a list command (ID, Name, Status first where they
 * apply, as the OpenStack clients list).
 */
import type { FunctionSubscription, LogRecord, RequestError, RequestRecord } from '../common/domain.js';
import type { AliasView, EventView, FunctionView, JobView, NodeStat, RequestSummary, RunnerView, RuntimeView, SecretView, VersionView } from './api.js';
import { Formatted, type Listing, type Shown } from './output.js';

const FUNCTION_FIELDS = [
  'function_id', 'user_id', 'tenant_id', 'name', 'description', 'type', 'event', 'public', 'endpoint',
  'runtime', 'memory', 'cpus', 'timeout', 'status', 'build_log', 'created_at', 'updated_at', 'network',
  'retries', 'retry_on_error', 'max_concurrency', 'context', 'secrets', 'subscriptions', 'openstack_auth', 'openstack_roles',
] as const;

/**
 * A successful build's log is Docker's chatter: a table shows the log only when the build
 * failed, where it says why; json and yaml always carry it.
 */
const buildLog = (fn: FunctionView): Formatted => new Formatted(fn.build_log ?? '', fn.status === 'error' ? (fn.build_log ?? '').trimEnd() : '');

/** An event by its name; a node by its path, `(children)` when its children's creations and deletions count. */
const subscriptionText = (subscription: FunctionSubscription): string =>
  typeof subscription === 'string' ? subscription : `${subscription.path}${subscription.children ? ' (children)' : ''}`;

export function functionShown(fn: FunctionView): Shown {
  const value = (field: (typeof FUNCTION_FIELDS)[number]): unknown => {
    if (field === 'build_log') return buildLog(fn);
    // Functions shown by an API of before secrets have neither.
    if (field === 'secrets') return new Formatted(fn.secrets ?? [], (fn.secrets ?? []).join(', '));
    if (field === 'context') return fn.context ?? {};
    if (field === 'subscriptions') return new Formatted(fn.subscriptions ?? [], (fn.subscriptions ?? []).map(subscriptionText).join(', '));
    if (field === 'openstack_auth') return fn.openstack_auth ?? false;
    if (field === 'openstack_roles') return new Formatted(fn.openstack_roles ?? [], (fn.openstack_roles ?? []).join(', '));
    return fn[field];
  };
  return { fields: [...FUNCTION_FIELDS], values: FUNCTION_FIELDS.map(value) };
}

/** A column of a list: its name and how a row's value is read. */
type Column<T> = readonly [name: string, value: (item: T) => unknown];

const listingOf = <T>(items: readonly T[], columns: readonly Column<T>[]): Listing => ({
  columns: columns.map(([name]) => name),
  rows: items.map((item) => columns.map(([, value]) => value(item))),
});

const FUNCTION_ID: Column<FunctionView> = ['ID', (fn) => fn.function_id];
const FUNCTION_PROJECT: Column<FunctionView>[] = [['Project', (fn) => fn.tenant_id]];
const FUNCTION_LONG: Column<FunctionView>[] = [
  ['CPUs', (fn) => fn.cpus],
  ['Timeout', (fn) => fn.timeout],
  ['Public', (fn) => fn.public],
  ['Network', (fn) => fn.network],
  ['Description', (fn) => fn.description],
  ['Created At', (fn) => fn.created_at],
];

export function functionListing(functions: readonly FunctionView[], options: { onlyId?: boolean; allTenants?: boolean; long?: boolean }): Listing {
  if (options.onlyId) return listingOf(functions, [FUNCTION_ID]);
  return listingOf(functions, [
    FUNCTION_ID,
    ['Name', (fn) => fn.name],
    ['Status', (fn) => fn.status],
    ...(options.allTenants ? FUNCTION_PROJECT : []),
    ['Runtime', (fn) => fn.runtime],
    ['Memory', (fn) => fn.memory],
    ...(options.long ? FUNCTION_LONG : []),
    ['Endpoint', (fn) => fn.endpoint],
  ]);
}

/** A request's logs, one record a line, as `GET /v1/requests/<id>/logs` gives them. */
const logLines = (logs: readonly LogRecord[]): string => logs.map((record) => `${record.time} ${record.level} [${record.source}] ${record.message}`).join('\n');

const errorText = (error: RequestError | null): unknown => (error === null ? null : new Formatted(error, error.traceback.trim() || `${error.type}: ${error.message}`));

const REQUEST_FIELDS = [
  'request_id', 'function_id', 'status', 'payload', 'response', 'error', 'logs', 'attempts',
  'created_at', 'started_at', 'finished_at', 'duration_ms', 'user_id', 'tenant_id', 'dead_letter', 'version', 'alias',
  'source', 'job_id', 'scheduled_at', 'trigger_depth',
] as const;

/** A request as the API shows it: the timer that made it is its `job_id`. */
type RequestShown = Omit<RequestRecord, 'timer_id'> & { job_id?: string | null };

export function requestShown(request: RequestShown): Shown {
  const value = (field: (typeof REQUEST_FIELDS)[number]): unknown => {
    if (field === 'logs') return new Formatted(request.logs, logLines(request.logs));
    if (field === 'error') return errorText(request.error);
    // An API of before jobs and events shows none of these: its requests were all webhook calls.
    if (field === 'source') return request.source ?? 'webhook';
    if (field === 'job_id' || field === 'scheduled_at' || field === 'trigger_depth') return request[field] ?? null;
    return request[field];
  };
  return { fields: [...REQUEST_FIELDS], values: REQUEST_FIELDS.map(value) };
}

export const requestListing = (requests: readonly RequestSummary[]): Listing =>
  listingOf(requests, [
    ['ID', (request) => request.request_id],
    ['Function ID', (request) => request.function_id],
    ['Status', (request) => request.status],
    ['Source', (request) => request.source ?? 'webhook'],
    ['Version', (request) => request.version],
    ['Alias', (request) => request.alias],
    ['Attempts', (request) => request.attempts],
    ['Created At', (request) => request.created_at],
    ['Duration (ms)', (request) => request.duration_ms],
  ]);

export const runtimeListing = (runtimes: readonly RuntimeView[]): Listing =>
  listingOf(runtimes, [
    ['Name', (runtime) => runtime.name],
    ['Description', (runtime) => runtime.description],
    ['Image', (runtime) => runtime.image],
    ['Status', (runtime) => runtime.status],
  ]);

export const runnerListing = (runners: readonly RunnerView[]): Listing =>
  listingOf(runners, [
    ['ID', (runner) => runner.id],
    ['Host', (runner) => runner.host],
    // An API of before `down` gave a dead runner its last state.
    ['State', (runner) => (runner.alive ? runner.state : 'down')],
    ['Last heartbeat', (runner) => runner.heartbeat_at],
    ['Running', (runner) => `${runner.requests_running ?? '?'}/${runner.concurrency ?? '?'}`],
    ['Warm', (runner) => runner.warm_containers ?? ''],
    ['Prewarmed', (runner) => runner.prewarmed_containers ?? ''],
    ['Images', (runner) => runner.images.join(', ')],
  ]);

/** The functions that name a secret, for a person: `name (id)`, comma-separated. */
const usedBy = (secret: SecretView): Formatted => new Formatted(secret.functions, secret.functions.map((fn) => `${fn.name} (${fn.function_id})`).join(', '));

const SECRET_FIELDS = ['name', 'version', 'functions', 'created_at', 'updated_at'] as const;

export function secretShown(secret: SecretView): Shown {
  return { fields: [...SECRET_FIELDS], values: SECRET_FIELDS.map((field) => (field === 'functions' ? usedBy(secret) : secret[field])) };
}

export const secretListing = (secrets: readonly SecretView[]): Listing =>
  listingOf(secrets, [
    ['Name', (secret) => secret.name],
    ['Version', (secret) => secret.version],
    ['Functions', usedBy],
    ['Created At', (secret) => secret.created_at],
    ['Updated At', (secret) => secret.updated_at],
  ]);

const JOB_FIELDS = [
  'job_id', 'name', 'function_id', 'qualifier', 'pattern', 'timezone', 'payload', 'status', 'count', 'executions', 'skipped',
  'first_execution_time', 'next_execution_time', 'last_execution_time', 'last_request_ids', 'created_at', 'updated_at',
] as const;

export function jobShown(job: JobView): Shown {
  const value = (field: (typeof JOB_FIELDS)[number]): unknown => {
    if (field === 'last_request_ids') return new Formatted(job.last_request_ids, job.last_request_ids.join(', '));
    // null and absent (an API of before qualifiers) are both the function's latest.
    if (field === 'qualifier') return new Formatted(job.qualifier ?? null, job.qualifier ?? 'latest');
    return job[field];
  };
  return { fields: [...JOB_FIELDS], values: JOB_FIELDS.map(value) };
}

export const jobListing = (jobs: readonly JobView[]): Listing =>
  listingOf(jobs, [
    ['ID', (job) => job.job_id],
    ['Name', (job) => job.name],
    ['Status', (job) => job.status],
    ['Function ID', (job) => (job.qualifier ? `${job.function_id}:${job.qualifier}` : job.function_id)],
    ['Pattern', (job) => job.pattern],
    ['Timezone', (job) => job.timezone],
    ['Count', (job) => job.count],
    ['Next Execution Time', (job) => job.next_execution_time],
  ]);

const subscribers = (event: EventView): Formatted => new Formatted(event.functions, event.functions.map((fn) => (fn.qualifier ? `${fn.name}:${fn.qualifier}` : fn.name)).join(', '));

export function eventShown(event: EventView): Shown {
  return { fields: ['name', 'description', 'functions', 'created_at'], values: [event.name, event.description, subscribers(event), event.created_at] };
}

export const eventListing = (events: readonly EventView[]): Listing =>
  listingOf(events, [
    ['Name', (event) => event.name],
    ['Description', (event) => event.description],
    ['Functions', subscribers],
    ['Created At', (event) => event.created_at],
  ]);

const VERSION_FIELDS = [
  'function_id', 'version', 'description', 'runtime', 'memory', 'cpus', 'timeout', 'retries', 'retry_on_error', 'network', 'context', 'secrets',
  'code_sha256', 'image', 'endpoint', 'created_at',
] as const;

export function versionShown(version: VersionView): Shown {
  return { fields: [...VERSION_FIELDS], values: VERSION_FIELDS.map((field) => (field === 'secrets' ? new Formatted(version.secrets, version.secrets.join(', ')) : version[field])) };
}

export const versionListing = (versions: readonly VersionView[]): Listing =>
  listingOf(versions, [
    ['Version', (version) => version.version],
    ['Description', (version) => version.description],
    ['Memory', (version) => version.memory],
    ['Timeout', (version) => version.timeout],
    ['Code SHA256', (version) => version.code_sha256.slice(0, 16)],
    ['Created At', (version) => version.created_at],
  ]);

/** An alias's weights for a person: `2=0.1, 3=0.05`. */
const weightsText = (alias: AliasView): Formatted =>
  new Formatted(alias.weights, Object.entries(alias.weights).map(([version, share]) => `${version}=${share}`).join(', '));

const ALIAS_FIELDS = ['name', 'function_id', 'version', 'weights', 'description', 'endpoint', 'created_at', 'updated_at'] as const;

export function aliasShown(alias: AliasView): Shown {
  return { fields: [...ALIAS_FIELDS], values: ALIAS_FIELDS.map((field) => (field === 'weights' ? weightsText(alias) : alias[field])) };
}

export const aliasListing = (aliases: readonly AliasView[]): Listing =>
  listingOf(aliases, [
    ['Name', (alias) => alias.name],
    ['Version', (alias) => alias.version],
    ['Weights', weightsText],
    ['Description', (alias) => alias.description],
    ['Endpoint', (alias) => alias.endpoint],
  ]);

const STAT_FIELDS = ['czxid', 'mzxid', 'pzxid', 'version', 'cversion', 'ctime', 'mtime', 'ephemeral_owner', 'num_children', 'data_length'] as const;

/** A coordination node: its path, its data as UTF-8 text, then its stat (times as ISO 8601). */
export function nodeShown(path: string, data: Buffer, stat: NodeStat): Shown {
  const statValue = (field: (typeof STAT_FIELDS)[number]): unknown => (field === 'ctime' || field === 'mtime' ? new Date(stat[field]).toISOString() : stat[field]);
  return { fields: ['path', 'data', ...STAT_FIELDS], values: [path, data.toString('utf8'), ...STAT_FIELDS.map(statValue)] };
}

export const nodeChildrenListing = (children: readonly string[]): Listing => listingOf([...children].sort(), [['Name', (child) => child]]);
