/**
 * The secret commands: create, list, show, update, delete. A value goes to the API from
 * `--value` or a file (`--from-file`, `-` for standard input) and is never printed: the API
 * shows a secret's name, version, times and the functions that name it.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { secretListing, secretShown } from '../views.js';

type Opts = Record<string, unknown>;

/** The value of `--value V` or `--from-file F`, exactly one of them; a file's content is taken as it is. */
function readValue(opts: Opts): string {
  if (typeof opts.value === 'string' && typeof opts.fromFile === 'string') throw usageError('Give --value or --from-file, not both');
  if (typeof opts.value === 'string') return opts.value;
  if (typeof opts.fromFile !== 'string') throw usageError('Give the value with --value VALUE or --from-file PATH (- for standard input)');
  try {
    return readFileSync(opts.fromFile === '-' ? 0 : opts.fromFile, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read --from-file ${opts.fromFile}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, 1, { cause: error });
  }
}

const valueOptions = (command: Command): Command =>
  command
    .option('--value <value>', 'the value (it shows in your shell history and process list: prefer --from-file)')
    .option('--from-file <path>', 'read the value from this file, as it is (- for standard input)');

export function registerSecretCommands(program: Command, context: CliContext): void {
  withOutputOptions(
    valueOptions(program.command('secret-create').description("Create a secret of the project: its value is stored encrypted and never shown").argument('<name>', 'name of the secret')),
    'show',
  ).action(async (name: string, opts: Opts) => {
    context.printOne(secretShown(await context.api().createSecret(name, readValue(opts))), opts);
  });

  withOutputOptions(program.command('secret-list').description("List the project's secrets (never their values)"), 'list').action(async (opts: Opts) => {
    context.printList(secretListing(await context.api().listSecrets()), opts);
  });

  withOutputOptions(program.command('secret-show').description('Show a secret: its version, times and the functions that use it (never its value)').argument('<name>', 'name of the secret'), 'show').action(
    async (name: string, opts: Opts) => {
      context.printOne(secretShown(await context.api().getSecret(name)), opts);
    },
  );

  withOutputOptions(valueOptions(program.command('secret-update').description("Change a secret's value (its version counts up)").argument('<name>', 'name of the secret')), 'show').action(
    async (name: string, opts: Opts) => {
      context.printOne(secretShown(await context.api().updateSecret(name, readValue(opts))), opts);
    },
  );

  program
    .command('secret-delete')
    .description('Delete secrets that no function uses')
    .argument('<name...>', 'names of the secrets')
    .action(async (names: string[]) => {
      const api = context.api();
      let failed = 0;
      for (const name of names) {
        try {
          await api.deleteSecret(name);
        } catch (error) {
          if (!(error instanceof CliError) || names.length === 1) throw error;
          context.warn(`Failed to delete secret ${name}: ${error.message}`);
          failed += 1;
        }
      }
      if (failed > 0) throw new CliError(`${failed} of ${names.length} secrets failed to delete`);
    });
}
