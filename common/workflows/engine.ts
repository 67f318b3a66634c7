/**
 * The workflow engine: starts an invocation (its first action's requests), records how each
 * action instance's request ended and starts what follows (the store decides, in one
 * transaction: common/store/sql-workflow-store.ts), cancels. Every action instance is an ordinary
 * request of the workflow's hidden function, queued like a webhook's (`submit`). The API starts
 * and cancels; runners record ends right after storing an outcome, and their sweep records those
 * a process died before recording. FaaSr's log object and `.done` marker of each finished instance
 * are written where FaaSr writes them, in the logging data store.
 */
import { randomUUID } from 'node:crypto';
import type { LogRecord, RequestRecord, RequestStatus } from '../domain.js';
import { PrataiError } from '../errors.js';
import { newId, now } from '../ids.js';
import { newRequest } from '../submit-request.js';
import type { Logger } from '../log.js';
import { requestChange, type Notifier } from '../notifications/notifier.js';
import type { JobQueue } from '../queue/queue.js';
import { resolveSecrets } from '../secrets/resolve.js';
import type { Keyring } from '../secrets/keyring.js';
import type { Store } from '../store/store.js';
import type { ActionInstance, InvocationRecord, WorkflowRecord, WorkflowStore } from '../store/workflow-store.js';
import { openDataStore, type DataStore, type DataStoreOptions } from './data-store.js';
import { readWorkflow, type Workflow } from './document.js';
import { strftime } from './strftime.js';

/** What a request of an action instance carries: the runtime (pratai_runtime.workflow) reads it. */
export interface ActionPayload {
  pratai_workflow: {
    workflow: string;
    invocation_id: string;
    action: string;
    function: string;
    arguments: Record<string, unknown>;
    rank: number;
    max_rank: number;
    conditional: boolean;
  };
}

export const isActionPayload = (payload: unknown): payload is ActionPayload =>
  typeof payload === 'object' && payload !== null && 'pratai_workflow' in payload;

export interface EngineDeps {
  store: Store;
  workflows: WorkflowStore;
  queue: JobQueue;
  notifier: Notifier;
  keyring: Keyring;
  dataStores: DataStoreOptions;
  log: Logger;
}

/** How a request ended, as the engine needs it. */
export interface RequestEnd {
  request_id: string;
  status: RequestStatus;
  response: unknown;
  logs: readonly LogRecord[];
}

/** The log folder of an invocation: {FaaSrLog}/{WorkflowName}/{timestamp}/{InvocationID}. */
export const logFolder = (workflow: Workflow, invocation: Pick<InvocationRecord, 'timestamp' | 'faasr_invocation_id'>): string =>
  `${workflow.faasrLog}/${workflow.name}/${invocation.timestamp}/${invocation.faasr_invocation_id}`;

const instanceName = (instance: Pick<ActionInstance, 'action' | 'rank' | 'max_rank'>): string => (instance.max_rank > 1 ? `${instance.action}.${instance.rank}` : instance.action);

/** `2026-12-03-13-01-45`: the timestamp part of a log folder, UTC. */
const folderTimestamp = (at: Date): string => at.toISOString().slice(0, 19).replace(/[T:]/g, '-');

export class WorkflowEngine {
  constructor(private readonly deps: EngineDeps) {}

  /** Opens one of a workflow's data stores in a project, with its keys from the document or the project's secrets. */
  async dataStore(workflow: Workflow, name: string, tenantId: string): Promise<DataStore> {
    const spec = workflow.dataStores.get(name);
    if (spec === undefined) throw new PrataiError('WorkflowInvalid', `The workflow has no data store \`${name}\` (it has ${[...workflow.dataStores.keys()].join(', ')})`);
    let credentials = spec.AccessKey !== undefined && spec.SecretKey !== undefined ? { accessKey: spec.AccessKey, secretKey: spec.SecretKey } : undefined;
    if (credentials === undefined && !spec.Anonymous && spec.Endpoint !== 'local') {
      const names = [`${name}_AccessKey`, `${name}_SecretKey`];
      const found = await this.deps.store.listSecrets({ tenantId }, names);
      if (found.length === 2) {
        const values = await resolveSecrets(this.deps.store, this.deps.keyring, tenantId, names);
        credentials = { accessKey: values[names[0] as string] as string, secretKey: values[names[1] as string] as string };
      }
    }
    return openDataStore(name, spec, tenantId, credentials, this.deps.dataStores);
  }

