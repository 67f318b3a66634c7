/**
 * Who may do what: rules in oslo.policy's syntax, which OpenStack operators already write, with
 * defaults an operator overrides in a YAML or JSON file ([oslo_policy] policy_file) that is
 * re-read when it changes. `pratai-manage policy-sample` prints the defaults (etc/policy.yaml).
 *
 * A check string combines `role:NAME`, `rule:NAME`, `KEY:%(target_key)s` (a value of the caller
 * against one of the resource), `KEY:literal`, `@` (always), `!` (never), `not`, `and`, `or` and
 * parentheses; an empty string allows everyone. The caller's values are `user_id`, `project_id`
 * and `roles`; a resource's are its `project_id` (its tenant) and `user_id` (its owner).
 *
 * Tenancy does not rest on the rules alone: handlers fetch only what `visibleScope` lets the
 * caller see, so another project's function stays a 404 even under a careless rule.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Response } from 'express';
import { parse as parseYaml } from 'yaml';
import type { Settings } from '../common/config.js';
import type { Identity } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Scope } from '../common/store/store.js';
import { identityOf, scopeOf } from './auth.js';
import { boolean } from './params.js';

/** A rule as shipped: its name, check string and what it decides. */
export interface RuleDefault {
  readonly name: string;
  readonly check: string;
  readonly description: string;
}

/** Read when `[oslo_policy] policy_file` is empty and it exists, as oslo.policy looks for policy.yaml. */
export const DEFAULT_POLICY_FILE = '/etc/pratai/policy.yaml';

const OWNER_READER = 'rule:context_is_admin or (rule:owner and rule:reader)';
const OWNER_MEMBER = 'rule:context_is_admin or (rule:owner and rule:member)';

