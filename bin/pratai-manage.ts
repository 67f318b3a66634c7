#!/usr/bin/env node
/** pratai-manage: database and admin tasks. */
import { parseArgs } from 'node:util';
import { serviceCredentials } from '../api/keystone-auth.js';
import { policySample } from '../api/policy.js';
import { runProcess } from '../common/cli-process.js';
import { KeystoneClient, KeystoneSession } from '../common/keystone/client.js';
import { registerService, SERVICE_TYPE } from '../common/keystone/catalog.js';
import { databaseUrl, runnerForgetAfterSeconds, sampleConfig, type Settings } from '../common/config.js';
import { describeValue } from '../common/errors.js';
import { createStore } from '../common/store/factory.js';
import type { Store } from '../common/store/store.js';
import { redactUrl } from '../common/store/url.js';
import { pruneDeadRunners, purgeExpiredRequests } from '../runner/retention.js';
import { loadKeyring } from '../common/secrets/keyring.js';
import { rotateSecrets } from '../common/secrets/rotate.js';

const USAGE = `
Usage: pratai-manage [--config-file PATH]... COMMAND

Commands:
  db-sync         Create or upgrade the database schema ([database] connection).
  purge [--days N]
                  Delete the requests that finished more than N days ago
                  (default: [database] request_retention_days), and the rows of
                  runners dead for longer than [runner] dead_runner_retention.
  secrets-rotate  Encrypt every stored secret again under the first key of [secrets] keys (or,
                  where it is not set, the key pratai-server made in <state_path>/secrets.key),
                  and report how many were; a secret under a key the list lacks is named, and
                  the command exits 1. Rotating keys: put a new key first in [secrets] keys of
                  every process, restart them, run this, then remove the old key.
  config-sample   Print a commented configuration file with every option at its default.
  policy-sample   Print the policy file with every rule at its default (etc/policy.yaml).
  register-service --public-url URL [--internal-url URL] [--admin-url URL] [--region REGION]
                  Register Pratai in the Keystone catalog (service type function-engine) as the
                  user of [keystone_authtoken], who needs Keystone's admin role for this. The
                  internal URL defaults to the public one; the region to [keystone_authtoken]
                  region_name, else RegionOne. Run again to change a URL.`;

/** Runs `task` on the configured store, closing it after. */
async function withStore<T>(settings: Settings, task: (store: Store) => Promise<T>): Promise<T> {
  const store = await createStore(settings);
  try {
    return await task(store);
  } finally {
    await store.close();
  }
}

/** `purge`'s `--days N`; undefined when absent. */
function daysOption(extra: string[]): number | undefined {
  const raw = parseArgs({ args: extra, options: { days: { type: 'string' } }, strict: true }).values.days;
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`expected --days to be a whole number of days, 1 or more, got ${describeValue(raw)}`);
  return Number(raw);
}

/** `register-service`'s options, then the registration as [keystone_authtoken]'s user. */
async function registerServiceFromArgs(settings: Settings, extra: string[]): ReturnType<typeof registerService> {
  const { values } = parseArgs({
    args: extra,
    options: { 'public-url': { type: 'string' }, 'internal-url': { type: 'string' }, 'admin-url': { type: 'string' }, region: { type: 'string' } },
    strict: true,
  });
  const publicUrl = values['public-url'];
  if (publicUrl === undefined) throw new Error('register-service needs --public-url URL, the address clients reach the API at');
  const authtoken = settings.keystone_authtoken;
  if (authtoken.auth_url === '') throw new Error('register-service needs [keystone_authtoken] auth_url (and the credentials of a user with the admin role)');
  const client = new KeystoneClient({ authUrl: authtoken.auth_url, timeoutMs: authtoken.http_connect_timeout * 1000 });
  return registerService(new KeystoneSession(client, serviceCredentials(authtoken)), {
    region: values.region ?? (authtoken.region_name || 'RegionOne'),
    urls: { public: publicUrl, internal: values['internal-url'] ?? publicUrl, ...(values['admin-url'] !== undefined && { admin: values['admin-url'] }) },
  });
}

await runProcess('pratai.manage', USAGE, async ({ settings, log, args }) => {
  const [command, ...extra] = args;
  if (extra.length > 0 && command !== 'purge' && command !== 'register-service') throw new Error(`unexpected arguments: ${extra.join(' ')}`);
  switch (command) {
    case 'db-sync': {
      await withStore(settings, (store) => store.migrate());
      log.info(`database schema is up to date (${redactUrl(databaseUrl(settings))})`);
      return;
    }
    case 'purge': {
      const days = daysOption(extra) ?? settings.database.request_retention_days;
      const forgetRunnersAfter = runnerForgetAfterSeconds(settings);
      await withStore(settings, async (store) => {
        if (days === 0) {
          log.info('[database] request_retention_days is 0 (keep requests forever): no request purged; give --days N to purge anyway');
        } else {
          const { cutoff, purged } = await purgeExpiredRequests(store, days);
          log.info(`purged ${purged} request(s) finished before ${cutoff} (${days} days)`);
        }
        if (forgetRunnersAfter > 0) {
          const { cutoff, pruned } = await pruneDeadRunners(store, forgetRunnersAfter);
          log.info(`forgot ${pruned} runner(s) without a heartbeat since before ${cutoff} ([runner] dead_after + dead_runner_retention)`);
        }
      });
      return;
    }
    case 'secrets-rotate': {
      const keyring = loadKeyring(settings, { process: 'pratai-manage secrets-rotate', readGenerated: true, log });
      const report = await withStore(settings, (store) => rotateSecrets(store, keyring));
      log.info(`secrets under key ${report.keyId}: ${report.rotated} re-encrypted, ${report.current} already under it`);
      for (const secret of report.unreadable) {
        log.error(`secret ${secret.name} of project ${secret.tenant_id} is under key ${secret.key_id}, which [secrets] keys lacks: left as it is`);
      }
      if (report.unreadable.length > 0) process.exitCode = 1;
      return;
    }
    case 'config-sample':
      process.stdout.write(sampleConfig());
      return;
    case 'policy-sample':
      process.stdout.write(policySample());
      return;
    case 'register-service': {
      const { serviceId, endpoints } = await registerServiceFromArgs(settings, extra);
      log.info(`service ${SERVICE_TYPE} is ${serviceId}`);
      for (const endpoint of endpoints) log.info(`${endpoint.interface} endpoint ${endpoint.url}: ${endpoint.change}`);
      return;
    }
    default:
      process.stderr.write(`pratai-manage: ${command === undefined ? 'a command is needed' : `unknown command \`${command}\``}\n${USAGE.trim()}\n`);
      process.exitCode = 2;
  }
});