  /** Starts an invocation of `record`; throws InvocationExists when its InvocationID was used (here or in the log folder). */
  async start(record: WorkflowRecord, requestedId: string | undefined): Promise<InvocationRecord> {
    const workflow = readWorkflow(record.document);
    const at = new Date();
    const doc = record.document;
    const fromDate = typeof doc.InvocationIDFromDate === 'string' && doc.InvocationIDFromDate !== '' ? strftime(doc.InvocationIDFromDate, at) : undefined;
    const faasrId = requestedId ?? (typeof doc.InvocationID === 'string' && doc.InvocationID !== '' ? doc.InvocationID : undefined) ?? fromDate ?? randomUUID();
    const invocation: InvocationRecord = {
      invocation_id: newId(),
      workflow_id: record.workflow_id,
      tenant_id: record.tenant_id,
      user_id: record.user_id,
      faasr_invocation_id: faasrId,
      timestamp: folderTimestamp(at),
      status: 'running',
      document: record.document,
      function_id: record.function_id,
      created_at: at.toISOString(),
      finished_at: null,
    };
    // FaaSr refuses a run whose log folder exists: an InvocationID is used once, whatever the timestamp.
    const logs = await this.dataStore(workflow, workflow.loggingDataStore, record.tenant_id);
    try {
      const used = await logs.list(`${workflow.faasrLog}/${workflow.name}/`);
      if (used.some((key) => key.split('/')[3] === faasrId)) {
        throw new PrataiError('InvocationExists', `The logging data store \`${workflow.loggingDataStore}\` has a log folder of InvocationID \`${faasrId}\` already; give another InvocationID`);
      }
    } catch (error) {
      if (error instanceof PrataiError) throw error;
      throw new PrataiError('ServiceUnavailable', `The logging data store \`${workflow.loggingDataStore}\` cannot be read: ${(error as Error).message}`, { cause: error });
    } finally {
      logs.close();
    }
    const first = workflow.actions.get(workflow.first);
    const maxRank = first?.maxRank ?? 1;
    const requests: RequestRecord[] = [];
    const instances: ActionInstance[] = [];
    for (let rank = 1; rank <= maxRank; rank += 1) {
      const request = this.makeRequest(workflow, invocation, workflow.first, rank, maxRank);
      requests.push(request);
      instances.push({ invocation_id: invocation.invocation_id, action: workflow.first, rank, max_rank: maxRank, status: 'pending', request_id: request.request_id, branch: null, created_at: invocation.created_at, finished_at: null });
    }
    await this.deps.workflows.createInvocation(invocation, instances, requests);
    await this.submit(requests);
    this.deps.log.info(`workflow ${record.workflow_id} (${record.name}) invocation ${invocation.invocation_id} (${faasrId}) started`);
    return invocation;
  }

  private makeRequest(workflow: Workflow, invocation: InvocationRecord, actionName: string, rank: number, maxRank: number): RequestRecord {
    const action = workflow.actions.get(actionName);
    const payload: ActionPayload = {
      pratai_workflow: {
        workflow: workflow.name,
        invocation_id: invocation.faasr_invocation_id,
        action: actionName,
        function: action?.functionName ?? '',
        arguments: action?.arguments ?? {},
        rank,
        max_rank: maxRank,
        conditional: action?.conditional ?? false,
      },
    };
    // An action runs its workflow's code as it is: workflows have no versions.
    return newRequest(invocation, payload, { source: 'workflow' });
  }

