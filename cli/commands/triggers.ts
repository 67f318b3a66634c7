/**
 * The trigger commands: jobs (a function called on a cron schedule, `job-*`) and events (named
 * channels functions subscribe to, `event-*`; a message published to one makes a request of each
 * subscribed function).
 */
import type { Command } from 'commander';
import type { JobView } from '../api.js';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { versionArgument } from './versions.js';
import { eventListing, eventShown, jobListing, jobShown } from '../views.js';

type Opts = Record<string, unknown>;

function jsonOption(flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw usageError(`Expected ${flag} to be JSON, got ${JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text)}: ${(error as Error).message}`);
  }
}

function countOption(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw usageError(`Expected --count to be a whole number from 1, got \`${text}\``);
  return Number(text);
}

/** The job's fields a create or an update sets from the options. */
function jobFields(opts: Opts): Record<string, unknown> {
  return {
    ...(typeof opts.pattern === 'string' && { pattern: opts.pattern }),
    ...(typeof opts.payload === 'string' && { payload: jsonOption('--payload', opts.payload) }),
    ...(typeof opts.count === 'string' && { count: countOption(opts.count) }),
    ...(typeof opts.timezone === 'string' && { timezone: opts.timezone }),
    ...(typeof opts.name === 'string' && { name: opts.name }),
  };
}

const jobOptions = (command: Command): Command =>
  command
    .option('--payload <json>', 'the payload of each request, as JSON (default null)')
    .option('--count <n>', 'fire this many times, then be done (default: no end)')
    .option('--timezone <tz>', 'IANA time zone the pattern is read in (default UTC)')
    .option('--name <name>', 'a name for the job');

export function registerTriggerCommands(program: Command, context: CliContext): void {
  withOutputOptions(
    jobOptions(
      program
        .command('job-create')
        .description("Create a job: a request of the function at each instant of a cron pattern, with the job's payload")
        .argument('<function>', 'ID or name of the function; FUNCTION:N or FUNCTION:ALIAS runs that version or alias')
        .requiredOption('--pattern <cron>', "cron pattern: 5 fields ('*/5 * * * *'), or 6 with seconds first ('*/10 * * * * *')")
        .option('--first-execution-time <time>', 'no firing before this ISO 8601 time')
        .option('--version <n>', "run this published version of the function (FUNCTION:N says the same)")
        .option('--alias <name>', "run the version this alias targets at each firing (FUNCTION:NAME says the same)"),
    ),
    'show',
  ).action(async (given: string, opts: Opts) => {
    const api = context.api();
    const colon = given.indexOf(':');
    const idOrName = colon < 0 ? given : given.slice(0, colon);
    const qualifiers = [
      ...(colon < 0 ? [] : [given.slice(colon + 1)]),
      ...(typeof opts.version === 'string' ? [String(versionArgument('--version', opts.version))] : []),
      ...(typeof opts.alias === 'string' ? [opts.alias] : []),
    ];
    if (qualifiers.length > 1) throw usageError('Name one version or alias: FUNCTION:QUALIFIER, --version or --alias');
    const functionId = await api.resolveFunction(idOrName);
    const fields = {
      function_id: qualifiers[0] === undefined ? functionId : `${functionId}:${qualifiers[0]}`,
      ...jobFields(opts),
      ...(typeof opts.firstExecutionTime === 'string' && { first_execution_time: opts.firstExecutionTime }),
    };
    context.printOne(jobShown(await api.createJob(fields)), opts);
  });

  withOutputOptions(program.command('job-list').description("List the project's jobs").option('--function <function>', 'only the jobs of this function (ID or name)'), 'list').action(async (opts: Opts) => {
    const api = context.api();
    const functionId = typeof opts.function === 'string' ? await api.resolveFunction(opts.function) : undefined;
    context.printList(jobListing(await api.listJobs(functionId)), opts);
  });

  withOutputOptions(program.command('job-show').description('Show a job: its schedule, next and last firings, and the ids of its last requests').argument('<job_id>', 'ID of the job'), 'show').action(
    async (jobId: string, opts: Opts) => {
      context.printOne(jobShown(await context.api().getJob(jobId)), opts);
    },
  );

  const statusCommand = (name: string, status: 'paused' | 'running', description: string): void => {
    withOutputOptions(program.command(name).description(description).argument('<job_id>', 'ID of the job'), 'show').action(async (jobId: string, opts: Opts) => {
      context.printOne(jobShown(await context.api().updateJob(jobId, { status })), opts);
    });
  };
  statusCommand('job-pause', 'paused', 'Pause a job: it fires nothing until resumed');
  statusCommand('job-resume', 'running', 'Resume a paused job: its next firing is the next instant of its pattern from now');

  withOutputOptions(jobOptions(program.command('job-update').description("Change a job's pattern, payload, count, time zone or name").argument('<job_id>', 'ID of the job').option('--pattern <cron>', 'new cron pattern')), 'show').action(
    async (jobId: string, opts: Opts) => {
      const changes = jobFields(opts);
      if (Object.keys(changes).length === 0) throw usageError('Nothing to update: give --pattern, --payload, --count, --timezone or --name');
      const job: JobView = await context.api().updateJob(jobId, changes);
      context.printOne(jobShown(job), opts);
    },
  );

  program
    .command('job-delete')
    .description('Delete jobs: they fire no more (their requests stay)')
    .argument('<job_id...>', 'IDs of the jobs')
    .action(async (ids: string[]) => {
      const api = context.api();
      let failed = 0;
      for (const id of ids) {
        try {
          await api.deleteJob(id);
        } catch (error) {
          if (!(error instanceof CliError) || ids.length === 1) throw error;
          context.warn(`Failed to delete job ${id}: ${error.message}`);
          failed += 1;
        }
      }
      if (failed > 0) throw new CliError(`${failed} of ${ids.length} jobs failed to delete`);
    });

  withOutputOptions(program.command('event-create').description('Create an event of the project, which functions subscribe to (--subscribe-to)').argument('<name>', 'name of the event').option('--description <text>', 'what it announces'), 'show').action(
    async (name: string, opts: Opts) => {
      context.printOne(eventShown(await context.api().createEvent(name, typeof opts.description === 'string' ? opts.description : undefined)), opts);
    },
  );

  withOutputOptions(program.command('event-list').description("List the project's events and the functions subscribed to each"), 'list').action(async (opts: Opts) => {
    context.printList(eventListing(await context.api().listEvents()), opts);
  });

  program
    .command('event-delete')
    .description('Delete an event no function subscribes to')
    .argument('<name>', 'name of the event')
    .action(async (name: string) => {
      await context.api().deleteEvent(name);
    });

  withOutputOptions(
    program.command('event-publish').description('Publish a message to an event: a request of each subscribed function; prints their ids').argument('<name>', 'name of the event').option('--payload <json>', 'the payload, as JSON (default null)'),
    'list',
  ).action(async (name: string, opts: Opts) => {
    const payload = typeof opts.payload === 'string' ? jsonOption('--payload', opts.payload) : null;
    const published = await context.api().publishEvent(name, payload);
    context.printList({ columns: ['Request ID', 'Function ID'], rows: published.requests.map((each) => [each.request_id, each.function_id]) }, opts);
  });
}
