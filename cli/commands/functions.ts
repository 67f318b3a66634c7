/**
 * The function commands: create, list, show, update, delete. Settings go to the API as given;
 * the API checks them and its message is what a user reads when one is wrong.
 */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { eventSubscriptions, nodeSubscriptions, type FunctionSubscription, type NodeSubscription } from '../../common/domain.js';
import { PrataiError } from '../../common/errors.js';
import { parseContextFile } from '../../common/function-context.js';
import type { FunctionView } from '../api.js';
import { readFunctionZip } from '../archive.js';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { functionListing, functionShown } from '../views.js';
import { waitForBuild } from '../wait.js';

type Opts = Record<string, unknown>;

/** Settings shared by create and update, by their API field names. */
function addSettingOptions(command: Command): Command {
  return command
    .option('--description <text>', 'what the function does')
    .addOption(new Option('--type <type>', 'async: its webhook answers with a request id at once; wait_for_response: with the outcome').choices(['async', 'wait_for_response']))
    .option('--runtime <name>', 'the runtime to run on (see runtime-list; default python3)')
    .option('--memory <MiB>', 'memory limit, swap included, 64 to 4096 (default 128)')
    .option('--cpus <n>', 'CPU cores, 0.1 to 16 (default 1)')
    .option('--timeout <seconds>', 'how long a request may run, 1 to 900 (default 30)')
    .option('--retries <n>', 'attempts after a failed one, 0 to 10 (default 0); platform failures are always retried')
    .option('--retry-on-error', 'retry also when main raised or timed out (with --retries)')
    .option('--no-retry-on-error', "retry only platform failures (a new function's default)")
    .option('--max-concurrency <n>', 'most of its requests running at once, across runners; 0: no limit (the default)')
    .option('--public', 'anyone may call its webhook, without a token')
    .option('--network', "its containers join the operator's network ([runner] network; the operator must allow it)")
    .option('--no-network', "its containers get no network (a new function's default)")
    .option('--context-file <path>', 'its context: a file of KEY=value lines (blank lines and # comments allowed), replacing the context it had')
    .addOption(new Option('--context <KEY=VALUE>', 'a context setting (repeat for more; over those of --context-file)').argParser(collect).default(undefined))
    .addOption(new Option('--secret <name>', 'a secret of the project it is given (repeat for more; replaces the ones it had)').argParser(collect).default(undefined))
    .addOption(new Option('--subscribe-to <event>', 'an event of the project it subscribes to, EVENT:N or EVENT:ALIAS to run that version or alias (repeat for more; replaces the events it subscribed to): each message published to it makes a request').argParser(collect).default(undefined))
    .addOption(new Option('--subscribe-node <path>', 'a coordination node of the project it subscribes to (repeat for more; with --subscribe-children, replaces the nodes it subscribed to): its creation, each set and its deletion make a request').argParser(collect).default(undefined))
    .addOption(new Option('--subscribe-children <path>', 'as --subscribe-node, and the creation and deletion of each direct child of the node make a request too').argParser(collect).default(undefined))
    .option('--openstack-auth', 'give it an OpenStack identity: a Keystone trust from you to Pratai, whose token each request gets in context.openstack (Keystone only)')
    .option('--no-openstack-auth', "take its OpenStack identity away (a new function's default); its trust is deleted")
    .addOption(new Option('--openstack-role <role>', "a role its trust delegates (repeat for more; default member); you must have it in the function's project").argParser(collect).default(undefined))
    .option('--wait', 'wait until its image is built, showing progress on stderr');
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * The `context` field of `--context-file` and `--context KEY=VALUE`: a file alone goes as it is
 * (the API names a bad line of it); with settings over it, it is read here and sent as JSON.
 */
function contextField(opts: Opts): string | undefined {
  const file = typeof opts.contextFile === 'string' ? opts.contextFile : undefined;
  const pairs = Array.isArray(opts.context) ? (opts.context as string[]) : [];
  if (file === undefined && pairs.length === 0) return undefined;
  let text = '';
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliError(`Cannot read --context-file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, 1, { cause: error });
    }
    if (pairs.length === 0) return text;
  }
  let context: Record<string, string>;
  try {
    context = parseContextFile(text);
  } catch (error) {
    if (error instanceof PrataiError) throw usageError(`${error.message} (--context-file ${file})`);
    throw error;
  }
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw usageError(`Expected --context KEY=VALUE, got \`${pair.slice(0, 40)}\``);
    context[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return JSON.stringify(context);
}

/** The settings given on the command line, as form fields. */
function settingFields(opts: Opts): [string, string][] {
  if (opts.openstackAuth === false && opts.openstackRole !== undefined) throw usageError('Give --openstack-role with --openstack-auth (or to change the roles of an identity the function has), not with --no-openstack-auth');
  const fields = (['name', 'description', 'runtime', 'memory', 'cpus', 'timeout', 'retries', 'type', 'event'] as const)
    .filter((key) => typeof opts[key] === 'string')
    .map((key): [string, string] => [key, opts[key] as string]);
  if (typeof opts.maxConcurrency === 'string') fields.push(['max_concurrency', opts.maxConcurrency]);
  // --network and --no-network set one value (the last given wins); neither leaves it as it is.
  if (typeof opts.network === 'boolean') fields.push(['network', String(opts.network)]);
  if (typeof opts.retryOnError === 'boolean') fields.push(['retry_on_error', String(opts.retryOnError)]);
  const context = contextField(opts);
  if (context !== undefined) fields.push(['context', context]);
  if (Array.isArray(opts.secret)) fields.push(['secrets', (opts.secret as string[]).join(',')]);
  // --openstack-auth and --no-openstack-auth set one value (the last given wins), as --network does.
  if (typeof opts.openstackAuth === 'boolean') fields.push(['openstack_auth', String(opts.openstackAuth)]);
  if (Array.isArray(opts.openstackRole)) fields.push(['openstack_roles', (opts.openstackRole as string[]).join(',')]);
  if (typeof opts.frequency === 'string') fields.push(['frequency', opts.frequency]);
  return fields;
}

/** Whether the command line changes the events (`events`) or the nodes (`nodes`) a function subscribes to. */
function subscriptionsGiven(opts: Opts): { events: boolean; nodes: boolean } {
  return { events: Array.isArray(opts.subscribeTo), nodes: Array.isArray(opts.subscribeNode) || Array.isArray(opts.subscribeChildren) };
}

/**
 * The `subscriptions` field of `--subscribe-to`, `--subscribe-node` and `--subscribe-children`: the
 * events given (or, when none is, those of `current`, the function as it is) and the nodes given
 * (or those of `current`), as a JSON array; an empty value (`--subscribe-to ''`) gives none.
 */
function subscriptionsField(opts: Opts, current: readonly FunctionSubscription[] = []): string | undefined {
  const given = subscriptionsGiven(opts);
  if (!given.events && !given.nodes) return undefined;
  // Event names may come separated by commas; a node's path may hold a comma, so it comes alone.
  const listed = (key: string, separator?: string): string[] =>
    (Array.isArray(opts[key]) ? (opts[key] as string[]) : []).flatMap((value) => (separator === undefined ? [value] : value.split(separator))).map((value) => value.trim()).filter((value) => value !== '');
  const events = given.events ? listed('subscribeTo', ',') : eventSubscriptions(current);
  const nodes: NodeSubscription[] = given.nodes
    ? [...listed('subscribeNode').map((path) => ({ path, children: false })), ...listed('subscribeChildren').map((path) => ({ path, children: true }))]
    : nodeSubscriptions(current);
  return JSON.stringify([...events, ...nodes]);
}

function formOf(fields: [string, string][], zip: Buffer | undefined): FormData {
  const form = new FormData();
  for (const [key, value] of fields) form.append(key, value);
  if (zip !== undefined) form.append('zip', new Blob([zip], { type: 'application/zip' }), 'package.zip');
  return form;
}

/**
 * Prints the function a create or an update answered with; with `--wait`, once its image is
 * built, failing when the build did.
 */
async function printWritten(context: CliContext, written: FunctionView, opts: Opts): Promise<void> {
  const fn = opts.wait === true ? await waitForBuild(context, context.api(), written.function_id, written.name) : written;
  context.printOne(functionShown(fn), opts);
  if (fn.status === 'error') throw new CliError(`The image of function ${fn.name} (${fn.function_id}) failed to build; its build_log says why`);
}

export function registerFunctionCommands(program: Command, context: CliContext): void {
  withOutputOptions(
    addSettingOptions(
      program
        .command('function-create')
        .description('Create a function from a zip (or a folder) holding new_module.py and requirements.txt')
        .argument('<name>', 'name of the function')
        .requiredOption('--zip <path>', 'zip file with new_module.py and requirements.txt at its root, or a folder holding them'),
    )
      .option('--event <event>', 'what calls the function besides its webhook: webhook (the default), timer (with --frequency) or message (with --subscribe-to, --subscribe-node or --subscribe-children)')
      .option('--frequency <minutes>', 'with --event timer: a job calls it every N minutes (N dividing an hour, or a day in whole hours)'),
    'show',
  ).action(async (name: string, opts: Opts) => {
    const fields = settingFields({ ...opts, name });
    if (opts.public === true) fields.push(['public', 'true']);
    const subscriptions = subscriptionsField(opts);
    if (subscriptions !== undefined) fields.push(['subscriptions', subscriptions]);
    await printWritten(context, await context.api().createFunction(formOf(fields, readFunctionZip(opts.zip as string))), opts);
  });

  withOutputOptions(
    program
      .command('function-list')
      .description("List the project's functions")
      .option('--only-id', 'list only the IDs')
      .option('--all-tenants', 'list the functions of every project (admin only)')
      .option('--long', 'list more columns'),
    'list',
  ).action(async (opts: Opts) => {
    const allTenants = opts.allTenants === true;
    const functions = await context.api().listFunctions({ allTenants });
    context.printList(functionListing(functions, { onlyId: opts.onlyId === true, allTenants, long: opts.long === true }), opts);
  });

  withOutputOptions(program.command('function-show').description('Show a function').argument('<function>', 'ID or name of the function'), 'show').action(async (idOrName: string, opts: Opts) => {
    const api = context.api();
    context.printOne(functionShown(await api.getFunction(await api.resolveFunction(idOrName))), opts);
  });

  withOutputOptions(
    addSettingOptions(
      program
        .command('function-update')
        .description("Change a function's settings, or give it new code (its image is built again)")
        .argument('<function>', 'ID or name of the function')
        .option('--zip <path>', 'new code: a zip file, or a folder holding new_module.py and requirements.txt')
        .option('--name <name>', 'new name'),
    ).option('--private', 'only its project may call its webhook'),
    'show',
  ).action(async (idOrName: string, opts: Opts) => {
    if (opts.public === true && opts.private === true) throw usageError('Give --public or --private, not both');
    const fields = settingFields(opts);
    if (opts.public === true || opts.private === true) fields.push(['public', String(opts.public === true)]);
    const zip = typeof opts.zip === 'string' ? readFunctionZip(opts.zip) : undefined;
    const given = subscriptionsGiven(opts);
    if (fields.length === 0 && zip === undefined && !given.events && !given.nodes) {
      throw usageError('Nothing to update: give --zip, --name, --description, --type, --runtime, --memory, --cpus, --timeout, --retries, --[no-]retry-on-error, --max-concurrency, --public, --private, --[no-]network, --context-file, --context, --secret, --subscribe-to, --subscribe-node, --subscribe-children, --[no-]openstack-auth or --openstack-role');
    }
    const api = context.api();
    // Changing one kind of subscription keeps the other: the API takes both in one list.
    const fn = given.events !== given.nodes ? await api.findFunction(idOrName) : undefined;
    const subscriptions = subscriptionsField(opts, fn?.subscriptions);
    if (subscriptions !== undefined) fields.push(['subscriptions', subscriptions]);
    await printWritten(context, await api.updateFunction(fn?.function_id ?? (await api.resolveFunction(idOrName)), formOf(fields, zip)), opts);
  });

  program
    .command('function-delete')
    .description('Delete functions: their queued requests are cancelled and their images removed')
    .argument('<function...>', 'IDs or names of the functions')
    .action(async (idsOrNames: string[]) => {
      const api = context.api();
      let failed = 0;
      for (const idOrName of idsOrNames) {
        try {
          await api.deleteFunction(await api.resolveFunction(idOrName));
        } catch (error) {
          // As the OpenStack clients do: go on with the others, and say which ones failed.
          if (!(error instanceof CliError) || idsOrNames.length === 1) throw error;
          context.warn(`Failed to delete function ${idOrName}: ${error.message}`);
          failed += 1;
        }
      }
      if (failed > 0) throw new CliError(`${failed} of ${idsOrNames.length} functions failed to delete`);
    });
}