export const POLICY_DEFAULTS: readonly RuleDefault[] = [
  { name: 'context_is_admin', check: 'role:admin', description: "Administrators: they see and act on every project's functions and requests." },
  { name: 'owner', check: 'project_id:%(project_id)s', description: 'The caller belongs to the project that owns the resource.' },
  { name: 'reader', check: 'role:reader or role:member or role:admin', description: 'Roles that may read.' },
  { name: 'member', check: 'role:member or role:admin', description: 'Roles that may write.' },
  { name: 'function:list', check: 'rule:reader', description: "GET /v1/functions: list the project's functions." },
  { name: 'function:list:all_tenants', check: 'rule:context_is_admin', description: "GET /v1/functions?all_tenants=true: list every project's functions." },
  { name: 'function:get', check: OWNER_READER, description: 'GET /v1/functions/{function_id}' },
  { name: 'function:create', check: 'rule:owner and rule:member', description: 'POST /v1/functions' },
  { name: 'function:update', check: OWNER_MEMBER, description: 'PATCH /v1/functions/{function_id}' },
  { name: 'function:delete', check: OWNER_MEMBER, description: 'DELETE /v1/functions/{function_id}' },
  {
    name: 'function:network',
    check: OWNER_MEMBER,
    description: "POST /v1/functions and PATCH /v1/functions/{function_id} with network=true: give the function's containers the operator's [runner] network (never when that is none).",
  },
  { name: 'function:invoke', check: 'rule:owner and rule:member', description: "POST /function/{function_id} (and …/versions/{version}, …/aliases/{name}) on a private function's webhook (a public one takes anonymous calls)." },
  { name: 'function:version:publish', check: OWNER_MEMBER, description: 'POST /v1/functions/{function_id}/versions: publish the function as it is as a version.' },
  { name: 'function:version:list', check: OWNER_READER, description: 'GET /v1/functions/{function_id}/versions' },
  { name: 'function:version:get', check: OWNER_READER, description: 'GET /v1/functions/{function_id}/versions/{version}' },
  { name: 'function:version:delete', check: OWNER_MEMBER, description: 'DELETE /v1/functions/{function_id}/versions/{version}: delete a version no alias targets.' },
  { name: 'function:alias:create', check: OWNER_MEMBER, description: 'POST /v1/functions/{function_id}/aliases' },
  { name: 'function:alias:list', check: OWNER_READER, description: 'GET /v1/functions/{function_id}/aliases' },
  { name: 'function:alias:get', check: OWNER_READER, description: 'GET /v1/functions/{function_id}/aliases/{name}' },
  { name: 'function:alias:update', check: OWNER_MEMBER, description: 'PATCH /v1/functions/{function_id}/aliases/{name}: move it to another version, or change its weights.' },
  { name: 'function:alias:delete', check: OWNER_MEMBER, description: 'DELETE /v1/functions/{function_id}/aliases/{name}' },
  { name: 'coordination:read', check: 'rule:reader', description: "GET /v1/coordination/...: read the project's coordination nodes, its sessions and their events." },
  { name: 'coordination:write', check: 'rule:member', description: "POST, PUT, DELETE /v1/coordination/...: change the project's coordination nodes, open and close sessions." },
  { name: 'request:list', check: 'rule:reader', description: "GET /v1/requests: list the project's requests." },
  { name: 'request:list:all_tenants', check: 'rule:context_is_admin', description: "GET /v1/requests?all_tenants=true: list every project's requests." },
  { name: 'request:get', check: OWNER_READER, description: 'GET /v1/requests/{request_id} and its /logs' },
  { name: 'request:cancel', check: OWNER_MEMBER, description: 'POST /v1/requests/{request_id}/cancel' },
  { name: 'request:redrive', check: 'rule:context_is_admin', description: 'POST /v1/requests/{request_id}/redrive: queue a dead-lettered request again, its attempts reset (administrators).' },
  { name: 'secret:list', check: 'rule:reader', description: "GET /v1/secrets: list the project's secrets (names, versions, the functions that use them; never values)." },
  { name: 'secret:get', check: OWNER_READER, description: "GET /v1/secrets/{name}: one secret's metadata, never its value." },
  { name: 'secret:create', check: 'rule:owner and rule:member', description: 'POST /v1/secrets' },
  { name: 'secret:update', check: OWNER_MEMBER, description: 'PUT /v1/secrets/{name}: change its value.' },
  { name: 'secret:delete', check: OWNER_MEMBER, description: 'DELETE /v1/secrets/{name}: delete a secret no function uses.' },
  { name: 'job:list', check: 'rule:reader', description: "GET /v1/jobs: list the project's jobs (timers)." },
  { name: 'job:list:all_tenants', check: 'rule:context_is_admin', description: "GET /v1/jobs?all_tenants=true: list every project's jobs." },
  { name: 'job:get', check: OWNER_READER, description: 'GET /v1/jobs/{job_id}' },
  { name: 'job:create', check: OWNER_MEMBER, description: "POST /v1/jobs: a timer of one of the project's functions." },
  { name: 'job:update', check: OWNER_MEMBER, description: 'PATCH /v1/jobs/{job_id}: change, pause or resume it.' },
  { name: 'job:delete', check: OWNER_MEMBER, description: 'DELETE /v1/jobs/{job_id}' },
  { name: 'event:list', check: 'rule:reader', description: "GET /v1/events and GET /v1/events/{name}: the project's events and their subscribers." },
  { name: 'event:create', check: 'rule:owner and rule:member', description: 'POST /v1/events' },
  { name: 'event:delete', check: OWNER_MEMBER, description: 'DELETE /v1/events/{name}: delete an event no function subscribes to.' },
  { name: 'event:publish', check: OWNER_MEMBER, description: "POST /v1/events/{name}/messages: a request of each subscribed function." },
  { name: 'runtime:list', check: 'rule:reader', description: 'GET /v1/runtimes and GET /v1/runtimes/{name}' },
  { name: 'runtime:create', check: 'rule:context_is_admin', description: 'POST /v1/runtimes: add a runtime (administrators).' },
  { name: 'runtime:delete', check: 'rule:context_is_admin', description: 'DELETE /v1/runtimes/{name}: remove a runtime no function uses (administrators).' },
  { name: 'runner:list', check: 'rule:context_is_admin', description: 'GET /v1/runners: the runners, their heartbeats, load and containers (administrators).' },
  { name: 'runner:drain', check: 'rule:context_is_admin', description: 'POST /v1/runners/{id}/drain: a runner takes no new jobs and finishes what it holds (administrators).' },
];

/** What a rule is checked against: the caller, as its token says. */
export interface Credentials {
  readonly user_id: string;
  readonly project_id: string;
  readonly roles: readonly string[];
}

/** The resource acted on: the project that owns it and the user who made it. */
export interface Target {
  readonly project_id: string;
  readonly user_id?: string;
}

type Check = (credentials: Credentials, target: Target, rules: ReadonlyMap<string, Check>, depth: number) => boolean;

