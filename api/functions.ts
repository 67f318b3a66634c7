/**
 * /v1/functions: create (multipart upload of the zip), list, show, update, delete.
 * Everything is checked before anything is stored; a function is stored, then its build job is
 * queued, and if the queue refuses the function is removed again: nothing half-made remains.
 * A function that asks for network (`network=true`) is taken only when the operator allows it.
 */
import { createHash } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import multer, { MulterError } from 'multer';
import { functionNetworkAllowed } from '../common/config.js';
import { eventSubscriptions, FUNCTION_EVENTS, FUNCTION_TYPES, type FunctionCode, type FunctionSubscription, type FunctionOpenStack, type FunctionRecord, type RuntimeRecord, type TimerRecord } from '../common/domain.js';
import type { FunctionChanges } from '../common/store/store.js';
import { describeValue, PrataiError } from '../common/errors.js';
import { DEFAULT_OPENSTACK_ROLES } from '../common/keystone/trusts.js';
import { newId, now } from '../common/ids.js';
import { requestChange } from '../common/notifications/notifier.js';
import { MAX_CONTEXT_BYTES, MAX_FUNCTION_SECRETS, readContext, readSecretNames, readSubscriptions } from '../common/function-context.js';
import { frequencyPattern, Schedule } from '../common/timers/schedule.js';
import { MAX_NODE_SUBSCRIPTIONS } from '../common/coordination/triggers.js';
import { inspectArchive } from './archive.js';
import { identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed, runMiddleware } from './http.js';
import { allowsOn, authorize, authorizeOn, listScope, visibleScope } from './policy.js';
import { boolean, decimal, integer, oneOf, onlyKnown, text } from './params.js';
import { functionNotFound, userFunction, userFunctions } from './user-functions.js';

const CREATE_FIELDS = ['name', 'description', 'runtime', 'memory', 'cpus', 'timeout', 'retries', 'retry_on_error', 'max_concurrency', 'network', 'public', 'type', 'event', 'frequency', 'subscriptions', 'context', 'secrets', 'openstack_auth', 'openstack_roles'] as const;
const UPDATE_FIELDS = ['name', 'description', 'runtime', 'memory', 'cpus', 'timeout', 'retries', 'retry_on_error', 'max_concurrency', 'network', 'public', 'type', 'subscriptions', 'context', 'secrets', 'openstack_auth', 'openstack_roles'] as const;
/** Most bytes of one multipart field: a context file (comments included) is the largest. */
const MAX_FIELD_BYTES = 4 * MAX_CONTEXT_BYTES;
/** Most retries a function may ask for (as AWS Lambda's event retries, a small number): 10. */
const MAX_RETRIES = 10;
const MAX_CONCURRENCY = 10_000;
/** Multipart fields `secrets` and `subscriptions` may take, once an entry. */
const LIST_FIELDS = 2 * MAX_FUNCTION_SECRETS + MAX_NODE_SUBSCRIPTIONS;
const NAME = { pattern: /^(?![0-9a-f]{32}$)[A-Za-z0-9][A-Za-z0-9_.-]*$/, hint: 'letters, digits, `_`, `.` and `-`, starting with a letter or digit, and not 32 hex characters (that is an id)' };

/** The function as the API shows it: no code, no trust id, the webhook endpoint added. */
export function functionView(fn: FunctionRecord, webhookBase: string, options: { withBuildLog?: boolean } = {}): Record<string, unknown> {
  const { build_log: buildLog, code_sha256: _sha, openstack, ...shown } = fn;
  return {
    ...shown,
    openstack_auth: openstack !== undefined,
    openstack_roles: openstack?.roles ?? [],
    endpoint: `${webhookBase}/function/${fn.function_id}`,
    ...(options.withBuildLog ? { build_log: buildLog } : {}),
  };
}

