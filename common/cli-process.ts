/**
 * How every Pratai executable starts: `--config-file` and `--help` handled the same way, the
 * configuration read once (the only place besides scripts that reads process.env), and SIGTERM /
 * SIGINT turned into one graceful stop.
 */
import { ConfigError, loadSettings, parseConfigArgs, type Settings } from './config.js';
import { createLogger, type Logger } from './log.js';

export interface ProcessContext {
  settings: Settings;
  log: Logger;
  /** Arguments left once --config-file was taken out. */
  args: string[];
}

/**
 * Runs `main`; the function it returns is called once on SIGTERM or SIGINT. A second signal exits
 * at once. Configuration errors end the process with status 2 and one line naming the option.
 */
export async function runProcess(name: string, usage: string, main: (context: ProcessContext) => Promise<(() => Promise<void>) | void>): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage.trim()}\n`);
    return;
  }
  let context: ProcessContext;
  try {
    const { files, rest } = parseConfigArgs(argv);
    const { settings, warnings } = loadSettings({ files, env: process.env });
    const log = createLogger(name, { debug: settings.DEFAULT.debug });
    for (const warning of warnings) log.warning(warning);
    context = { settings, log, args: rest };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${name}: ${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  const { log } = context;
  let stop: (() => Promise<void>) | void;
  try {
    stop = await main(context);
  } catch (error) {
    log.error(`could not start: ${(error as Error).message}`);
    // A configuration the process cannot start with (a runner name a live runner holds): as a bad option.
    process.exitCode = error instanceof ConfigError ? 2 : 1;
    return;
  }
  if (!stop) return;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warning(`${signal} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    log.info(`${signal} received: stopping gracefully (again to force)`);
    void stop().then(
      () => log.info('stopped'),
      (error: Error) => {
        log.error(`stop failed: ${error.message}`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
