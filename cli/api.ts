/**
 * Pratai's REST API as the CLI calls it: one method per call, typed with the domain's records as
 * the API shows them. Names are resolved to ids here, through the list, as the OpenStack clients
 * resolve them.
 */
import type { AliasRecord, FunctionRecord, FunctionVersion, RequestRecord, RequestStatus, RuntimeRecord } from '../common/domain.js';
import { isId } from '../common/ids.js';
import { CliError } from './errors.js';
import type { HttpClient } from './http.js';
import type { Stat } from '../common/coordination/nodes.js';

/** A function as the API shows it: no code, its webhook endpoint, the build log when shown alone. */
export type FunctionView = Omit<FunctionRecord, 'code_sha256' | 'build_log' | 'openstack'> & {
  endpoint: string;
  build_log?: string;
  /** Its OpenStack identity (a Keystone trust) and the roles it delegates; absent from an API of before them. */
  openstack_auth?: boolean;
  openstack_roles?: string[];
};
/** A request in a listing: everything but its logs. */
export type RequestSummary = Omit<RequestRecord, 'logs'>;
export type RuntimeView = RuntimeRecord & { status: string };

/** A runner as `GET /v1/runners` shows it. */
export interface RunnerView {
  id: string;
  host: string;
  heartbeat_at: string;
  alive: boolean;
  state: string;
  concurrency: number | null;
  requests_running: number | null;
  warm_containers: number | null;
  prewarmed_containers: number | null;
  images: string[];
}
/** A secret as the API shows it: never its value. */
export interface SecretView {
  name: string;
  version: number;
  created_at: string;
  updated_at: string;
  /** The functions that name it. */
  functions: { function_id: string; name: string }[];
}

/** A job (timer) as the API shows it. */
export interface JobView {
  job_id: string;
  function_id: string;
  name: string;
  pattern: string;
  timezone: string;
  payload: unknown;
  status: string;
  count: number | null;
  executions: number;
  skipped: number;
  first_execution_time: string | null;
  next_execution_time: string | null;
  last_execution_time: string | null;
  last_request_ids: string[];
  /** The version number or alias name it runs (null: latest); absent from an API of before them. */
  qualifier?: string | null;
  created_at: string;
  updated_at: string;
}

/** An event as the API shows it, with its subscribers. */
export interface EventView {
  name: string;
  description: string;
  created_at: string;
  /** Its subscribers, each with the version number or alias name it runs (null: latest; absent from an API of before them). */
  functions: { function_id: string; name: string; qualifier?: string | null }[];
}
/** A coordination node's stat, as the API shows it: the coordination port's own. */
export type NodeStat = Stat;

/** A fired watch, as a coordination session receives it. */
export interface WatchEventView {
  type: string;
  path: string;
  zxid: number;
  watch: 'data' | 'child';
}

/** What a coordination call made with a session answers: the events pending for it first. */
interface WithEvents {
  events?: WatchEventView[];
}

/** `/v1/coordination/nodes/PATH`, each name of the path percent-encoded. */
const nodeUrl = (path: string): string => `/v1/coordination/nodes${path === '/' ? '/' : path.split('/').map(encodeURIComponent).join('/')}`;

/** A version as the API shows it: its snapshot, image and webhook endpoint. */
export type VersionView = FunctionVersion & { image: string; endpoint: string };
export type AliasView = AliasRecord & { endpoint: string };

/** What a call runs: a published version, an alias's target, or (neither) the function as it is. */
export interface CallTarget {
  version?: number;
  alias?: string;
}

/** The webhook endpoint of a call's target. */
const endpointOf = (fn: FunctionView, target: CallTarget): string =>
  target.version !== undefined ? `${fn.endpoint}/versions/${target.version}` : target.alias !== undefined ? `${fn.endpoint}/aliases/${encodeURIComponent(target.alias)}` : fn.endpoint;

export interface RequestFilters {
  /** Only the requests of this source (webhook, job, event). */
  source?: string;
  functionId?: string;
  status?: RequestStatus;
  requestId?: string;
  /** Only the dead letters (true), or only the others (false). */
  deadLetter?: boolean;
  /** Every project's requests (an admin's). */
  allTenants?: boolean;
  marker?: string;
  /** At most this many; all of them when undefined. */
  limit?: number;
  /** Only the requests that ran this version (a number, or `latest`). */
  version?: string;
  /** Only the requests that came through this alias. */
  alias?: string;
}

