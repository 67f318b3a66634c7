/**
 * WorkflowStore over SqlStore's connection (same Kysely, same dialects). The invocation's row is
 * locked (SELECT … FOR UPDATE; SQLite's transaction holds the write lock) while an instance's end
 * is recorded and what follows is decided: two runners recording the last two predecessors of a
 * join do so one after the other, and only the second sees the join ready.
 */
import { type Kysely, type Transaction } from 'kysely';
import { FINAL_STATUSES, type RequestRecord, type RequestStatus } from '../domain.js';
import { PrataiError } from '../errors.js';
import { plan, type InstanceStatus, type InvocationStatus } from '../workflows/dag.js';
import { readWorkflow } from '../workflows/document.js';
import { requestRow, type RequestRow } from './rows.js';
import { isUniqueViolation } from './sql-errors.js';
import type { ActionInstance, ActionInstanceView, Advance, InstanceEnd, InvocationRecord, RequestMaker, Scope, WorkflowRecord, WorkflowStore } from './workflow-store.js';

interface WorkflowRow {
  workflow_id: string;
  tenant_id: string;
  user_id: string;
  name: string;
  document: string;
  function_id: string;
  created_at: string;
  updated_at: string;
}

interface InvocationRow {
  invocation_id: string;
  workflow_id: string;
  tenant_id: string;
  user_id: string;
  faasr_invocation_id: string;
  timestamp: string;
  status: string;
  document: string;
  function_id: string;
  created_at: string;
  finished_at: string | null;
}

interface ActionRow {
  invocation_id: string;
  action: string;
  rank: number;
  max_rank: number;
  status: string;
  request_id: string | null;
  branch: number | null;
  created_at: string;
  finished_at: string | null;
}

export interface WorkflowTables {
  workflows: WorkflowRow;
  workflow_invocations: InvocationRow;
  workflow_actions: ActionRow;
  requests: RequestRow;
}

const toWorkflow = (row: WorkflowRow): WorkflowRecord => ({ ...row, document: JSON.parse(row.document) as Record<string, unknown> });
const toInvocation = (row: InvocationRow): InvocationRecord => ({ ...row, status: row.status as InvocationStatus, document: JSON.parse(row.document) as Record<string, unknown> });
const toInstance = (row: ActionRow): ActionInstance => ({ ...row, status: row.status as InstanceStatus, branch: row.branch === null ? null : row.branch === 1 });
const actionRow = (instance: ActionInstance): ActionRow => ({ ...instance, branch: instance.branch === null ? null : instance.branch ? 1 : 0 });

export class SqlWorkflowStore implements WorkflowStore {
  constructor(
    private readonly db: Kysely<WorkflowTables>,
    private readonly sqlite: boolean,
  ) {}

  async createWorkflow(workflow: WorkflowRecord): Promise<void> {
    try {
      await this.db.insertInto('workflows').values({ ...workflow, document: JSON.stringify(workflow.document) }).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('WorkflowNameTaken', `A workflow named \`${workflow.name}\` already exists in this project`);
      throw error;
    }
  }

  async getWorkflow(workflowId: string, scope: Scope): Promise<WorkflowRecord | undefined> {
    let query = this.db.selectFrom('workflows').selectAll().where('workflow_id', '=', workflowId);
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    const row = await query.executeTakeFirst();
    return row && toWorkflow(row);
  }

  async listWorkflows(scope: Scope): Promise<WorkflowRecord[]> {
    let query = this.db.selectFrom('workflows').selectAll().orderBy('created_at', 'desc').orderBy('workflow_id', 'desc');
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    return (await query.execute()).map(toWorkflow);
  }

