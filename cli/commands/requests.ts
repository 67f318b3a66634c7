/** The request commands: list, show, logs (`--follow`), cancel, redrive. */
import { type Command, Option } from 'commander';
import { REQUEST_SOURCES, REQUEST_STATUSES, type RequestStatus } from '../../common/domain.js';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { requestListing, requestShown } from '../views.js';

type Opts = Record<string, unknown>;

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw usageError(`Expected ${flag} to be a positive integer, got \`${value}\``);
  return number;
}

export function registerRequestCommands(program: Command, context: CliContext): void {
  withOutputOptions(
    program
      .command('request-list')
      .description('List requests, newest first')
      .option('--filter <request_id>', 'only the request with this id')
      .option('--function <function>', 'only the requests of this function (ID or name)')
      .addOption(new Option('--status <status>', 'only the requests with this status').choices(REQUEST_STATUSES))
      .addOption(new Option('--source <source>', 'only the requests made by a webhook call, a job, an event, a workflow or a node change').choices(REQUEST_SOURCES))
      .option('--dead-letter', 'only the dead letters: requests that ran out of retries or expired')
      .option('--version <n>', 'only the requests that ran this version (a number, or latest)')
      .option('--alias <name>', 'only the requests that came through this alias')
      .option('--all-tenants', 'the requests of every project (admin only)')
      .option('--limit <n>', 'at most this many (default all)')
      .option('--marker <request_id>', 'start after this request'),
    'list',
  ).action(async (opts: Opts) => {
    const limit = positiveInteger('--limit', opts.limit as string | undefined);
    const api = context.api();
    const functionId = typeof opts.function === 'string' ? await api.resolveFunction(opts.function) : undefined;
    const requests = await api.listRequests({
      ...(functionId !== undefined && { functionId }),
      ...(typeof opts.status === 'string' && { status: opts.status as RequestStatus }),
      ...(typeof opts.filter === 'string' && { requestId: opts.filter }),
      ...(opts.deadLetter === true && { deadLetter: true }),
      ...(typeof opts.source === 'string' && { source: opts.source }),
      ...(typeof opts.version === 'string' && { version: opts.version }),
      ...(typeof opts.alias === 'string' && { alias: opts.alias }),
      ...(opts.allTenants === true && { allTenants: true }),
      ...(typeof opts.marker === 'string' && { marker: opts.marker }),
      ...(limit !== undefined && { limit }),
    });
    context.printList(requestListing(requests), opts);
  });

  withOutputOptions(program.command('request-show').description('Show a request: its payload, status, response, error and logs').argument('<request_id>', 'ID of the request'), 'show').action(
    async (requestId: string, opts: Opts) => {
      context.printOne(requestShown(await context.api().getRequest(requestId)), opts);
    },
  );

  program
    .command('request-logs')
    .description("Print a request's logs, one record a line")
    .argument('<request_id>', 'ID of the request')
    .option('--follow', 'keep printing new records until the request ends')
    .action(async (requestId: string, opts: Opts) => {
      const api = context.api();
      if (opts.follow !== true) return context.write(await api.getRequestLogs(requestId));
      // The API streams the records as the function writes them and ends with the request.
      await api.followRequestLogs(requestId, (text) => context.write(text));
    });

  withOutputOptions(program.command('request-cancel').description('Cancel a queued or running request').argument('<request_id>', 'ID of the request'), 'show').action(
    async (requestId: string, opts: Opts) => {
      context.printOne(requestShown(await context.api().cancelRequest(requestId)), opts);
    },
  );

  withOutputOptions(
    program.command('request-redrive').description('Queue a dead-lettered request again, its attempts reset (admin only, by the default policy)').argument('<request_id>', 'ID of the request'),
    'show',
  ).action(async (requestId: string, opts: Opts) => {
    context.printOne(requestShown(await context.api().redriveRequest(requestId)), opts);
  });
}
