#!/usr/bin/env node
/** pratai-runner: takes jobs off the broker and runs them in containers. */
import { openAdapters } from '../common/adapters.js';
import { runProcess } from '../common/cli-process.js';
import { KeyringError, loadKeyring, type Keyring } from '../common/secrets/keyring.js';
import { startRunnerRole } from '../server/roles.js';

const USAGE = `
Usage: pratai-runner [--config-file PATH]...

Runs the jobs the API processes queue: builds function images and executes requests in containers
on this machine's Docker engine. Any number of runners share one message broker
([DEFAULT] transport_url) and one database ([database] connection), on one machine or many;
each is a runner of its own: [runner] name, or by default the host name and a suffix unique to
the process. A runner started with the name of a live one is refused (exit code 2).`;

await runProcess('pratai.runner', USAGE, async ({ settings, log }) => {
  if (settings.DEFAULT.transport_url === '') {
    log.error('pratai-runner needs a message broker shared with the API: set [DEFAULT] transport_url (or run pratai-server, which runs everything in one process)');
    process.exitCode = 2;
    return;
  }
  let keyring: Keyring;
  try {
    // Processes that share a database share its keys: none of them makes its own.
    keyring = loadKeyring(settings, { process: 'pratai-runner' });
  } catch (error) {
    if (!(error instanceof KeyringError)) throw error;
    log.error(error.message);
    process.exitCode = 2;
    return;
  }
  const adapters = await openAdapters(settings, log, { keyring, listen: false });
  const runner = await startRunnerRole(settings, adapters, log, { serveMetrics: true }).catch(async (error: unknown) => {
    await adapters.close();
    throw error;
  });
  return async () => {
    await runner.stop();
    await adapters.close();
  };
});