/** The most the API gives in one page. */
const PAGE_LIMIT = 1000;

export class PrataiApi {
  constructor(readonly http: HttpClient) {}

  async listRuntimes(): Promise<RuntimeView[]> {
    return (await this.http.json<{ runtimes: RuntimeView[] }>('GET', '/v1/runtimes')).runtimes;
  }

  async listRunners(): Promise<RunnerView[]> {
    return (await this.http.json<{ runners: RunnerView[] }>('GET', '/v1/runners')).runners;
  }

  async drainRunner(id: string): Promise<RunnerView> {
    return (await this.http.json<{ runner: RunnerView }>('POST', `/v1/runners/${encodeURIComponent(id)}/drain`)).runner;
  }

  async listSecrets(): Promise<SecretView[]> {
    return (await this.http.json<{ secrets: SecretView[] }>('GET', '/v1/secrets')).secrets;
  }

  async getSecret(name: string): Promise<SecretView> {
    return (await this.http.json<{ secret: SecretView }>('GET', `/v1/secrets/${encodeURIComponent(name)}`)).secret;
  }

  async createSecret(name: string, value: string): Promise<SecretView> {
    return (await this.http.json<{ secret: SecretView }>('POST', '/v1/secrets', { body: { name, value } })).secret;
  }

  async updateSecret(name: string, value: string): Promise<SecretView> {
    return (await this.http.json<{ secret: SecretView }>('PUT', `/v1/secrets/${encodeURIComponent(name)}`, { body: { value } })).secret;
  }

  async deleteSecret(name: string): Promise<void> {
    await this.http.json('DELETE', `/v1/secrets/${encodeURIComponent(name)}`);
  }

  async listJobs(functionId?: string): Promise<JobView[]> {
    return (await this.http.json<{ jobs: JobView[] }>('GET', '/v1/jobs', { query: { function_id: functionId } })).jobs;
  }

  async getJob(id: string): Promise<JobView> {
    return (await this.http.json<{ job: JobView }>('GET', `/v1/jobs/${encodeURIComponent(id)}`)).job;
  }

  async createJob(fields: Record<string, unknown>): Promise<JobView> {
    return (await this.http.json<{ job: JobView }>('POST', '/v1/jobs', { body: fields })).job;
  }

  async updateJob(id: string, changes: Record<string, unknown>): Promise<JobView> {
    return (await this.http.json<{ job: JobView }>('PATCH', `/v1/jobs/${encodeURIComponent(id)}`, { body: changes })).job;
  }

