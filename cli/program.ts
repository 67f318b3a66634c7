/**
 * The `pratai` command line: its global options (every `OS_X` as `--os-x`, `--insecure`,
 * `--debug`) and its commands, named as the original Pratai client named them.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CloudsEnvironment } from './clouds.js';
import { AUTH_SETTINGS, flagOf, resolveSettings, variableOf, type AuthSetting, type AuthSettings } from './auth.js';
import { registerCoordinationCommands } from './commands/coordination.js';
import { registerExecuteCommand } from './commands/execute.js';
import { registerFunctionCommands } from './commands/functions.js';
import { registerRequestCommands } from './commands/requests.js';
import { registerRunnerCommands } from './commands/runners.js';
import { registerRuntimeCommands } from './commands/runtimes.js';
import { registerSecretCommands } from './commands/secrets.js';
import { registerTriggerCommands } from './commands/triggers.js';
import { registerVersionCommands } from './commands/versions.js';
import { registerWorkflowCommands } from './commands/workflows.js';
import { createContext, type Stream } from './context.js';
import { usageError } from './errors.js';
import { runAgainWith, tlsVariables } from './tls.js';

export interface ProgramEnvironment {
  stdout: Stream;
  stderr: Stream;
  env: Readonly<Record<string, string | undefined>>;
  clouds: CloudsEnvironment;
  version: string;
}

/** Thrown when the command already ran in a child process (see tls.ts): exit with its code. */
export class RanElsewhere extends Error {
  constructor(readonly exitCode: number) {
    super(`ran again in a child process, which exited ${exitCode}`);
  }
}

/** commander's attribute name of a setting's flag: `--os-auth-url` → `osAuthUrl`. */
const attributeOf = (setting: AuthSetting): string => flagOf(setting).slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

export function buildProgram(environment: ProgramEnvironment): Command {
  const { stdout, stderr, env } = environment;
  const program = new Command('pratai')
    .description('Pratai: asynchronous functions for OpenStack clouds')
    .version(`pratai ${environment.version}`, '--version [n]', 'show the version and exit')
    .option('--debug', 'show each HTTP call, and the stack of a failure', false)
    .exitOverride()
    .configureOutput({ writeOut: (text) => stdout.write(text), writeErr: (text) => stderr.write(text) })
    .showSuggestionAfterError();
  for (const setting of Object.keys(AUTH_SETTINGS) as AuthSetting[]) {
    const [metavar, help] = AUTH_SETTINGS[setting];
    // OS_INSECURE is read by hand: commander would take OS_INSECURE=false as true.
    const option = setting === 'insecure' ? new Option(flagOf(setting), `${help} (env: OS_INSECURE)`) : new Option(`${flagOf(setting)} <${metavar}>`, help).env(variableOf(setting));
    program.addOption(option.helpGroup('Authentication and endpoint:'));
  }

  let settings: AuthSettings | undefined;
  const currentSettings = (): AuthSettings => {
    if (settings === undefined) {
      const opts = program.opts();
      const given: AuthSettings = Object.fromEntries((Object.keys(AUTH_SETTINGS) as AuthSetting[]).map((setting) => [setting, opts[attributeOf(setting)] as string | undefined]));
      given.insecure = opts.insecure === true ? 'true' : env.OS_INSECURE;
      settings = resolveSettings(given, environment.clouds);
    }
    return settings;
  };

  const context = createContext({ stdout, stderr, settings: currentSettings, debug: () => program.opts().debug === true });
  registerRuntimeCommands(program, context);
  registerRunnerCommands(program, context);
  registerFunctionCommands(program, context);
  registerExecuteCommand(program, context);
  registerRequestCommands(program, context);
  registerSecretCommands(program, context);
  registerTriggerCommands(program, context);
  registerVersionCommands(program, context);
  registerWorkflowCommands(program, context);
  registerCoordinationCommands(program, context);

  // `--version N` of a command (function-execute, alias-create, …) reaches the program's parser
  // first, which would print the program's version: after a command's name it is handed to the
  // command instead; alone it prints the version.
  let commandVersion: unknown;
  // commander's Command is an EventEmitter with the raw arguments at hand; its types say neither.
  const events = program as unknown as NodeJS.EventEmitter & { rawArgs: string[] };
  events.removeAllListeners('option:version');
  program.on('option:version', (value: unknown) => {
    const commands = new Set(program.commands.map((command) => command.name()));
    if (events.rawArgs.some((arg) => commands.has(arg))) {
      commandVersion = value;
      return;
    }
    stdout.write(`pratai ${environment.version}\n`);
    throw new CommanderError(0, 'commander.version', `pratai ${environment.version}`);
  });
  program.hook('preSubcommand', (_program, command) => {
    if (commandVersion === undefined) return;
    if (!command.options.some((option) => option.long === '--version')) throw usageError(`${command.name()} has no option --version`);
    command.setOptionValue('version', commandVersion);
  });

  program.hook('preAction', () => {
    const variables = tlsVariables(currentSettings(), env);
    if (variables !== undefined) throw new RanElsewhere(runAgainWith(variables, env));
  });
  return program;
}