  async updateWorkflow(workflowId: string, changes: Pick<WorkflowRecord, 'name' | 'document' | 'updated_at'>): Promise<boolean> {
    try {
      const result = await this.db
        .updateTable('workflows')
        .set({ name: changes.name, document: JSON.stringify(changes.document), updated_at: changes.updated_at })
        .where('workflow_id', '=', workflowId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    } catch (error) {
      if (isUniqueViolation(error)) throw new PrataiError('WorkflowNameTaken', `A workflow named \`${changes.name}\` already exists in this project`);
      throw error;
    }
  }

  async deleteWorkflow(workflowId: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const invocations = trx.selectFrom('workflow_invocations').select('invocation_id').where('workflow_id', '=', workflowId);
      await trx.deleteFrom('workflow_actions').where('invocation_id', 'in', invocations).execute();
      await trx.deleteFrom('workflow_invocations').where('workflow_id', '=', workflowId).execute();
      const result = await trx.deleteFrom('workflows').where('workflow_id', '=', workflowId).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async createInvocation(invocation: InvocationRecord, first: ActionInstance[], requests: RequestRecord[]): Promise<void> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('workflow_invocations').values({ ...invocation, document: JSON.stringify(invocation.document) }).execute();
        await trx.insertInto('workflow_actions').values(first.map(actionRow)).execute();
        await trx.insertInto('requests').values(requests.map(requestRow)).execute();
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new PrataiError('InvocationExists', `The workflow has an invocation with InvocationID \`${invocation.faasr_invocation_id}\` already; give another InvocationID`);
      }
      throw error;
    }
  }

  async getInvocation(invocationId: string, scope: Scope): Promise<InvocationRecord | undefined> {
    let query = this.db.selectFrom('workflow_invocations').selectAll().where('invocation_id', '=', invocationId);
    if (scope !== 'all-tenants') query = query.where('tenant_id', '=', scope.tenantId);
    const row = await query.executeTakeFirst();
    return row && toInvocation(row);
  }

  async listInvocations(workflowId: string, limit: number): Promise<InvocationRecord[]> {
    const rows = await this.db.selectFrom('workflow_invocations').selectAll().where('workflow_id', '=', workflowId).orderBy('created_at', 'desc').orderBy('invocation_id', 'desc').limit(limit).execute();
    return rows.map(toInvocation);
  }

  async listInstances(invocationId: string): Promise<ActionInstanceView[]> {
    const rows = await this.db
      .selectFrom('workflow_actions as a')
      .leftJoin('requests as r', 'r.request_id', 'a.request_id')
      .selectAll('a')
      .select(['r.status as request_status', 'r.started_at as started_at', 'r.finished_at as request_finished_at', 'r.attempts as attempts'])
      .where('a.invocation_id', '=', invocationId)
      .orderBy('a.created_at')
      .orderBy('a.action')
      .orderBy('a.rank')
      .execute();
    return rows.map((row) => ({
      ...toInstance(row),
      request_status: (row.request_status ?? null) as RequestStatus | null,
      started_at: row.started_at ?? null,
      request_finished_at: row.request_finished_at ?? null,
      attempts: row.attempts ?? 0,
    }));
  }

  async instanceOfRequest(requestId: string): Promise<{ invocation: InvocationRecord; instance: ActionInstance } | undefined> {
    const instance = await this.db.selectFrom('workflow_actions').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    if (instance === undefined) return undefined;
    const invocation = await this.db.selectFrom('workflow_invocations').selectAll().where('invocation_id', '=', instance.invocation_id).executeTakeFirst();
    return invocation && { invocation: toInvocation(invocation), instance: toInstance(instance) };
  }

  private lockInvocation(trx: Transaction<WorkflowTables>, invocationId: string): Promise<InvocationRow | undefined> {
    const query = trx.selectFrom('workflow_invocations').selectAll().where('invocation_id', '=', invocationId);
    return (this.sqlite ? query : query.forUpdate()).executeTakeFirst();
  }

  async finishInstance(requestId: string, end: InstanceEnd, makeRequest: RequestMaker): Promise<Advance | undefined> {
    const found = await this.db.selectFrom('workflow_actions').select('invocation_id').where('request_id', '=', requestId).executeTakeFirst();
    if (found === undefined) return undefined;
    return this.db.transaction().execute(async (trx) => {
      const row = await this.lockInvocation(trx, found.invocation_id);
      if (row === undefined) return undefined;
      const invocation = toInvocation(row);
      const updated = await trx
        .updateTable('workflow_actions')
        .set({ status: end.status, branch: end.branch === null ? null : end.branch ? 1 : 0, finished_at: end.at })
        .where('request_id', '=', requestId)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return { invocation, started: [], recorded: false };
      const instances = (await trx.selectFrom('workflow_actions').selectAll().where('invocation_id', '=', invocation.invocation_id).execute()).map(toInstance);
      const next = plan(readWorkflow(invocation.document), instances, invocation.status);
      const newRows: ActionInstance[] = [];
      const started: RequestRecord[] = [];
      const instance = (action: string, rank: number, maxRank: number, status: InstanceStatus, request: RequestRecord | null): ActionInstance => ({
        invocation_id: invocation.invocation_id,
        action,
        rank,
        max_rank: maxRank,
        status,
        request_id: request?.request_id ?? null,
        branch: null,
        created_at: end.at,
        finished_at: status === 'skipped' ? end.at : null,
      });
      for (const { action, maxRank } of next.skip) newRows.push(instance(action, 1, maxRank, 'skipped', null));
      for (const { action, maxRank } of next.start) {
        for (let rank = 1; rank <= maxRank; rank += 1) {
          const request = makeRequest(invocation, action, rank, maxRank);
          started.push(request);
          newRows.push(instance(action, rank, maxRank, 'pending', request));
        }
      }
      if (started.length > 0) await trx.insertInto('requests').values(started.map(requestRow)).execute();
      if (newRows.length > 0) await trx.insertInto('workflow_actions').values(newRows.map(actionRow)).execute();
      if (next.status !== invocation.status) {
        await trx.updateTable('workflow_invocations').set({ status: next.status, finished_at: end.at }).where('invocation_id', '=', invocation.invocation_id).execute();
        invocation.status = next.status;
        invocation.finished_at = end.at;
      }
      return { invocation, started, recorded: true };
    });
  }

  async cancelInvocation(invocationId: string, at: string): Promise<string[] | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await this.lockInvocation(trx, invocationId);
      if (row === undefined || row.status !== 'running') return undefined;
      const pending = await trx.selectFrom('workflow_actions').select('request_id').where('invocation_id', '=', invocationId).where('status', '=', 'pending').execute();
      await trx.updateTable('workflow_actions').set({ status: 'cancelled', finished_at: at }).where('invocation_id', '=', invocationId).where('status', '=', 'pending').execute();
      await trx.updateTable('workflow_invocations').set({ status: 'cancelled', finished_at: at }).where('invocation_id', '=', invocationId).execute();
      return pending.flatMap((p) => (p.request_id === null ? [] : [p.request_id]));
    });
  }

  async unrecordedEnds(limit: number): Promise<{ request_id: string; status: RequestStatus; response: unknown }[]> {
    const rows = await this.db
      .selectFrom('workflow_actions as a')
      .innerJoin('requests as r', 'r.request_id', 'a.request_id')
      .select(['r.request_id as request_id', 'r.status as status', 'r.response as response'])
      .where('a.status', '=', 'pending')
      .where('r.status', 'in', [...FINAL_STATUSES])
      .limit(limit)
      .execute();
    return rows.map((row) => ({ request_id: row.request_id, status: row.status as RequestStatus, response: row.response === null ? null : (JSON.parse(row.response) as unknown) }));
  }
}

