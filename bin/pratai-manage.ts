#!/usr/bin/env node
/** pratai-manage: database and admin tasks. */
import { runProcess } from '../common/cli-process.js';
import { databaseUrl, sampleConfig } from '../common/config.js';
import { SqlStore } from '../common/sql-store.js';

const USAGE = `
Usage: pratai-manage [--config-file PATH]... COMMAND

Commands:
  db-sync         Create or upgrade the database schema ([database] connection).
  config-sample   Print a commented configuration file with every option at its default.`;

await runProcess('pratai.manage', USAGE, async ({ settings, log, args }) => {
  const [command, ...extra] = args;
  if (extra.length > 0) throw new Error(`unexpected arguments: ${extra.join(' ')}`);
  switch (command) {
    case 'db-sync': {
      const store = SqlStore.open(databaseUrl(settings));
      try {
        await store.migrate();
      } finally {
        await store.close();
      }
      log.info(`database schema is up to date (${databaseUrl(settings).replace(/\/\/[^@/]*@/, '//***@')})`);
      return;
    }
    case 'config-sample':
      process.stdout.write(sampleConfig());
      return;
    default:
      process.stderr.write(`pratai-manage: ${command === undefined ? 'a command is needed' : `unknown command \`${command}\``}\n${USAGE.trim()}\n`);
      process.exitCode = 2;
  }
});
