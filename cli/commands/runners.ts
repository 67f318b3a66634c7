/** `runner-list` and `runner-drain` (administrators): the runners, and taking one out of service. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { withOutputOptions } from '../output.js';
import { runnerListing } from '../views.js';

export function registerRunnerCommands(program: Command, context: CliContext): void {
  withOutputOptions(program.command('runner-list').description('List the runners: heartbeat, state, load, containers and runtime images (administrators)'), 'list').action(
    async (opts: Record<string, unknown>) => {
      context.printList(runnerListing(await context.api().listRunners()), opts);
    },
  );
  withOutputOptions(
    program
      .command('runner-drain')
      .argument('<runner>', "the runner's id (runner-list)")
      .description('Drain a runner: it takes no new jobs and finishes what it holds; runner-list shows it drained when the machine may go (administrators)'),
    'list',
  ).action(async (id: string, opts: Record<string, unknown>) => {
    context.printList(runnerListing([await context.api().drainRunner(id)]), opts);
  });
}