/** Role names a function's trust delegates: a JSON array or names separated by commas. */
function readRoles(value: unknown): string[] {
  const raw: unknown = typeof value === 'string' && value.trim().startsWith('[') ? JSON.parse(value) : value;
  const names = (Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [raw]).map((name: unknown) => (typeof name === 'string' ? name.trim() : name));
  const roles = names.filter((name) => name !== '');
  if (roles.length === 0 || roles.length > 16 || !roles.every((name) => typeof name === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(name))) {
    throw new PrataiError('InvalidParameter', `Expected \`openstack_roles\` to be 1 to 16 Keystone role names (a JSON array or names separated by commas), got ${describeValue(value)}`);
  }
  return [...new Set(roles as string[])];
}

/** Base URL of the webhooks: configured, or the host the caller reached the API on. */
export function webhookBase(req: Request, deps: ApiDeps): string {
  if (deps.settings.api.webhook_public_url) return deps.settings.api.webhook_public_url.replace(/\/+$/, '');
  const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
  return `http://${host}:${deps.webhookPort()}`;
}

/** Names the image of a function's code on its runtime. */
export const codeSha256 = (runtime: string, code: FunctionCode): string =>
  createHash('sha256').update(`${runtime}\0${code.module}\0${code.requirements}`).digest('hex');

/** The settings a caller may give, each checked; absent ones are left out. */
function readSettings(
  fields: Record<string, unknown>,
): Partial<Pick<FunctionRecord, 'name' | 'description' | 'memory' | 'cpus' | 'timeout' | 'retries' | 'retry_on_error' | 'max_concurrency' | 'network' | 'public' | 'type' | 'context' | 'secrets' | 'subscriptions'>> {
  return {
    ...(fields.name !== undefined && { name: text('name', fields.name, NAME) }),
    ...(fields.description !== undefined && { description: text('description', fields.description, { max: 1024 }) }),
    ...(fields.memory !== undefined && { memory: integer('memory', fields.memory, 64, 4096, 'MiB') }),
    ...(fields.cpus !== undefined && { cpus: decimal('cpus', fields.cpus, 0.1, 16) }),
    ...(fields.timeout !== undefined && { timeout: integer('timeout', fields.timeout, 1, 900, 'seconds') }),
    ...(fields.retries !== undefined && { retries: integer('retries', fields.retries, 0, MAX_RETRIES) }),
    ...(fields.retry_on_error !== undefined && { retry_on_error: boolean('retry_on_error', fields.retry_on_error) }),
    ...(fields.max_concurrency !== undefined && { max_concurrency: integer('max_concurrency', fields.max_concurrency, 0, MAX_CONCURRENCY, '0: no limit') }),
    ...(fields.network !== undefined && { network: boolean('network', fields.network) }),
    ...(fields.public !== undefined && { public: boolean('public', fields.public) }),
    ...(fields.type !== undefined && { type: oneOf('type', fields.type, FUNCTION_TYPES) }),
    ...(fields.context !== undefined && { context: readContext(fields.context) }),
    // That they exist in the function's project, the store checks as it stores them.
    ...(fields.secrets !== undefined && { secrets: readSecretNames(fields.secrets) }),
    // That the events are its project's, the store checks as it stores them; nodes are always its project's.
    ...(fields.subscriptions !== undefined && { subscriptions: readSubscriptions(fields.subscriptions) }),
  };
}

/**
 * The original guide's event sources on create: `timer` with `frequency` (minutes) makes a job
 * of the function firing that often; `message` subscribes to events or nodes (`subscriptions`).
 */
function readEventSource(fields: Record<string, unknown>, subscriptions: readonly FunctionSubscription[] | undefined): { event: FunctionRecord['event']; pattern?: string } {
  const event = fields.event === undefined ? 'webhook' : oneOf('event', fields.event, FUNCTION_EVENTS);
  if (event !== 'timer' && fields.frequency !== undefined) throw new PrataiError('InvalidParameter', `Expected \`frequency\` only with \`event\` timer, got it with \`event\` ${event}`);
  if (event === 'timer') {
    if (fields.frequency === undefined) throw new PrataiError('InvalidParameter', 'Expected `frequency` (minutes between calls) with `event` timer, got nothing');
    return { event, pattern: frequencyPattern(integer('frequency', fields.frequency, 1, 1440, 'minutes')) };
  }
  if (event === 'message' && (subscriptions === undefined || subscriptions.length === 0)) {
    throw new PrataiError('InvalidParameter', 'Expected `subscriptions` (the events or nodes it subscribes to) with `event` message, got none');
  }
  return { event };
}