/** A rule's text that is not a check string. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

/** Compiles one check string; throws PolicyError saying where it went wrong. */
export function parseCheck(text: string): Check {
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const fail = (why: string): never => {
    throw new PolicyError(`${why} in \`${text}\``);
  };

  /** Operands joined by `word`: any of them must hold (`or`), or all (`and`). */
  const joined = (word: 'or' | 'and', operand: () => Check): Check => {
    const parts = [operand()];
    while (peek()?.toLowerCase() === word) {
      at += 1;
      parts.push(operand());
    }
    if (parts.length === 1) return parts[0] as Check;
    return word === 'or' ? (c, t, r, d) => parts.some((part) => part(c, t, r, d)) : (c, t, r, d) => parts.every((part) => part(c, t, r, d));
  };
  const orExpr = (): Check => joined('or', andExpr);
  const andExpr = (): Check => joined('and', notExpr);
  const notExpr = (): Check => {
    if (peek()?.toLowerCase() !== 'not') return atom();
    at += 1;
    const inner = notExpr();
    return (c, t, r, d) => !inner(c, t, r, d);
  };
  const atom = (): Check => {
    const token = tokens[at];
    at += 1;
    if (token === undefined) return fail('a check is missing at the end');
    if (token === '(') {
      const inner = orExpr();
      if (tokens[at] !== ')') fail('a `)` is missing');
      at += 1;
      return inner;
    }
    if (token === '@') return () => true;
    if (token === '!') return () => false;
    return singleCheck(token, fail);
  };

  if (tokens.length === 0) return () => true;
  const check = orExpr();
  if (at < tokens.length) fail(`unexpected \`${tokens[at]}\``);
  return check;
}

/** Words split at spaces, with parentheses at their ends apart (as oslo.policy does: `%(x)s` stays whole). */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const [, open = '', core = '', close = ''] = /^(\(*)(.*?)(\)*)$/.exec(word) ?? [];
    // A check ending in `%(key)s` keeps that closing parenthesis: only the ones after it close groups.
    tokens.push(...open, ...(core ? [core] : []), ...close);
  }
  return tokens;
}

const MAX_RULE_DEPTH = 20;

function singleCheck(token: string, fail: (why: string) => never): Check {
  const colon = token.indexOf(':');
  if (colon <= 0) return fail(`\`${token}\` is not a check (expected kind:value, @ or !)`);
  const kind = token.slice(0, colon);
  const value = token.slice(colon + 1);
  if (kind === 'role') {
    const role = value.toLowerCase();
    return (credentials) => credentials.roles.some((held) => held.toLowerCase() === role);
  }
  if (kind === 'rule') {
    return (credentials, target, rules, depth) => {
      const rule = rules.get(value);
      return rule !== undefined && depth < MAX_RULE_DEPTH && rule(credentials, target, rules, depth + 1);
    };
  }
  if (!['user_id', 'project_id'].includes(kind)) return fail(`\`${kind}\` is not something a caller has (role, rule, user_id, project_id)`);
  const key = kind as 'user_id' | 'project_id';
  const substitution = /^%\((\w+)\)s$/.exec(value);
  if (substitution) {
    const targetKey = substitution[1] as string;
    if (!['project_id', 'user_id'].includes(targetKey)) return fail(`\`%(${targetKey})s\` is not something a resource has (project_id, user_id)`);
    return (credentials, target) => target[targetKey as keyof Target] !== undefined && credentials[key] === target[targetKey as keyof Target];
  }
  return (credentials) => credentials[key] === value;
}

/** Compiles a set of rules; every `rule:NAME` must name one of them. */
function compile(rules: ReadonlyMap<string, string>, source: string): Map<string, Check> {
  const compiled = new Map<string, Check>();
  for (const [name, text] of rules) {
    try {
      compiled.set(name, parseCheck(text));
    } catch (error) {
      throw new PolicyError(`${source}: rule \`${name}\`: ${(error as Error).message}`);
    }
    for (const [, referenced] of text.matchAll(/rule:([^\s()]+)/g)) {
      if (!rules.has(referenced as string)) throw new PolicyError(`${source}: rule \`${name}\` refers to \`rule:${referenced}\`, which is not defined`);
    }
  }
  return compiled;
}

function readRulesFile(file: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PolicyError(`cannot read policy file ${file}: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return new Map();
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new PolicyError(`policy file ${file}: expected a map of rule names to check strings`);
  const rules = new Map<string, string>();
  for (const [name, check] of Object.entries(parsed)) {
    if (typeof check !== 'string') throw new PolicyError(`policy file ${file}: rule \`${name}\` must be a check string, got ${typeof check}`);
    rules.set(name, check);
  }
  return rules;
}

/**
 * The rules in force: the defaults, overridden by the policy file when there is one. The file is
 * looked at again on every decision (a stat) and re-read when it changed; a file that no longer
 * reads keeps the rules it had, with an error in the log.
 */
export class Policy {
  private rules: Map<string, Check>;
  private seen: string | undefined;

  /** Throws PolicyError when the file (when given) cannot be read or holds a bad rule. */
  constructor(
    private readonly file: string | undefined,
    private readonly log: Logger,
  ) {
    this.seen = this.fileState();
    this.rules = this.load();
  }

