#!/usr/bin/env node
/** pratai-api: the REST API and the webhooks alone; runners elsewhere take the jobs through the broker. */
import { openAdapters } from '../common/adapters.js';
import { runProcess } from '../common/cli-process.js';
import { KeyringError, loadKeyring, type Keyring } from '../common/secrets/keyring.js';
import { startApiRole } from '../server/roles.js';
import { warnIfNoAuth } from '../server/warnings.js';

const USAGE = `
Usage: pratai-api [--config-file PATH]...

Serves the REST API and the webhooks. Any number of pratai-api and pratai-runner processes share
one message broker ([DEFAULT] transport_url) and one database ([database] connection).`;

await runProcess('pratai.api', USAGE, async ({ settings, log }) => {
  if (settings.DEFAULT.transport_url === '') {
    log.error('pratai-api needs a message broker shared with the runners: set [DEFAULT] transport_url (or run pratai-server, which runs everything in one process)');
    process.exitCode = 2;
    return;
  }
  warnIfNoAuth(settings, log);
  let keyring: Keyring;
  try {
    // Processes that share a database share its keys: none of them makes its own.
    keyring = loadKeyring(settings, { process: 'pratai-api' });
  } catch (error) {
    if (!(error instanceof KeyringError)) throw error;
    log.error(error.message);
    process.exitCode = 2;
    return;
  }
  const adapters = await openAdapters(settings, log, { keyring, listen: true });
  const api = await startApiRole(settings, adapters, log).catch(async (error: unknown) => {
    await adapters.close();
    throw error;
  });
  log.info(`REST API on ${api.apiUrl} (listening on ${settings.api.host}), webhooks on ${api.webhookUrl}/function/<function_id>`);
  return async () => {
    await api.stop();
    await adapters.close();
  };
});