  async deleteJob(id: string): Promise<void> {
    await this.http.json('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  async listEvents(): Promise<EventView[]> {
    return (await this.http.json<{ events: EventView[] }>('GET', '/v1/events')).events;
  }

  async createEvent(name: string, description?: string): Promise<EventView> {
    return (await this.http.json<{ event: EventView }>('POST', '/v1/events', { body: { name, ...(description !== undefined && { description }) } })).event;
  }

  async deleteEvent(name: string): Promise<void> {
    await this.http.json('DELETE', `/v1/events/${encodeURIComponent(name)}`);
  }

  /** Publishes a message; answers the ids of the requests it made, one per subscribed function. */
  async publishEvent(name: string, payload: unknown): Promise<{ request_ids: string[]; requests: { function_id: string; request_id: string }[] }> {
    return this.http.json('POST', `/v1/events/${encodeURIComponent(name)}/messages`, { body: { payload } });
  }

  /** A bulk call of a function's webhook: the request ids, in the order of the payloads. */
  async executeBulk(fn: FunctionView, payloads: readonly unknown[], target: CallTarget = {}): Promise<string[]> {
    return (await this.http.json<{ request_ids: string[] }>('POST', endpointOf(fn, target), { body: { payloads } })).request_ids;
  }

  async listFunctions(options: { allTenants?: boolean } = {}): Promise<FunctionView[]> {
    const query = options.allTenants ? { all_tenants: 'true' } : {};
    return (await this.http.json<{ functions: FunctionView[] }>('GET', '/v1/functions', { query })).functions;
  }

  async getFunction(id: string): Promise<FunctionView> {
    return (await this.http.json<{ function: FunctionView }>('GET', `/v1/functions/${encodeURIComponent(id)}`)).function;
  }

  async createFunction(form: FormData): Promise<FunctionView> {
    return (await this.http.json<{ function: FunctionView }>('POST', '/v1/functions', { body: form })).function;
  }

  /** `changes` is multipart (new code) or the fields to change, as JSON. */
  async updateFunction(id: string, changes: FormData | Record<string, unknown>): Promise<FunctionView> {
    return (await this.http.json<{ function: FunctionView }>('PATCH', `/v1/functions/${encodeURIComponent(id)}`, { body: changes })).function;
  }

  async deleteFunction(id: string): Promise<void> {
    await this.http.json('DELETE', `/v1/functions/${encodeURIComponent(id)}`);
  }

  /**
   * The function `idOrName` names: an id is read directly, a name is looked up in the list. No
   * match, or more than one, is an error naming what was found.
   */
  async findFunction(idOrName: string): Promise<FunctionView> {
    if (isId(idOrName)) return this.getFunction(idOrName);
    const matches = (await this.listFunctions()).filter((fn) => fn.name === idOrName);
    if (matches.length === 1) return matches[0] as FunctionView;
    if (matches.length === 0) throw new CliError(`No function with a name or ID of \`${idOrName}\` exists`);
    throw new CliError(`More than one function is named \`${idOrName}\` (${matches.map((fn) => fn.function_id).join(', ')}); use an ID`);
  }

  /** The id of the function `idOrName` names, without reading it when it is an id. */
  async resolveFunction(idOrName: string): Promise<string> {
    return isId(idOrName) ? idOrName : (await this.findFunction(idOrName)).function_id;
  }

  /**
   * Calls a function's webhook (with the token: a private function's webhook needs one); answers
   * the request id. `wait=false`: the answer comes at once even for a wait_for_response function,
   * as the CLI follows the request itself.
   */
  async execute(fn: FunctionView, payload: unknown, target: CallTarget = {}): Promise<string> {
    return (await this.http.json<{ request_id: string }>('POST', endpointOf(fn, target), { body: { payload }, query: { wait: false } })).request_id;
  }

  async publishVersion(functionId: string, description?: string): Promise<VersionView> {
    return (await this.http.json<{ version: VersionView }>('POST', `/v1/functions/${functionId}/versions`, { body: description === undefined ? {} : { description } })).version;
  }

  async listVersions(functionId: string): Promise<VersionView[]> {
    return (await this.http.json<{ versions: VersionView[] }>('GET', `/v1/functions/${functionId}/versions`)).versions;
  }

  async getVersion(functionId: string, version: string): Promise<VersionView> {
    return (await this.http.json<{ version: VersionView }>('GET', `/v1/functions/${functionId}/versions/${encodeURIComponent(version)}`)).version;
  }

  async deleteVersion(functionId: string, version: string): Promise<void> {
    await this.http.json('DELETE', `/v1/functions/${functionId}/versions/${encodeURIComponent(version)}`);
  }

  async createAlias(functionId: string, alias: { name: string; version: number; description?: string; weights?: Record<string, number> }): Promise<AliasView> {
    return (await this.http.json<{ alias: AliasView }>('POST', `/v1/functions/${functionId}/aliases`, { body: alias })).alias;
  }

  async listAliases(functionId: string): Promise<AliasView[]> {
    return (await this.http.json<{ aliases: AliasView[] }>('GET', `/v1/functions/${functionId}/aliases`)).aliases;
  }

  async getAlias(functionId: string, name: string): Promise<AliasView> {
    return (await this.http.json<{ alias: AliasView }>('GET', `/v1/functions/${functionId}/aliases/${encodeURIComponent(name)}`)).alias;
  }

  async updateAlias(functionId: string, name: string, changes: { version?: number; description?: string; weights?: Record<string, number> }): Promise<AliasView> {
    return (await this.http.json<{ alias: AliasView }>('PATCH', `/v1/functions/${functionId}/aliases/${encodeURIComponent(name)}`, { body: changes })).alias;
  }

  async deleteAlias(functionId: string, name: string): Promise<void> {
    await this.http.json('DELETE', `/v1/functions/${functionId}/aliases/${encodeURIComponent(name)}`);
  }

  /** Requests, newest first, following `next` links until `limit` (or all) are read. */
  async listRequests(filters: RequestFilters): Promise<RequestSummary[]> {
    const found: RequestSummary[] = [];
    let marker = filters.marker;
    for (;;) {
      const wanted = filters.limit === undefined ? PAGE_LIMIT : Math.min(PAGE_LIMIT, filters.limit - found.length);
      const page = await this.http.json<{ requests: RequestSummary[]; requests_links: { rel: string; href: string }[] }>('GET', '/v1/requests', {
        query: {
          function_id: filters.functionId, status: filters.status, source: filters.source, request_id: filters.requestId, dead_letter: filters.deadLetter, all_tenants: filters.allTenants,
          version: filters.version, alias: filters.alias, marker, limit: wanted,
        },
      });
      found.push(...page.requests);
      const last = page.requests.at(-1);
      const more = page.requests_links.some((link) => link.rel === 'next');
      if (!more || last === undefined || (filters.limit !== undefined && found.length >= filters.limit)) return found;
      marker = last.request_id;
    }
  }

  async getRequest(id: string): Promise<RequestRecord> {
    return (await this.http.json<{ request: RequestRecord }>('GET', `/v1/requests/${encodeURIComponent(id)}`)).request;
  }

  /** The request's logs as the API renders them: one record a line. */
  async getRequestLogs(id: string): Promise<string> {
    return this.http.text('GET', `/v1/requests/${encodeURIComponent(id)}/logs`);
  }

  /** Hands the request's log records to `onText` as its function writes them, until the request ends. */
  async followRequestLogs(id: string, onText: (text: string) => void): Promise<void> {
    await this.http.stream('GET', `/v1/requests/${encodeURIComponent(id)}/logs`, onText, { query: { follow: true } });
  }

  async createNode(path: string, node: { data: Buffer; ephemeral: boolean; sequential: boolean }, session?: string): Promise<{ path: string; stat: NodeStat }> {
    return this.http.json('POST', nodeUrl(path), { body: { data: node.data.toString('base64'), ephemeral: node.ephemeral, sequential: node.sequential }, query: { session } });
  }

  async getNode(path: string): Promise<{ data: Buffer; stat: NodeStat }> {
    const answer = await this.http.json<{ data: string; stat: NodeStat }>('GET', nodeUrl(path));
    return { data: Buffer.from(answer.data, 'base64'), stat: answer.stat };
  }

  async setNode(path: string, data: Buffer, version: number | undefined): Promise<{ path: string; stat: NodeStat }> {
    return this.http.json('PUT', nodeUrl(path), { body: { data: data.toString('base64'), ...(version !== undefined && { version }) } });
  }

  async deleteNode(path: string, version: number | undefined): Promise<void> {
    await this.http.json('DELETE', nodeUrl(path), { query: { version } });
  }

  async listChildren(path: string): Promise<string[]> {
    return (await this.http.json<{ children: string[] }>('GET', nodeUrl(path), { query: { children: true } })).children;
  }

  /**
   * Sets a watch of the session on `path`: a data watch (through exists, so it is set on a node
   * not there yet too) or a child watch. Answers the events pending for the session.
   */
  async watchNode(path: string, kind: 'data' | 'child', session: string): Promise<WatchEventView[]> {
    const query = kind === 'child' ? { children: true, watch: true, session } : { stat: true, watch: true, session };
    return (await this.http.json<WithEvents>('GET', nodeUrl(path), { query })).events ?? [];
  }

  /** Opens a coordination session (the server's default timeout); answers its id. */
  async openCoordinationSession(): Promise<string> {
    return (await this.http.json<{ session: { session_id: string } }>('POST', '/v1/coordination/sessions', { body: {} })).session.session_id;
  }

  async closeCoordinationSession(session: string): Promise<void> {
    await this.http.json('DELETE', `/v1/coordination/sessions/${encodeURIComponent(session)}`);
  }

  /**
   * Hands the session's events stream (Server-Sent Events) to `onText` as it arrives, until it
   * ends or `signal` is aborted. The open stream keeps the session alive.
   */
  async followSessionEvents(session: string, onText: (text: string) => void, signal: AbortSignal): Promise<void> {
    await this.http.stream('GET', `/v1/coordination/sessions/${encodeURIComponent(session)}/events`, onText, { accept: 'text/event-stream', signal });
  }

  async cancelRequest(id: string): Promise<RequestRecord> {
    return (await this.http.json<{ request: RequestRecord }>('POST', `/v1/requests/${encodeURIComponent(id)}/cancel`)).request;
  }

  async redriveRequest(id: string): Promise<RequestRecord> {
    return (await this.http.json<{ request: RequestRecord }>('POST', `/v1/requests/${encodeURIComponent(id)}/redrive`)).request;
  }
}