export function functionsRouter(deps: ApiDeps): Router {
  const { store, queue, settings, log } = deps;
  const router = Router();
  const upload = multer({
    storage: multer.memoryStorage(),
    // `secrets` and `subscriptions` may come once an entry.
    limits: { fileSize: settings.api.max_zip_bytes, files: 1, fields: CREATE_FIELDS.length + LIST_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: CREATE_FIELDS.length + LIST_FIELDS + 1 },
  }).single('zip');
  const json = express.json({ limit: MAX_FIELD_BYTES });

  /** Reads a multipart upload (or, where `allowJson`, a JSON body): its fields and its zip, if any. */
  const readBody = async (req: Request, res: Response, allowJson: boolean): Promise<{ fields: Record<string, unknown>; zip?: Buffer }> => {
    if (allowJson && req.is('application/json')) {
      await runMiddleware(json, req, res);
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', 'Expected a JSON object of the fields to change');
      return { fields: body as Record<string, unknown> };
    }
    if (!req.is('multipart/form-data')) {
      throw new PrataiError('ZipMissing', `Expected a multipart/form-data upload with the function zip in the file field \`zip\`${allowJson ? ', or a JSON object of the fields to change' : ''}`);
    }
    await runMiddleware(upload, req, res).catch((error: unknown) => {
      throw translateMulterError(error, settings.api.max_zip_bytes);
    });
    return { fields: (req.body ?? {}) as Record<string, unknown>, ...(req.file && { zip: req.file.buffer }) };
  };

  const findRuntime = async (name: unknown): Promise<RuntimeRecord> => {
    const runtimeName = text('runtime', name);
    const runtime = await store.getRuntime(runtimeName);
    if (runtime === undefined) {
      const names = (await store.listRuntimes()).map((r) => r.name);
      throw new PrataiError('RuntimeNotFound', `Expected \`runtime\` to be one of ${names.join(', ')}, got \`${runtimeName}\``);
    }
    return runtime;
  };

  const readZip = (zip: Buffer): FunctionCode & { ignoredEntries: number } => {
    const archive = inspectArchive(zip, { maxEntries: settings.api.max_zip_entries, maxUncompressedBytes: settings.api.max_unpacked_bytes });
    return { module: archive.module, requirements: archive.requirements, ignoredEntries: archive.ignoredEntries };
  };

  /** Queues the build of a function's new code; if the queue refuses, `undo` puts things back. */
  const queueBuild = async (fn: FunctionRecord, undo: () => Promise<unknown>): Promise<void> => {
    try {
      await queue.publish({ kind: 'build', function_id: fn.function_id, code_sha256: fn.code_sha256 });
    } catch (error) {
      await undo();
      throw error;
    }
  };

  /**
   * Refuses network to a function (`owned`: stored, or about to be) unless the operator allows it:
   * `[runner] network` names a network here (every process reads the same pratai.conf, so the
   * runners have it too) and the policy rule `function:network` lets the caller ask for it.
   */
  const allowNetwork = (res: Response, owned: { tenant_id: string; user_id: string }): void => {
    if (!functionNetworkAllowed(settings)) {
      throw new PrataiError('NetworkNotAllowed', 'Expected `network` to be false: the operator gives no function network here ([runner] network = none)');
    }
    if (!allowsOn(deps.policy, res, 'function:network', owned)) {
      throw new PrataiError('NetworkNotAllowed', `Expected \`network\` to be false: the policy rule function:network does not allow it with the roles ${identityOf(res).roles.join(', ') || '(none)'}`);
    }
  };

  /**
   * Functions' Keystone trusts, made and deleted with the caller's token. Deleting one Keystone
   * lets only its trustor (or an admin) do: another member's delete leaves it (logged); it is of
   * no use to anyone but Pratai's service user, which no function names any more.
   */
  const trusts = {
    create: (req: Request, res: Response, roles: readonly string[]): Promise<FunctionOpenStack> => {
      if (deps.trusts === undefined) {
        throw new PrataiError('TrustInvalid', 'Expected `openstack_auth` to be false: functions get an OpenStack identity only with Keystone ([DEFAULT] auth_strategy = keystone)');
      }
      const { userId, tenantId } = identityOf(res);
      return deps.trusts.create(req.headers['x-auth-token'] as string, { userId, projectId: tenantId }, roles);
    },
    remove: async (req: Request, openstack: FunctionOpenStack): Promise<void> => {
      const token = req.headers['x-auth-token'];
      const deleted = deps.trusts !== undefined && typeof token === 'string' && (await deps.trusts.delete(token, openstack).catch((error: Error) => {
        log.warning(`trust ${openstack.trust_id} could not be deleted: ${error.message}`);
        return false;
      }));
      if (!deleted) log.warning(`trust ${openstack.trust_id} of user ${openstack.trustor_user_id} is left in Keystone: only its trustor or an admin can delete it`);
    },
  };

  /** The function, if the caller can see it (else 404) and may do `action` on it (else 403). */
  const getScoped = async (res: Response, functionId: string, action: string): Promise<FunctionRecord> => {
    const fn = await userFunction(store, functionId, visibleScope(deps.policy, res));
    if (fn === undefined) throw functionNotFound(functionId);
    authorizeOn(deps.policy, res, action, fn);
    return fn;
  };

  router
    .route('/')
    .get(async (req, res) => {
      const functions = await userFunctions(store, listScope(deps.policy, res, 'function:list', req.query.all_tenants));
      res.json({ functions: functions.map((fn) => functionView(fn, webhookBase(req, deps))) });
    })
    .post(async (req, res) => {
      authorize(deps.policy, res, 'function:create');
      const { fields, zip } = await readBody(req, res, false);
      onlyKnown('field', fields, CREATE_FIELDS);
      if (fields.name === undefined) throw new PrataiError('InvalidParameter', 'Expected `name`, the name of the function, got nothing');
      const runtime = await findRuntime(fields.runtime ?? 'python3');
      const given = readSettings(fields);
      const source = readEventSource(fields, given.subscriptions);
      const qualified = eventSubscriptions(given.subscriptions ?? []).find((entry) => entry.includes(':'));
      if (qualified !== undefined) {
        throw new PrataiError('InvalidParameter', `Expected \`subscriptions\` of a new function to name events alone, got \`${qualified}\`: it has no version nor alias to run yet (publish one, then subscribe it with PATCH)`);
      }
      const identity = identityOf(res);
      if (given.network === true) allowNetwork(res, { tenant_id: identity.tenantId, user_id: identity.userId });
      if (zip === undefined) throw new PrataiError('ZipMissing', 'Expected the function zip in the multipart file field `zip`, got no file');
      const { ignoredEntries, ...code } = readZip(zip);
      const identityWanted = fields.openstack_auth !== undefined && boolean('openstack_auth', fields.openstack_auth);
      const roles = fields.openstack_roles === undefined ? undefined : readRoles(fields.openstack_roles);
      // Made before the function is stored, and deleted again if it is not: nothing half-made.
      const openstack = identityWanted ? await trusts.create(req, res, roles ?? DEFAULT_OPENSTACK_ROLES) : undefined;
      const at = now();
      const fn: FunctionRecord = {
        function_id: newId(),
        user_id: identity.userId,
        tenant_id: identity.tenantId,
        name: given.name as string,
        description: given.description ?? '',
        type: given.type ?? 'async',
        event: source.event,
        public: given.public ?? false,
        runtime: runtime.name,
        memory: given.memory ?? 128,
        cpus: given.cpus ?? 1,
        timeout: given.timeout ?? 30,
        retries: given.retries ?? 0,
        retry_on_error: given.retry_on_error ?? false,
        max_concurrency: given.max_concurrency ?? 0,
        network: given.network ?? false,
        context: given.context ?? {},
        secrets: given.secrets ?? [],
        subscriptions: given.subscriptions ?? [],
        ...(openstack && { openstack }),
        status: 'building',
        build_log: '',
        code_sha256: codeSha256(runtime.name, code),
        created_at: at,
        updated_at: at,
      };
      try {
        await store.createFunction(fn, code);
        await queueBuild(fn, () => store.deleteFunction(fn.function_id));
        if (source.pattern !== undefined) {
          await store.createTimer(frequencyTimer(fn, source.pattern)).catch(async (error: unknown) => {
            await store.deleteFunction(fn.function_id);
            throw error;
          });
        }
      } catch (error) {
        if (openstack) await trusts.remove(req, openstack);
        throw error;
      }
      if (source.pattern !== undefined) deps.timersChanged?.();
      log.info(`function ${fn.function_id} (${fn.name}) created; ${ignoredEntries} archive entries ignored`, res.locals.requestId as string);
      res.status(201).json({ function: functionView(fn, webhookBase(req, deps), { withBuildLog: true }), ignored_entries: ignoredEntries });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:function_id')
    .get(async (req, res) => {
      const fn = await getScoped(res, req.params.function_id, 'function:get');
      const base = webhookBase(req, deps);
      // Its published versions and aliases, each with its webhook endpoint (api/versions.ts has the rest).
      const [versions, aliases] = await Promise.all([store.listVersions(fn.function_id), store.listAliases(fn.function_id)]);
      res.json({
        function: {
          ...functionView(fn, base, { withBuildLog: true }),
          versions: versions.map((v) => ({ version: v.version, endpoint: `${base}/function/${fn.function_id}/versions/${v.version}` })),
          aliases: aliases.map((a) => ({ name: a.name, version: a.version, weights: a.weights, endpoint: `${base}/function/${fn.function_id}/aliases/${a.name}` })),
        },
      });
    })
    .patch(async (req, res) => {
      const fn = await getScoped(res, req.params.function_id, 'function:update');
      const { fields, zip } = await readBody(req, res, true);
      onlyKnown('field', fields, UPDATE_FIELDS);
      const runtime = fields.runtime === undefined ? undefined : await findRuntime(fields.runtime);
      const given = readSettings(fields);
      if (given.network === true) allowNetwork(res, fn);
      const newCode = zip === undefined ? undefined : readZip(zip);
      // New code, or the same code on another runtime, makes a new image.
      const code = newCode ?? (runtime && runtime.name !== fn.runtime ? await store.getFunctionCode(fn.function_id) : undefined);
      const newSha = code && codeSha256(runtime?.name ?? fn.runtime, code);
      const identityWanted = fields.openstack_auth === undefined ? fn.openstack !== undefined : boolean('openstack_auth', fields.openstack_auth);
      const roles = fields.openstack_roles === undefined ? undefined : readRoles(fields.openstack_roles);
      // A new trust when one is asked for, or other roles: the caller becomes its trustor.
      const newIdentity = identityWanted && (fn.openstack === undefined || (roles !== undefined && roles.join() !== fn.openstack.roles.join()))
        ? await trusts.create(req, res, roles ?? fn.openstack?.roles ?? DEFAULT_OPENSTACK_ROLES)
        : undefined;
      const oldIdentity = fn.openstack !== undefined && (!identityWanted || newIdentity !== undefined) ? fn.openstack : undefined;
      const rebuild = newSha !== undefined && newSha !== fn.code_sha256;
      const changes: FunctionChanges = {
        ...given,
        ...(runtime && { runtime: runtime.name }),
        ...(rebuild && { code_sha256: newSha, status: 'building' as const, build_log: '' }),
        ...(newIdentity ? { openstack: newIdentity } : oldIdentity ? { openstack: null } : {}),
        updated_at: now(),
      };
      const oldCode = rebuild ? await store.getFunctionCode(fn.function_id) : undefined;
      let stored: boolean;
      try {
        stored = await store.updateFunction(fn.function_id, changes, rebuild ? code : undefined);
      } catch (error) {
        if (newIdentity) await trusts.remove(req, newIdentity);
        throw error;
      }
      if (!stored) {
        if (newIdentity) await trusts.remove(req, newIdentity);
        throw new PrataiError('FunctionNotFound', `No function with id \`${fn.function_id}\` in this project`);
      }
      if (oldIdentity) await trusts.remove(req, oldIdentity);
      const { openstack: identity, ...settingChanges } = changes;
      const updated: FunctionRecord = { ...fn, ...settingChanges };
      if (identity === null) delete updated.openstack;
      else if (identity !== undefined) updated.openstack = identity;
      if (rebuild) {
        await queueBuild(updated, () =>
          store.updateFunction(fn.function_id, pickChanges(fn), oldCode),
        );
      }
      log.info(`function ${fn.function_id} updated${rebuild ? '; new code is being built' : ''}`, res.locals.requestId as string);
      res.json({ function: functionView(updated, webhookBase(req, deps), { withBuildLog: true }) });
    })
    .delete(async (req, res) => {
      const fn = await getScoped(res, req.params.function_id, 'function:delete');
      await store.deleteFunction(fn.function_id);
      if (fn.openstack) await trusts.remove(req, fn.openstack);
      // Those who wait for its queued requests hear of their end (a wait for one not listed here,
      // past the first thousand, ends at its deadline, when the store is read).
      const queued = await store.listRequests('all-tenants', { functionId: fn.function_id, status: 'queued', limit: 1000 });
      const cancelled = await store.cancelQueuedRequests(fn.function_id, 'The function was deleted', now());
      for (const request of queued) deps.notifier.publish({ kind: 'request', request: { ...requestChange(request), status: 'cancelled' } });
      // Image removal is the runners' job (the API never talks to Docker); a lost message only
      // leaves an unused image behind.
      await queue.publish({ kind: 'forget', function_id: fn.function_id }).catch((error: Error) => log.warning(`could not queue image removal for ${fn.function_id}: ${error.message}`));
      log.info(`function ${fn.function_id} deleted; ${cancelled} queued request(s) cancelled`, res.locals.requestId as string);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'PATCH', 'DELETE']));

  return router;
}

/** The job that `event=timer` with a frequency makes of a new function. */
function frequencyTimer(fn: FunctionRecord, pattern: string): TimerRecord {
  const at = new Date();
  return {
    timer_id: newId(),
    tenant_id: fn.tenant_id,
    user_id: fn.user_id,
    function_id: fn.function_id,
    name: `${fn.name}-frequency`,
    pattern,
    timezone: 'UTC',
    payload: null,
    status: 'running',
    count: null,
    executions: 0,
    skipped: 0,
    first_execution_time: null,
    next_execution_time: Schedule.parse(pattern, 'UTC').nextAfter(at)?.toISOString() ?? null,
    last_execution_time: null,
    last_request_ids: [],
    qualifier: null,
    version: 0,
    created_at: at.toISOString(),
    updated_at: at.toISOString(),
  };
}

/** A function's changeable fields as they are: what an undo writes back. */
function pickChanges(fn: FunctionRecord): FunctionChanges {
  const { name, description, memory, cpus, timeout, retries, retry_on_error, max_concurrency, network, public: isPublic, type, runtime, status, build_log, code_sha256, context, secrets, subscriptions, updated_at } = fn;
  return { name, description, memory, cpus, timeout, retries, retry_on_error, max_concurrency, network, public: isPublic, type, runtime, status, build_log, code_sha256, context, secrets, subscriptions, updated_at };
}

function translateMulterError(error: unknown, maxZipBytes: number): unknown {
  if (!(error instanceof MulterError)) return error;
  switch (error.code) {
    case 'LIMIT_FIELD_VALUE':
      return new PrataiError('InvalidParameter', `Expected the field \`${error.field ?? '?'}\` to take at most ${MAX_FIELD_BYTES} bytes`);
    case 'LIMIT_FILE_SIZE':
      return new PrataiError('ZipTooLarge', `The zip is over the upload limit of ${maxZipBytes} bytes`);
    case 'LIMIT_UNEXPECTED_FILE':
      return new PrataiError('InvalidParameter', `Unexpected file field \`${error.field ?? '?'}\`; the function zip goes in the field \`zip\`, once`);
    default:
      return new PrataiError('InvalidParameter', `The multipart upload was refused: ${error.message}`);
  }
}
