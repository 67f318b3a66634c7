#!/usr/bin/env node
/** pratai-runner: the runner alone, for platforms whose processes share RabbitMQ. */
import { runProcess } from '../common/cli-process.js';

const USAGE = `
Usage: pratai-runner [--config-file PATH]...

Runs a runner alone. Separate processes share jobs through a message
broker; with the embedded queue (the default) use pratai-server, which runs everything in one.`;

await runProcess('pratai.runner', USAGE, async ({ log }) => {
  log.error('pratai-runner runs apart from the other processes only with a shared message broker, and this build has the embedded queue only: run pratai-server');
  process.exitCode = 2;
});
