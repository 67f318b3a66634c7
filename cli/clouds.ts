/**
 * clouds.yaml and secure.yaml as openstacksdk reads them: `OS_CLOUD` (or `--os-cloud`) names a
 * cloud; its settings come from the first clouds.yaml found in `OS_CLIENT_CONFIG_FILE`, the
 * current folder, `$XDG_CONFIG_HOME/openstack` (`~/.config/openstack`) or `/etc/openstack`, with
 * the same cloud of the first secure.yaml found in those places laid over it (secrets kept apart).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CliError } from './errors.js';

/** A cloud's settings, flattened: `auth:` keys and top-level keys side by side, as strings. */
export type CloudSettings = Record<string, string>;

export interface CloudsEnvironment {
  cwd: string;
  home: string;
  /** Variables that move the files: OS_CLIENT_CONFIG_FILE, OS_CLIENT_SECURE_FILE, XDG_CONFIG_HOME. */
  env: Readonly<Record<string, string | undefined>>;
}

export const defaultCloudsEnvironment = (env: Readonly<Record<string, string | undefined>>): CloudsEnvironment => ({ cwd: process.cwd(), home: homedir(), env });

/** The folders searched, in order. */
function configFolders(where: CloudsEnvironment): string[] {
  const xdg = where.env.XDG_CONFIG_HOME || join(where.home, '.config');
  return [where.cwd, join(xdg, 'openstack'), '/etc/openstack'];
}

function findFile(name: string, override: string | undefined, where: CloudsEnvironment): string | undefined {
  if (override) return override;
  return configFolders(where)
    .map((folder) => join(folder, name))
    .find((path) => existsSync(path));
}

function readClouds(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`Cannot read ${path}: ${(error as Error).message}`, 1, { cause: error });
  }
  const clouds = (parsed as { clouds?: unknown } | null)?.clouds;
  if (parsed !== null && parsed !== undefined && (typeof clouds !== 'object' || clouds === null)) {
    throw new CliError(`Expected ${path} to hold a \`clouds:\` mapping of cloud names to settings`);
  }
  return (clouds ?? {}) as Record<string, unknown>;
}

/** The settings of cloud `name`; a cloud that is not there is an error naming the ones that are. */
export function loadCloud(name: string, where: CloudsEnvironment): CloudSettings {
  const cloudsPath = findFile('clouds.yaml', where.env.OS_CLIENT_CONFIG_FILE, where);
  if (cloudsPath === undefined) {
    throw new CliError(`OS_CLOUD is \`${name}\` but no clouds.yaml was found in ${configFolders(where).join(', ')}`);
  }
  const clouds = readClouds(cloudsPath);
  const cloud = clouds[name];
  if (typeof cloud !== 'object' || cloud === null) {
    const known = Object.keys(clouds);
    throw new CliError(`Cloud \`${name}\` was not found in ${cloudsPath}${known.length > 0 ? ` (it has ${known.join(', ')})` : ''}`);
  }
  const securePath = findFile('secure.yaml', where.env.OS_CLIENT_SECURE_FILE, where);
  const secure: unknown = securePath === undefined || !existsSync(securePath) ? undefined : readClouds(securePath)[name];
  return { ...flatten(cloud), ...(typeof secure === 'object' && secure !== null ? flatten(secure) : {}) };
}

/** `auth: {username: u}` and `region_name: r` both become plain keys; `verify: false` becomes `insecure`. */
function flatten(cloud: object): CloudSettings {
  const settings: CloudSettings = {};
  for (const [key, value] of Object.entries(cloud) as [string, unknown][]) {
    if (key === 'auth' && typeof value === 'object' && value !== null) Object.assign(settings, flatten(value));
    else if (key === 'verify') settings.insecure = value === false || value === 'false' ? 'true' : 'false';
    else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') settings[key] = String(value);
  }
  return settings;
}