  /** The policy `[oslo_policy] policy_file` names; throws PolicyError when it cannot be used. */
  static fromSettings(settings: Settings, log: Logger): Policy {
    const configured = settings.oslo_policy.policy_file;
    if (configured !== '' && !existsSync(configured)) throw new PolicyError(`[oslo_policy] policy_file ${configured} does not exist`);
    const file = configured || (existsSync(DEFAULT_POLICY_FILE) ? DEFAULT_POLICY_FILE : undefined);
    return new Policy(file, log);
  }

  /** Whether `credentials` may do `action` on `target`. An action without a rule is refused. */
  allows(action: string, credentials: Credentials, target: Target): boolean {
    this.reloadIfChanged();
    const rule = this.rules.get(action);
    return rule !== undefined && rule(credentials, target, this.rules, 0);
  }

  private load(): Map<string, Check> {
    const rules = new Map(POLICY_DEFAULTS.map((rule) => [rule.name, rule.check]));
    if (this.file !== undefined) for (const [name, check] of readRulesFile(this.file)) rules.set(name, check);
    return compile(rules, this.file ?? 'default policy');
  }

  private fileState(): string | undefined {
    if (this.file === undefined) return undefined;
    try {
      const stat = statSync(this.file);
      return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch {
      return 'missing';
    }
  }

  private reloadIfChanged(): void {
    const state = this.fileState();
    if (state === this.seen) return;
    this.seen = state;
    try {
      this.rules = this.load();
      this.log.info(`policy file ${this.file} re-read`);
    } catch (error) {
      this.log.error(`${(error as Error).message}; the rules read before stay in force`);
    }
  }
}

/** The commented YAML of every default rule: what `pratai-manage policy-sample` prints. */
export function policySample(): string {
  const lines = [
    '# Pratai policy (oslo.policy syntax). Every rule is shown at its default, commented out:',
    '# uncomment and change one to override it. Read from [oslo_policy] policy_file',
    '# (default /etc/pratai/policy.yaml) and re-read when the file changes.',
    '# Generated by `pratai-manage policy-sample`.',
  ];
  for (const rule of POLICY_DEFAULTS) lines.push('', `# ${rule.description}`, `#${JSON.stringify(rule.name)}: ${JSON.stringify(rule.check)}`);
  return `${lines.join('\n')}\n`;
}

const credentialsOf = (identity: Identity): Credentials => ({ user_id: identity.userId, project_id: identity.tenantId, roles: identity.roles });

/** Throws Forbidden unless the caller may do `action` on `target` (default: its own project). */
export function authorize(policy: Policy, res: Response, action: string, target?: Target): void {
  authorizeCaller(policy, identityOf(res), action, target);
}

/** `authorize`, for a caller known by its identity rather than by the response it is answered with. */
export function authorizeCaller(policy: Policy, identity: Identity, action: string, target?: Target): void {
  const credentials = credentialsOf(identity);
  if (!policy.allows(action, credentials, target ?? { project_id: credentials.project_id })) {
    throw new PrataiError('Forbidden', `Policy does not allow ${action} with the roles ${credentials.roles.join(', ') || '(none)'}`);
  }
}

/**
 * The rows a caller may find by id: every project's for an administrator (`context_is_admin`),
 * else its own project's. What is outside is a 404, whatever the policy says of the action.
 */
export function visibleScope(policy: Policy, res: Response): Scope {
  return callerScope(policy, identityOf(res));
}

/** `visibleScope` of a caller known by its identity. */
export function callerScope(policy: Policy, identity: Identity): Scope {
  const credentials = credentialsOf(identity);
  return policy.allows('context_is_admin', credentials, { project_id: credentials.project_id }) ? 'all-tenants' : { tenantId: identity.tenantId };
}

/** Whether the caller may do `action` on a function or request (stored, or about to be): its tenant and owner are the target. */
export function allowsOn(policy: Policy, res: Response, action: string, owned: { tenant_id: string; user_id: string }): boolean {
  return policy.allows(action, credentialsOf(identityOf(res)), { project_id: owned.tenant_id, user_id: owned.user_id });
}

/** `authorize` on a stored function or request: its tenant and owner are the target. */
export function authorizeOn(policy: Policy, res: Response, action: string, owned: { tenant_id: string; user_id: string }): void {
  authorize(policy, res, action, { project_id: owned.tenant_id, user_id: owned.user_id });
}

/**
 * What a listing covers: the caller's project, or with `?all_tenants=true` every project (when
 * `<action>:all_tenants` allows it; 403 otherwise, rather than a quietly narrower list).
 */
export function listScope(policy: Policy, res: Response, action: string, allTenants: unknown): Scope {
  authorize(policy, res, action);
  if (allTenants === undefined || !boolean('all_tenants', allTenants)) return scopeOf(res);
  authorize(policy, res, `${action}:all_tenants`);
  return 'all-tenants';
}
