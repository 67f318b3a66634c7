#!/usr/bin/env node
/** pratai-server: the whole platform in one process (API, webhooks, runner; embedded store and queue). */
import { runProcess } from '../common/cli-process.js';
import { startPlatform } from '../server/platform.js';
import { warnIfNoAuth } from '../server/warnings.js';

const USAGE = `
Usage: pratai-server [--config-file PATH]...

Runs the REST API, the webhooks and a runner in one process, with the embedded SQLite database
and the embedded durable queue. Configuration: /etc/pratai/pratai.conf or --config-file, and
PRATAI_<SECTION>_<OPTION> variables (see etc/pratai.conf.sample).`;

await runProcess('pratai.server', USAGE, async ({ settings, log }) => {
  warnIfNoAuth(settings, log);
  const platform = await startPlatform(settings, log);
  log.info(`REST API on ${platform.apiUrl} (listening on ${settings.api.host}), webhooks on ${platform.webhookUrl}/function/<function_id>`);
  log.info(`state in ${settings.DEFAULT.state_path}; healthcheck at ${platform.apiUrl}/healthcheck`);
  return () => platform.stop();
});
