/**
 * /v1/workflows: FaaSr workflows (common/workflows/). Create takes a multipart upload of the
 * document (`workflow`, a file or a field) and the code (`code`, a zip of .py files); everything
 * is checked before anything is stored: the document by FaaSr's rules and ours, every FunctionName
 * found in the code. The code and the packages become a hidden function (its image built like any
 * function's, its name `_workflow.<workflow_id>`), whose requests run the actions. Invocations:
 * POST …/invocations starts one (202), GET shows it with each action instance, POST …/cancel.
 * The policy rules are the functions' (function:create, :get, :list, :update, :delete, :invoke)
 * and request:cancel for a cancel.
 */
import express, { Router, type Request, type Response } from 'express';
import multer, { MulterError } from 'multer';
import type { FunctionRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { newId, now } from '../common/ids.js';
import type { ActionInstanceView, InvocationRecord, WorkflowRecord, WorkflowStore } from '../common/store/workflow-store.js';
import { filesOfModule, functionCodeOf, isModulePath, WORKFLOW_FUNCTION_PREFIX, type WorkflowCode } from '../common/workflows/code.js';
import { WorkflowEngine } from '../common/workflows/engine.js';
import { readWorkflow, type Workflow } from '../common/workflows/document.js';
import { dataStoreOptions } from '../common/workflows/data-store.js';
import { readArchiveFiles } from './archive.js';
import { identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { codeSha256 } from './functions.js';
import { methodNotAllowed, runMiddleware } from './http.js';
import { integer, decimal, boolean, onlyKnown, text } from './params.js';
import { authorize, authorizeOn, listScope, visibleScope } from './policy.js';

const SETTINGS = ['memory', 'cpus', 'timeout', 'retries', 'retry_on_error'] as const;
const FIELDS = ['workflow', ...SETTINGS] as const;
/** Most bytes of a workflow document. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;

type Settings = Partial<Pick<FunctionRecord, (typeof SETTINGS)[number]>>;

function readSettings(fields: Record<string, unknown>): Settings {
  return {
    ...(fields.memory !== undefined && { memory: integer('memory', fields.memory, 64, 4096, 'MiB') }),
    ...(fields.cpus !== undefined && { cpus: decimal('cpus', fields.cpus, 0.1, 16) }),
    ...(fields.timeout !== undefined && { timeout: integer('timeout', fields.timeout, 1, 900, 'seconds') }),
    ...(fields.retries !== undefined && { retries: integer('retries', fields.retries, 0, 10) }),
    ...(fields.retry_on_error !== undefined && { retry_on_error: boolean('retry_on_error', fields.retry_on_error) }),
  };
}

function parseDocument(raw: unknown): Record<string, unknown> {
  const body = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : undefined;
  if (body === undefined) throw new PrataiError('WorkflowInvalid', 'Expected the workflow document (FaaSr JSON) in the multipart field or file `workflow`');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new PrataiError('WorkflowInvalid', `The workflow document is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new PrataiError('WorkflowInvalid', 'Expected the workflow document to be a JSON object');
  return parsed as Record<string, unknown>;
}

export const workflowView = (workflow: WorkflowRecord, fn?: FunctionRecord): Record<string, unknown> => ({
  workflow_id: workflow.workflow_id,
  name: workflow.name,
  tenant_id: workflow.tenant_id,
  user_id: workflow.user_id,
  actions: Object.keys((workflow.document.ActionList ?? {})),
  first_action: workflow.document.FunctionInvoke,
  document: workflow.document,
  function_id: workflow.function_id,
  ...(fn && { status: fn.status, build_log: fn.build_log, memory: fn.memory, cpus: fn.cpus, timeout: fn.timeout, retries: fn.retries, retry_on_error: fn.retry_on_error }),
  created_at: workflow.created_at,
  updated_at: workflow.updated_at,
});

const invocationView = (invocation: InvocationRecord, actions?: ActionInstanceView[]): Record<string, unknown> => ({
  invocation_id: invocation.invocation_id,
  workflow_id: invocation.workflow_id,
  InvocationID: invocation.faasr_invocation_id,
  status: invocation.status,
  log_folder: `${(invocation.document.FaaSrLog as string | undefined) || 'FaaSrLog'}/${invocation.document.WorkflowName as string}/${invocation.timestamp}/${invocation.faasr_invocation_id}`,
  created_at: invocation.created_at,
  finished_at: invocation.finished_at,
  ...(actions && {
    actions: actions.map((a) => ({
      action: a.action,
      rank: a.rank,
      max_rank: a.max_rank,
      status: a.status === 'pending' ? (a.request_status ?? 'queued') : a.status,
      result: a.branch,
      request_id: a.request_id,
      attempts: a.attempts,
      created_at: a.created_at,
      started_at: a.started_at,
      finished_at: a.request_finished_at ?? a.finished_at,
    })),
  }),
});

export function workflowsRouter(deps: ApiDeps): Router {
  const { store, queue, settings, log } = deps;
  const router = Router();
  const workflowsOf = (): WorkflowStore => {
    const workflows = store.workflows?.();
    if (workflows === undefined) throw new PrataiError('WorkflowsUnavailable', 'Workflows need a SQL database ([database] connection of SQLite, MariaDB or PostgreSQL); this one is MongoDB');
    return workflows;
  };
  const engineOf = (): WorkflowEngine =>
    new WorkflowEngine({ store, workflows: workflowsOf(), queue, notifier: deps.notifier, keyring: deps.keyring, dataStores: dataStoreOptions(settings), log: log.child('workflows') });
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: Math.max(settings.api.max_zip_bytes, MAX_DOCUMENT_BYTES), files: 2, fields: FIELDS.length, fieldSize: MAX_DOCUMENT_BYTES, parts: FIELDS.length + 2 },
  }).fields([
    { name: 'workflow', maxCount: 1 },
    { name: 'code', maxCount: 1 },
  ]);
  const json = express.json({ limit: 64 * 1024 });

  const readBody = async (req: Request, res: Response): Promise<{ fields: Record<string, unknown>; document?: Record<string, unknown>; code?: WorkflowCode }> => {
    if (!req.is('multipart/form-data')) throw new PrataiError('WorkflowInvalid', 'Expected a multipart/form-data upload: the document in `workflow`, the code (a zip of .py files) in `code`');
    await runMiddleware(upload, req, res).catch((error: unknown) => {
      if (error instanceof MulterError) throw new PrataiError('InvalidParameter', `The multipart upload was refused: ${error.message}${error.field ? ` (field \`${error.field}\`)` : ''}`);
      throw error;
    });
    const fields = (req.body ?? {}) as Record<string, unknown>;
    const files = (req.files ?? {}) as Record<string, Express.Multer.File[] | undefined>;
    const rawDocument = files.workflow?.[0]?.buffer ?? fields.workflow;
    const zip = files.code?.[0]?.buffer;
    let code: WorkflowCode | undefined;
    if (zip !== undefined) {
      code = { files: readArchiveFiles(zip, { maxEntries: settings.api.max_zip_entries, maxUncompressedBytes: settings.api.max_unpacked_bytes }, isModulePath) };
      if (code.files.size === 0) throw new PrataiError('WorkflowInvalid', 'Expected the code zip to hold .py files (module paths such as `actions.py` or `pkg/mod.py`), found none');
    }
    return { fields, ...(rawDocument !== undefined && { document: parseDocument(rawDocument) }), ...(code && { code }) };
  };

  /** The document checked against the code: FaaSr's rules, plus every FunctionName defined in the code. */
  const check = (document: Record<string, unknown>, code: WorkflowCode): { workflow: Workflow; fnCode: ReturnType<typeof functionCodeOf> } => {
    const workflow = readWorkflow(document);
    return { workflow, fnCode: functionCodeOf(workflow, code) };
  };

  const getScoped = async (res: Response, workflowId: string, action: string): Promise<WorkflowRecord> => {
    const workflow = await workflowsOf().getWorkflow(workflowId, visibleScope(deps.policy, res));
    if (workflow === undefined) throw new PrataiError('WorkflowNotFound', `No workflow with id \`${workflowId}\` in this project`);
    authorizeOn(deps.policy, res, action, workflow);
    return workflow;
  };

  const getInvocation = async (workflow: WorkflowRecord, invocationId: string): Promise<InvocationRecord> => {
    const invocation = await workflowsOf().getInvocation(invocationId, { tenantId: workflow.tenant_id });
    if (invocation === undefined || invocation.workflow_id !== workflow.workflow_id) {
      throw new PrataiError('InvocationNotFound', `No invocation with id \`${invocationId}\` of workflow \`${workflow.workflow_id}\``);
    }
    return invocation;
  };

  router
    .route('/')
    .get(async (req, res) => {
      const workflows = await workflowsOf().listWorkflows(listScope(deps.policy, res, 'function:list', req.query.all_tenants));
      res.json({ workflows: workflows.map((w) => workflowView(w)) });
    })
    .post(async (req, res) => {
      authorize(deps.policy, res, 'function:create');
      const workflows = workflowsOf();
      const { fields, document, code } = await readBody(req, res);
      onlyKnown('field', fields, FIELDS);
      if (document === undefined) throw new PrataiError('WorkflowInvalid', 'Expected the workflow document (FaaSr JSON) in the multipart field or file `workflow`, got nothing');
      if (code === undefined) throw new PrataiError('WorkflowInvalid', 'Expected the code, a zip of .py files, in the multipart file field `code`, got nothing');
      const given = readSettings(fields);
      const { workflow, fnCode } = check(document, code);
      const runtime = await store.getRuntime('python3');
      if (runtime === undefined) throw new PrataiError('RuntimeNotFound', 'Workflows run on the runtime `python3`, which this deployment does not have');
      const identity = identityOf(res);
      const at = now();
      const workflowId = newId();
      const fn: FunctionRecord = {
        function_id: newId(),
        user_id: identity.userId,
        tenant_id: identity.tenantId,
        name: `${WORKFLOW_FUNCTION_PREFIX}${workflowId}`,
        description: `The code of workflow ${workflow.name}`,
        type: 'async',
        event: 'webhook',
        public: false,
        runtime: runtime.name,
        memory: given.memory ?? 256,
        cpus: given.cpus ?? 1,
        timeout: given.timeout ?? 300,
        retries: given.retries ?? 0,
        retry_on_error: given.retry_on_error ?? false,
        max_concurrency: 0,
        network: false,
        context: {},
        secrets: [],
        subscriptions: [],
        status: 'building',
        build_log: '',
        code_sha256: codeSha256(runtime.name, fnCode),
        created_at: at,
        updated_at: at,
      };
      const record: WorkflowRecord = { workflow_id: workflowId, tenant_id: identity.tenantId, user_id: identity.userId, name: workflow.name, document, function_id: fn.function_id, created_at: at, updated_at: at };
      await workflows.createWorkflow(record);
      try {
        await store.createFunction(fn, fnCode);
        await queue.publish({ kind: 'build', function_id: fn.function_id, code_sha256: fn.code_sha256 });
      } catch (error) {
        await store.deleteFunction(fn.function_id);
        await workflows.deleteWorkflow(workflowId);
        throw error;
      }
      log.info(`workflow ${workflowId} (${workflow.name}) created: ${workflow.actions.size} action(s), ${code.files.size} file(s)`, res.locals.requestId as string);
      res.status(201).json({ workflow: workflowView(record, fn) });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:workflow_id')
    .get(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'function:get');
      res.json({ workflow: workflowView(workflow, await store.getFunction(workflow.function_id, 'all-tenants')) });
    })
    .patch(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'function:update');
      const { fields, document, code } = await readBody(req, res);
      onlyKnown('field', fields, FIELDS);
      const given = readSettings(fields);
      const fn = await store.getFunction(workflow.function_id, 'all-tenants');
      const oldCode = await store.getFunctionCode(workflow.function_id);
      if (fn === undefined || oldCode === undefined) throw new PrataiError('WorkflowNotFound', `The code of workflow \`${workflow.workflow_id}\` is gone`);
      const newDocument = document ?? workflow.document;
      const { workflow: checked, fnCode } = check(newDocument, code ?? filesOfModule(oldCode.module));
      const sha = codeSha256(fn.runtime, fnCode);
      const rebuild = sha !== fn.code_sha256;
      const at = now();
      await workflowsOf().updateWorkflow(workflow.workflow_id, { name: checked.name, document: newDocument, updated_at: at });
      const changes = { ...given, ...(rebuild && { code_sha256: sha, status: 'building' as const, build_log: '' }), updated_at: at };
      await store.updateFunction(fn.function_id, changes, rebuild ? fnCode : undefined);
      if (rebuild) await queue.publish({ kind: 'build', function_id: fn.function_id, code_sha256: sha });
      const updated = { ...workflow, name: checked.name, document: newDocument, updated_at: at };
      res.json({ workflow: workflowView(updated, { ...fn, ...changes }) });
    })
    .delete(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'function:delete');
      const workflows = workflowsOf();
      const engine = engineOf();
      for (const invocation of await workflows.listInvocations(workflow.workflow_id, 1000)) {
        if (invocation.status === 'running') await engine.cancel(invocation);
      }
      await workflows.deleteWorkflow(workflow.workflow_id);
      await store.deleteFunction(workflow.function_id);
      await store.cancelQueuedRequests(workflow.function_id, 'The workflow was deleted', now());
      await queue.publish({ kind: 'forget', function_id: workflow.function_id }).catch((error: Error) => log.warning(`could not queue image removal for ${workflow.function_id}: ${error.message}`));
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'PATCH', 'DELETE']));

  router
    .route('/:workflow_id/invocations')
    .get(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'function:get');
      const limit = req.query.limit === undefined ? 100 : integer('limit', req.query.limit, 1, 1000);
      res.json({ invocations: (await workflowsOf().listInvocations(workflow.workflow_id, limit)).map((i) => invocationView(i)) });
    })
    .post(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'function:invoke');
      let requested: string | undefined;
      if (req.is('application/json')) {
        await runMiddleware(json, req, res);
        const body = (req.body ?? {}) as Record<string, unknown>;
        onlyKnown('field', body, ['InvocationID']);
        if (body.InvocationID !== undefined) requested = text('InvocationID', body.InvocationID, { pattern: /^[A-Za-z0-9][A-Za-z0-9._:-]*$/, hint: 'letters, digits, `.`, `_`, `:` and `-`', max: 255 });
      }
      const fn = await store.getFunction(workflow.function_id, 'all-tenants');
      if (fn?.status === 'error') throw new PrataiError('FunctionNotReady', `The image of workflow \`${workflow.workflow_id}\` failed to build; see its build_log, then update it`);
      const invocation = await engineOf().start(workflow, requested);
      res.status(202).json({ invocation: invocationView(invocation, await workflowsOf().listInstances(invocation.invocation_id)) });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:workflow_id/invocations/:invocation_id')
    .get(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'function:get');
      const invocation = await getInvocation(workflow, req.params.invocation_id);
      res.json({ invocation: invocationView(invocation, await workflowsOf().listInstances(invocation.invocation_id)) });
    })
    .all(methodNotAllowed(['GET']));

  router
    .route('/:workflow_id/invocations/:invocation_id/cancel')
    .post(async (req, res) => {
      const workflow = await getScoped(res, req.params.workflow_id, 'request:cancel');
      const invocation = await getInvocation(workflow, req.params.invocation_id);
      if (!(await engineOf().cancel(invocation))) throw new PrataiError('InvocationFinished', `Invocation \`${invocation.invocation_id}\` ended ${invocation.status} already`);
      const now = await getInvocation(workflow, invocation.invocation_id);
      res.status(202).json({ invocation: invocationView(now, await workflowsOf().listInstances(invocation.invocation_id)) });
    })
    .all(methodNotAllowed(['POST']));

  return router;
}