  /**
   * Queues stored requests as a webhook does (a run job each, then a notification). A job that
   * cannot be published leaves its request queued: the sweeper publishes it again.
   */
  async submit(requests: readonly RequestRecord[]): Promise<void> {
    await Promise.all(
      requests.map(async (request) => {
        try {
          await this.deps.queue.publish({ kind: 'run', request_id: request.request_id, job_id: newId(), function_id: request.function_id });
          this.deps.notifier.publish({ kind: 'request', request: requestChange(request) });
        } catch (error) {
          this.deps.log.error(`workflow request ${request.request_id} could not be queued (the sweeper will): ${(error as Error).message}`);
        }
      }),
    );
  }

  /**
   * Writes FaaSr's log and `.done` of an action instance's end, then records the end and starts
   * what follows: as in FaaSr, an action's `.done` exists before its successors start, and all of
   * them once the invocation is over.
   */
  async recordEnd(end: RequestEnd): Promise<void> {
    const status = end.status === 'succeeded' ? 'succeeded' : end.status === 'cancelled' ? 'cancelled' : 'failed';
    await this.writeFaasrLogs(end, status === 'succeeded').catch((error: Error) => this.deps.log.warning(`FaaSr log of request ${end.request_id} not written: ${error.message}`));
    const result = typeof end.response === 'object' && end.response !== null ? (end.response as { result?: unknown }).result : undefined;
    const advance = await this.deps.workflows.finishInstance(end.request_id, { status, branch: typeof result === 'boolean' ? result : null, at: now() }, (invocation, action, rank, maxRank) =>
      this.makeRequest(readWorkflow(invocation.document), invocation, action, rank, maxRank),
    );
    if (advance === undefined || !advance.recorded) return;
    await this.submit(advance.started);
    if (advance.invocation.status !== 'running') this.deps.log.info(`workflow invocation ${advance.invocation.invocation_id} ended ${advance.invocation.status}`);
  }

  private async writeFaasrLogs(end: RequestEnd, done: boolean): Promise<void> {
    const found = await this.deps.workflows.instanceOfRequest(end.request_id);
    // Not an action's request, or its end recorded already (a second recording writes nothing).
    if (found === undefined || found.instance.status !== 'pending') return;
    const workflow = readWorkflow(found.invocation.document);
    const store = await this.dataStore(workflow, workflow.loggingDataStore, found.invocation.tenant_id);
    try {
      const folder = logFolder(workflow, found.invocation);
      const text = end.logs.map((record) => `${record.time} ${record.level} [${record.source}] ${record.message}\n`).join('');
      await store.put(`${folder}/${instanceName(found.instance)}.txt`, Buffer.from(text));
      if (done) await store.put(`${folder}/function_completions/${instanceName(found.instance)}.done`, Buffer.from('True'));
    } finally {
      store.close();
    }
  }

  /** Cancels a running invocation: nothing more starts, its pending requests end cancelled. */
  async cancel(invocation: InvocationRecord): Promise<boolean> {
    const pending = await this.deps.workflows.cancelInvocation(invocation.invocation_id, now());
    if (pending === undefined) return false;
    for (const requestId of pending) {
      if (await this.deps.store.cancelRequest(requestId, 'The workflow invocation was cancelled', now())) {
        const request = await this.deps.store.getRequest(requestId, 'all-tenants');
        if (request !== undefined) this.deps.notifier.publish({ kind: 'request', request: requestChange(request) });
      }
    }
    return true;
  }

  /** Records the ends nobody recorded (a process died between storing an outcome and recording it); returns how many. */
  async recordLostEnds(limit: number): Promise<number> {
    const lost = await this.deps.workflows.unrecordedEnds(limit);
    for (const end of lost) {
      const request = await this.deps.store.getRequest(end.request_id, 'all-tenants');
      await this.recordEnd({ ...end, logs: request?.logs ?? [] });
    }
    return lost.length;
  }
}
