/** `runtime-list`: the runtimes a function can be created on. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { withOutputOptions } from '../output.js';
import { runtimeListing } from '../views.js';

export function registerRuntimeCommands(program: Command, context: CliContext): void {
  withOutputOptions(program.command('runtime-list').description('List the runtimes functions can be created on'), 'list').action(async (opts: Record<string, unknown>) => {
    context.printList(runtimeListing(await context.api().listRuntimes()), opts);
  });
}
