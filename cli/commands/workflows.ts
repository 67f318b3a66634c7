/**
 * The workflow commands: FaaSr workflows (a JSON document and a folder or zip of .py files),
 * their invocations, and a live view of one while it runs (`workflow-invoke --wait`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import AdmZip from 'adm-zip';
import type { Command } from 'commander';
import { isId } from '../../common/ids.js';
import type { PrataiApi } from '../api.js';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { poll } from '../wait.js';
import { drawDag, instanceListing, instanceName, invocationListing, workflowListing, workflowShown, type InvocationView, type WorkflowView } from '../workflow-view.js';

type Opts = Record<string, unknown>;

function readDocument(path: string, name?: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read --file ${path}: ${(error as Error).message}`, 1, { cause: error });
  }
  if (name === undefined) return text;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new CliError(`--file ${path} is not JSON: ${(error as Error).message}`, 1, { cause: error });
  }
  return JSON.stringify({ ...(document as object), WorkflowName: name });
}

/** A zip as it is, or a folder's .py files (any depth; no hidden folders nor __pycache__) zipped here. */
function readCode(path: string): Buffer {
  let folder: boolean;
  try {
    folder = statSync(path).isDirectory();
  } catch (error) {
    throw new CliError(`Cannot read --code ${path}: ${(error as Error).message}`, 1, { cause: error });
  }
  if (!folder) return readFileSync(path);
  const zip = new AdmZip();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === '__pycache__') continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && entry.name.endsWith('.py')) zip.addFile(relative(path, full).split(sep).join('/'), readFileSync(full));
    }
  };
  walk(path);
  return zip.toBuffer();
}

async function listWorkflows(api: PrataiApi): Promise<WorkflowView[]> {
  return (await api.http.json<{ workflows: WorkflowView[] }>('GET', '/v1/workflows')).workflows;
}

async function findWorkflow(api: PrataiApi, idOrName: string): Promise<WorkflowView> {
  if (isId(idOrName)) return (await api.http.json<{ workflow: WorkflowView }>('GET', `/v1/workflows/${idOrName}`)).workflow;
  const found = (await listWorkflows(api)).find((w) => w.name === idOrName);
  if (found === undefined) throw new CliError(`No workflow with a name or ID of \`${idOrName}\` exists`);
  return (await api.http.json<{ workflow: WorkflowView }>('GET', `/v1/workflows/${found.workflow_id}`)).workflow;
}

const getInvocation = async (api: PrataiApi, workflowId: string, invocationId: string): Promise<InvocationView> =>
  (await api.http.json<{ invocation: InvocationView }>('GET', `/v1/workflows/${workflowId}/invocations/${encodeURIComponent(invocationId)}`)).invocation;

function uploadForm(opts: Opts, name?: string): FormData {
  const form = new FormData();
  if (typeof opts.file === 'string') form.append('workflow', readDocument(opts.file, name));
  if (typeof opts.code === 'string') form.append('code', new Blob([readCode(opts.code)]), 'code.zip');
  for (const key of ['memory', 'cpus', 'timeout', 'retries'] as const) if (typeof opts[key] === 'string') form.append(key, opts[key]);
  return form;
}

const settingOptions = (command: Command): Command =>
  command
    .option('--memory <MiB>', 'memory of each action, 64 to 4096 (default 256)')
    .option('--cpus <n>', 'CPU cores of each action (default 1)')
    .option('--timeout <seconds>', 'how long one action may run, 1 to 900 (default 300)')
    .option('--retries <n>', 'attempts after a failed one, 0 to 10 (default 0)')
    .option('--wait', 'wait until its image is built');

async function waitBuilt(context: CliContext, api: PrataiApi, workflow: WorkflowView): Promise<WorkflowView> {
  const progress = context.progress(`Building workflow ${workflow.name}`);
  const built = await poll(() => findWorkflow(api, workflow.workflow_id), (w) => w.status !== 'building', (w) => progress.update(w.status ?? ''));
  progress.done(built.status ?? '');
  return built;
}

