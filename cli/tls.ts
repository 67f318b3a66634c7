/**
 * `OS_CACERT` and `--insecure` for Node's fetch. Node takes extra CA certificates
 * (NODE_EXTRA_CA_CERTS) only when it starts, and fetch takes no per-call TLS options, so when
 * either is asked for and not yet in force the CLI runs itself again with them set, passing its
 * streams and its exit code through. Without them it never runs twice.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CliError } from './errors.js';
import type { AuthSettings } from './auth.js';

const isTrue = (value: string | undefined): boolean => value !== undefined && /^(1|true|yes|on)$/i.test(value);

/** The variables the process needs for the settings' TLS, or undefined when they are in force. */
export function tlsVariables(settings: AuthSettings, env: Readonly<Record<string, string | undefined>>): Record<string, string> | undefined {
  const wanted: Record<string, string> = {};
  if (settings.cacert !== undefined) {
    if (!existsSync(settings.cacert)) throw new CliError(`Cannot read the CA bundle OS_CACERT=${settings.cacert}: no such file`);
    if (env.NODE_EXTRA_CA_CERTS !== settings.cacert) wanted.NODE_EXTRA_CA_CERTS = settings.cacert;
  }
  if (isTrue(settings.insecure) && env.NODE_TLS_REJECT_UNAUTHORIZED !== '0') wanted.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  return Object.keys(wanted).length === 0 ? undefined : wanted;
}

/** Runs this same command again with `variables` added; answers its exit code. */
export function runAgainWith(variables: Record<string, string>, env: Readonly<Record<string, string | undefined>>): number {
  // NODE_NO_WARNINGS: Node warns on stderr about NODE_TLS_REJECT_UNAUTHORIZED=0, which the user asked for.
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...env, ...variables, NODE_NO_WARNINGS: '1' } });
  if (child.error) throw child.error;
  return child.status ?? 1;
}
