/**
 * The version and alias commands: publish a function as a version, list, show and delete
 * versions; create, list, show, update (move or reweight) and delete aliases.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { aliasListing, aliasShown, versionListing, versionShown } from '../views.js';

type Opts = Record<string, unknown>;

/** A version number as given on the command line: an integer from 1. */
export function versionArgument(flag: string, raw: string): number {
  if (!/^[1-9]\d*$/.test(raw)) throw usageError(`Expected ${flag} to be a version number (an integer from 1), got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** `--weight M=0.1`, repeatable: version M gets that share of the alias's calls. */
function collectWeight(raw: string, weights: Record<string, number> = {}): Record<string, number> {
  const match = /^([1-9]\d*)=([0-9.]+)$/.exec(raw);
  if (match === null || !Number.isFinite(Number(match[2]))) throw usageError(`Expected --weight as VERSION=SHARE (such as 2=0.1), got ${JSON.stringify(raw)}`);
  return { ...weights, [match[1] as string]: Number(match[2]) };
}

export function registerVersionCommands(program: Command, context: CliContext): void {
  withOutputOptions(
    program
      .command('function-publish')
      .description('Publish the function as it is now as a version (the same function twice is one version)')
      .argument('<function>', 'ID or name of the function')
      .option('--description <text>', 'what this version is'),
    'show',
  ).action(async (idOrName: string, opts: Opts) => {
    const api = context.api();
    const functionId = await api.resolveFunction(idOrName);
    context.printOne(versionShown(await api.publishVersion(functionId, typeof opts.description === 'string' ? opts.description : undefined)), opts);
  });

  withOutputOptions(program.command('function-version-list').description("List a function's versions").argument('<function>', 'ID or name of the function'), 'list').action(
    async (idOrName: string, opts: Opts) => {
      const api = context.api();
      context.printList(versionListing(await api.listVersions(await api.resolveFunction(idOrName))), opts);
    },
  );

  withOutputOptions(
    program.command('function-version-show').description('Show a version: its settings, code checksum, image and endpoint').argument('<function>', 'ID or name of the function').argument('<version>', 'version number'),
    'show',
  ).action(async (idOrName: string, version: string, opts: Opts) => {
    const api = context.api();
    context.printOne(versionShown(await api.getVersion(await api.resolveFunction(idOrName), String(versionArgument('VERSION', version)))), opts);
  });

  program
    .command('function-version-delete')
    .description('Delete a version no alias targets; its image goes once no request uses it')
    .argument('<function>', 'ID or name of the function')
    .argument('<version>', 'version number')
    .action(async (idOrName: string, version: string) => {
      const api = context.api();
      await api.deleteVersion(await api.resolveFunction(idOrName), String(versionArgument('VERSION', version)));
    });

  const weightOption = (command: Command): Command =>
    command.option('--weight <version=share>', 'send this share (0 to 1) of calls to that version instead (repeatable)', collectWeight);

  withOutputOptions(
    weightOption(
      program
        .command('alias-create')
        .description("Create an alias: a name for one of the function's versions")
        .argument('<function>', 'ID or name of the function')
        .argument('<name>', 'name of the alias')
        .requiredOption('--version <n>', 'the version it targets')
        .option('--description <text>', 'what it is for'),
    ),
    'show',
  ).action(async (idOrName: string, name: string, opts: Opts) => {
    const api = context.api();
    const alias = await api.createAlias(await api.resolveFunction(idOrName), {
      name,
      version: versionArgument('--version', opts.version as string),
      ...(typeof opts.description === 'string' && { description: opts.description }),
      ...(opts.weight !== undefined && { weights: opts.weight as Record<string, number> }),
    });
    context.printOne(aliasShown(alias), opts);
  });

  withOutputOptions(program.command('alias-list').description("List a function's aliases").argument('<function>', 'ID or name of the function'), 'list').action(async (idOrName: string, opts: Opts) => {
    const api = context.api();
    context.printList(aliasListing(await api.listAliases(await api.resolveFunction(idOrName))), opts);
  });

  withOutputOptions(program.command('alias-show').description('Show an alias').argument('<function>', 'ID or name of the function').argument('<name>', 'name of the alias'), 'show').action(
    async (idOrName: string, name: string, opts: Opts) => {
      const api = context.api();
      context.printOne(aliasShown(await api.getAlias(await api.resolveFunction(idOrName), name)), opts);
    },
  );

  withOutputOptions(
    weightOption(
      program
        .command('alias-update')
        .description('Move an alias to another version, or change its weights')
        .argument('<function>', 'ID or name of the function')
        .argument('<name>', 'name of the alias')
        .option('--version <n>', 'the version it targets from now on')
        .option('--no-weights', 'send every call to its version (drop the weights)')
        .option('--description <text>', 'what it is for'),
    ),
    'show',
  ).action(async (idOrName: string, name: string, opts: Opts) => {
    const api = context.api();
    if (opts.weights === false && opts.weight !== undefined) throw usageError('Give --weight or --no-weights, not both');
    const alias = await api.updateAlias(await api.resolveFunction(idOrName), name, {
      ...(typeof opts.version === 'string' && { version: versionArgument('--version', opts.version) }),
      ...(typeof opts.description === 'string' && { description: opts.description }),
      ...(opts.weight !== undefined && { weights: opts.weight as Record<string, number> }),
      ...(opts.weights === false && { weights: {} }),
    });
    context.printOne(aliasShown(alias), opts);
  });

  program
    .command('alias-delete')
    .description('Delete an alias (its versions stay)')
    .argument('<function>', 'ID or name of the function')
    .argument('<name>', 'name of the alias')
    .action(async (idOrName: string, name: string) => {
      const api = context.api();
      await api.deleteAlias(await api.resolveFunction(idOrName), name);
    });
}
