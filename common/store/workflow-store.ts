/**
 * The store of workflows (common/workflows/): the workflows, their invocations and each
 * action instance. A separate port from Store so that what drives workflows stays in one place;
 * SqlStore gives one over its own connection (`Store.workflows`). Joins are decided here, in the
 * transaction that records an instance's end, with the invocation's row locked: whichever process
 * records the last predecessor starts the join, and only once.
 */
import type { RequestRecord, RequestStatus } from '../domain.js';
import type { InstanceStatus, InvocationStatus } from '../workflows/dag.js';

/** Which tenant's rows a call may see (the Store's Scope, restated: store.ts refers to this port). */
export type Scope = { tenantId: string } | 'all-tenants';

export interface WorkflowRecord {
  workflow_id: string;
  tenant_id: string;
  user_id: string;
  /** WorkflowName of its document: unique in its project. */
  name: string;
  /** The FaaSr document as given. */
  document: Record<string, unknown>;
  /** The hidden function whose image holds the workflow's code and packages. */
  function_id: string;
  created_at: string;
  updated_at: string;
}

export interface InvocationRecord {
  invocation_id: string;
  workflow_id: string;
  tenant_id: string;
  user_id: string;
  /** FaaSr's InvocationID: unique per workflow, names its log folder. */
  faasr_invocation_id: string;
  /** The log folder's timestamp part ({FaaSrLog}/{WorkflowName}/{timestamp}/{InvocationID}). */
  timestamp: string;
  status: InvocationStatus;
  /** The document as it was when the invocation started: a later PATCH does not change a run. */
  document: Record<string, unknown>;
  function_id: string;
  created_at: string;
  finished_at: string | null;
}

export interface ActionInstance {
  invocation_id: string;
  action: string;
  rank: number;
  max_rank: number;
  status: InstanceStatus;
  /** The request running it; null when skipped. */
  request_id: string | null;
  /** Its True/False result, for a branch. */
  branch: boolean | null;
  created_at: string;
  finished_at: string | null;
}

/** An instance with its request's live status and times, as shown. */
export interface ActionInstanceView extends ActionInstance {
  request_status: RequestStatus | null;
  started_at: string | null;
  request_finished_at: string | null;
  attempts: number;
}

/** How an instance's request ended, as the engine records it. */
export interface InstanceEnd {
  status: 'succeeded' | 'failed' | 'cancelled';
  branch: boolean | null;
  at: string;
}

/** Makes the request of one new instance (the store inserts it with the instance). */
export type RequestMaker = (invocation: InvocationRecord, action: string, rank: number, maxRank: number) => RequestRecord;

export interface Advance {
  invocation: InvocationRecord;
  /** The requests it created (queued): their run jobs are to be published. */
  started: RequestRecord[];
  /** This call recorded the end (false: it was recorded before, nothing changed). */
  recorded: boolean;
}

export interface WorkflowStore {
  /** Throws WorkflowNameTaken when the project has a workflow of that name. */
  createWorkflow(workflow: WorkflowRecord): Promise<void>;
  getWorkflow(workflowId: string, scope: Scope): Promise<WorkflowRecord | undefined>;
  listWorkflows(scope: Scope): Promise<WorkflowRecord[]>;
  /** False when gone. Throws WorkflowNameTaken on a rename to a taken name. */
  updateWorkflow(workflowId: string, changes: Pick<WorkflowRecord, 'name' | 'document' | 'updated_at'>): Promise<boolean>;
  /** Removes a workflow with its invocations and their instances (their requests stay, like a deleted function's). */
  deleteWorkflow(workflowId: string): Promise<boolean>;

  /**
   * Stores a new invocation with its first action's instances and their requests, in one
   * transaction. Throws InvocationExists when the workflow has one of that InvocationID.
   */
  createInvocation(invocation: InvocationRecord, first: ActionInstance[], requests: RequestRecord[]): Promise<void>;
  getInvocation(invocationId: string, scope: Scope): Promise<InvocationRecord | undefined>;
  /** Newest first. */
  listInvocations(workflowId: string, limit: number): Promise<InvocationRecord[]>;
  listInstances(invocationId: string): Promise<ActionInstanceView[]>;
  /** The invocation and instance a request runs, if it runs one. */
  instanceOfRequest(requestId: string): Promise<{ invocation: InvocationRecord; instance: ActionInstance } | undefined>;
  /**
   * Records how an instance's request ended and does what follows (common/workflows/dag.ts):
   * starts the actions now ready (their instances and requests made by `makeRequest`), skips
   * those no branch leads to, ends the invocation when nothing runs. Once per instance.
   */
  finishInstance(requestId: string, end: InstanceEnd, makeRequest: RequestMaker): Promise<Advance | undefined>;
  /** Ends a running invocation as cancelled; returns the requests of its pending instances (to cancel). False-y when it was not running. */
  cancelInvocation(invocationId: string, at: string): Promise<string[] | undefined>;
  /** Requests of pending instances that are final already: their end was never recorded (a process died between). */
  unrecordedEnds(limit: number): Promise<{ request_id: string; status: RequestStatus; response: unknown }[]>;
}