export function registerWorkflowCommands(program: Command, context: CliContext): void {
  withOutputOptions(
    settingOptions(
      program
        .command('workflow-create')
        .description('Create a FaaSr workflow: its JSON document and its code (a folder or zip of .py files defining every FunctionName)')
        .argument('<name>', 'its WorkflowName (replaces the one of the document)')
        .requiredOption('--file <path>', 'the workflow document (FaaSr JSON)')
        .requiredOption('--code <path>', 'a folder of .py files, or a zip of them'),
    ),
    'show',
  ).action(async (name: string, opts: Opts) => {
    const api = context.api();
    let workflow = (await api.http.json<{ workflow: WorkflowView }>('POST', '/v1/workflows', { body: uploadForm(opts, name) })).workflow;
    if (opts.wait === true) workflow = await waitBuilt(context, api, workflow);
    context.printOne(workflowShown(workflow), opts);
  });

  withOutputOptions(program.command('workflow-list').description("List the project's workflows"), 'list').action(async (opts: Opts) => {
    context.printList(workflowListing(await listWorkflows(context.api())), opts);
  });

  withOutputOptions(program.command('workflow-show').description('Show a workflow').argument('<workflow>', 'its name or ID'), 'show').action(async (idOrName: string, opts: Opts) => {
    context.printOne(workflowShown(await findWorkflow(context.api(), idOrName)), opts);
  });

  withOutputOptions(
    settingOptions(
      program
        .command('workflow-update')
        .description("Change a workflow's document, code or settings (running invocations keep the document they started with)")
        .argument('<workflow>', 'its name or ID')
        .option('--file <path>', 'a new workflow document')
        .option('--code <path>', 'new code: a folder or zip of .py files'),
    ),
    'show',
  ).action(async (idOrName: string, opts: Opts) => {
    const api = context.api();
    const current = await findWorkflow(api, idOrName);
    let workflow = (await api.http.json<{ workflow: WorkflowView }>('PATCH', `/v1/workflows/${current.workflow_id}`, { body: uploadForm(opts) })).workflow;
    if (opts.wait === true) workflow = await waitBuilt(context, api, workflow);
    context.printOne(workflowShown(workflow), opts);
  });

  program
    .command('workflow-delete')
    .description('Delete workflows (their running invocations are cancelled)')
    .argument('<workflow...>', 'names or IDs')
    .action(async (names: string[]) => {
      const api = context.api();
      for (const idOrName of names) {
        const workflow = await findWorkflow(api, idOrName);
        await api.http.json('DELETE', `/v1/workflows/${workflow.workflow_id}`);
      }
    });

  withOutputOptions(
    program
      .command('workflow-invoke')
      .description('Start an invocation of a workflow')
      .argument('<workflow>', 'its name or ID')
      .option('--invocation-id <id>', 'its InvocationID (default: the document\'s, else from InvocationIDFromDate, else a UUID)')
      .option('--wait', 'show its actions as they run, until it ends; exits 1 unless it succeeded'),
    'show',
  ).action(async (idOrName: string, opts: Opts) => {
    const api = context.api();
    const workflow = await findWorkflow(api, idOrName);
    const body = typeof opts.invocationId === 'string' ? { InvocationID: opts.invocationId } : {};
    let invocation = (await api.http.json<{ invocation: InvocationView }>('POST', `/v1/workflows/${workflow.workflow_id}/invocations`, { body })).invocation;
    if (opts.wait === true) {
      const seen = new Map<string, string>();
      invocation = await poll(
        () => getInvocation(api, workflow.workflow_id, invocation.invocation_id),
        (i) => i.status !== 'running',
        (i) => {
          for (const instance of i.actions ?? []) {
            const key = instanceName(instance);
            if (seen.get(key) !== instance.status) {
              seen.set(key, instance.status);
              context.warn(`${new Date().toISOString().slice(11, 19)}  ${key.padEnd(24)} ${instance.status}`);
            }
          }
        },
      );
      context.write(drawDag(workflow.document, workflow.first_action, invocation.actions ?? []));
    }
    context.printOne({ fields: ['invocation_id', 'InvocationID', 'status', 'log_folder', 'created_at', 'finished_at'], values: [invocation.invocation_id, invocation.InvocationID, invocation.status, invocation.log_folder, invocation.created_at, invocation.finished_at ?? ''] }, opts);
    if (opts.wait === true && invocation.status !== 'succeeded') throw new CliError(`Invocation ${invocation.invocation_id} ended ${invocation.status}`);
  });

  withOutputOptions(program.command('workflow-invocation-list').description("List a workflow's invocations, newest first").argument('<workflow>', 'its name or ID'), 'list').action(async (idOrName: string, opts: Opts) => {
    const api = context.api();
    const workflow = await findWorkflow(api, idOrName);
    const { invocations } = await api.http.json<{ invocations: InvocationView[] }>('GET', `/v1/workflows/${workflow.workflow_id}/invocations`);
    context.printList(invocationListing(invocations), opts);
  });

  withOutputOptions(
    program.command('workflow-invocation-show').description("Show an invocation: each action's status, and the DAG drawn in text").argument('<workflow>', 'its name or ID').argument('<invocation>', 'the invocation ID'),
    'list',
  ).action(async (idOrName: string, invocationId: string, opts: Opts) => {
    const api = context.api();
    const workflow = await findWorkflow(api, idOrName);
    const invocation = await getInvocation(api, workflow.workflow_id, invocationId);
    const machine = typeof opts.format === 'string' && opts.format !== 'table';
    if (!machine) context.write(`Invocation ${invocation.invocation_id} (${invocation.InvocationID}): ${invocation.status}\nLogs: ${invocation.log_folder}\n\n${drawDag(workflow.document, workflow.first_action, invocation.actions ?? [])}\n`);
    context.printList(instanceListing(invocation.actions ?? []), opts);
  });

  program
    .command('workflow-invocation-cancel')
    .description('Cancel a running invocation: nothing more starts, its running actions are stopped')
    .argument('<workflow>', 'its name or ID')
    .argument('<invocation>', 'the invocation ID')
    .action(async (idOrName: string, invocationId: string) => {
      const api = context.api();
      const workflow = await findWorkflow(api, idOrName);
      await api.http.json('POST', `/v1/workflows/${workflow.workflow_id}/invocations/${encodeURIComponent(invocationId)}/cancel`);
    });
}
