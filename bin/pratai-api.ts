#!/usr/bin/env node
/** pratai-api: the REST API and webhooks alone, for platforms whose processes share RabbitMQ. */
import { runProcess } from '../common/cli-process.js';

const USAGE = `
Usage: pratai-api [--config-file PATH]...

Runs the REST API and the webhooks alone. Separate processes share jobs through a message
broker; with the embedded queue (the default) use pratai-server, which runs everything in one.`;

await runProcess('pratai.api', USAGE, async ({ log }) => {
  log.error('pratai-api runs apart from the other processes only with a shared message broker, and this build has the embedded queue only: run pratai-server');
  process.exitCode = 2;
});
