/**
 * /v1/jobs: timers, as the API and Qinling call them. A job makes a request of its function at
 * each instant of its cron pattern (read in its time zone), with its payload, until its count is
 * spent; it can be paused, resumed, changed and deleted. Its `function_id` may name a version or
 * an alias of the function (`FUNCTION:QUALIFIER`), resolved at each tick as a webhook call of it
 * would be; none runs `latest`. Every process's scheduler fires them
 * (common/timers/scheduler.ts); this file only checks and stores them. In code a job is a timer,
 * so that "job" keeps meaning a message on the queue.
 */
import express, { Router, type Request, type Response } from 'express';
import type { FunctionRecord, TimerRecord } from '../common/domain.js';
import { describeValue, PrataiError } from '../common/errors.js';
import { isId, newId } from '../common/ids.js';
import type { Scope, Store, TimerChanges } from '../common/store/store.js';
import { qualified, splitQualified } from '../common/qualifier.js';
import { Schedule } from '../common/timers/schedule.js';
import { identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed, runMiddleware } from './http.js';
import { integer, oneOf, onlyKnown, text } from './params.js';
import { authorizeOn, listScope, visibleScope } from './policy.js';
import { functionNotFound, userFunction, userFunctions } from './user-functions.js';

const CREATE_FIELDS = ['function_id', 'name', 'pattern', 'timezone', 'payload', 'first_execution_time', 'count'] as const;
const UPDATE_FIELDS = ['name', 'pattern', 'timezone', 'payload', 'count', 'status'] as const;
/** Most firings a count may ask for: large enough for any use, small enough to stay an integer everywhere. */
const MAX_COUNT = 1_000_000_000;
/** Times a PATCH reads again after a scheduler's claim changed the timer under it. */
const UPDATE_ATTEMPTS = 5;

/** A timer as the API shows it: a job, `job_id` its id. */
export function jobView(timer: TimerRecord): Record<string, unknown> {
  const { timer_id: jobId, version: _version, ...shown } = timer;
  return { job_id: jobId, ...shown };
}

/** The first tick of a schedule at or after `from` (or after now, when later). */
function firstTick(schedule: Schedule, firstExecutionTime: string | null, at: Date): Date | null {
  const from = firstExecutionTime !== null && Date.parse(firstExecutionTime) > at.getTime() ? new Date(Date.parse(firstExecutionTime) - 1) : at;
  return schedule.nextAfter(from);
}

function readCount(value: unknown): number | null {
  if (value === null) return null;
  return integer('count', value, 1, MAX_COUNT, 'firings before the job is done; null: no end');
}

function readTime(name: string, value: unknown): string {
  const given = text(name, value, { max: 64 });
  const parsed = Date.parse(given);
  if (!/^\d{4}-\d\d-\d\d[T ]\d\d:\d\d/.test(given) || Number.isNaN(parsed)) throw new PrataiError('InvalidParameter', `Expected \`${name}\` to be an ISO 8601 time such as 2030-01-01T09:00:00Z, got ${describeValue(value)}`);
  return new Date(parsed).toISOString();
}

/**
 * The function a job names by id or by name, if the caller can see it, and the version or alias
 * of it the job runs: `FUNCTION:QUALIFIER` (common/qualifier.ts); none, `latest`.
 */
async function findFunction(store: Store, scope: Scope, tenantId: string, given: unknown): Promise<{ fn: FunctionRecord; qualifier: string | null }> {
  const { name: ref, qualifier } = splitQualified('function_id', text('function_id', given, { max: 255 }));
  const fn = isId(ref) ? await userFunction(store, ref, scope) : (await userFunctions(store, { tenantId })).find((each) => each.name === ref);
  if (fn === undefined) throw functionNotFound(ref, 'id or name');
  return { fn, qualifier };
}

export function jobsRouter(deps: ApiDeps): Router {
  const { store, log } = deps;
  const router = Router();
  const json = express.json({ limit: deps.settings.api.max_payload_bytes, strict: false });

  const readBody = async (req: Request, res: Response, fields: readonly string[]): Promise<Record<string, unknown>> => {
    if (!req.is('application/json')) throw new PrataiError('InvalidJson', 'Expected a JSON object with Content-Type application/json');
    await runMiddleware(json, req, res);
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', 'Expected a JSON object of the job\'s fields');
    onlyKnown('field', body as Record<string, unknown>, fields);
    return body as Record<string, unknown>;
  };

  /** The timer, if the caller can see it (else 404) and may do `action` on it (else 403). */
  const getScoped = async (res: Response, timerId: string, action: string): Promise<TimerRecord> => {
    const timer = await store.getTimer(timerId, visibleScope(deps.policy, res));
    if (timer === undefined) throw new PrataiError('JobNotFound', `No job with id \`${timerId}\` in this project`);
    authorizeOn(deps.policy, res, action, timer);
    return timer;
  };

  router
    .route('/')
    .get(async (req, res) => {
      const query = req.query as Record<string, unknown>;
      onlyKnown('query parameter', query, ['function_id', 'all_tenants']);
      const timers = await store.listTimers(listScope(deps.policy, res, 'job:list', query.all_tenants), {
        ...(query.function_id !== undefined && { functionId: text('function_id', query.function_id) }),
      });
      res.json({ jobs: timers.map(jobView) });
    })
    .post(async (req, res) => {
      const fields = await readBody(req, res, CREATE_FIELDS);
      if (fields.function_id === undefined) throw new PrataiError('InvalidParameter', 'Expected `function_id`, the id or name of the function the job calls, got nothing');
      if (fields.pattern === undefined) throw new PrataiError('InvalidSchedule', 'Expected `pattern`, a cron pattern such as `*/5 * * * *` (6 fields: seconds first), got nothing');
      const timezone = fields.timezone ?? 'UTC';
      const schedule = Schedule.parse(fields.pattern, timezone);
      const count = fields.count === undefined ? null : readCount(fields.count);
      const firstExecutionTime = fields.first_execution_time === undefined || fields.first_execution_time === null ? null : readTime('first_execution_time', fields.first_execution_time);
      const name = fields.name === undefined ? '' : text('name', fields.name, { max: 255 });
      const identity = identityOf(res);
      const { fn, qualifier } = await findFunction(store, visibleScope(deps.policy, res), identity.tenantId, fields.function_id);
      const at = new Date();
      const next = firstTick(schedule, firstExecutionTime, at);
      if (next === null) throw new PrataiError('InvalidSchedule', `The pattern \`${schedule.pattern}\` never fires after ${firstExecutionTime ?? 'now'}`);
      const timer: TimerRecord = {
        timer_id: newId(),
        // The function's project: an administrator's job on another project's function is that project's.
        tenant_id: fn.tenant_id,
        user_id: identity.userId,
        function_id: fn.function_id,
        name,
        pattern: schedule.pattern,
        timezone: schedule.timezone,
        payload: fields.payload ?? null,
        status: 'running',
        count,
        executions: 0,
        skipped: 0,
        first_execution_time: firstExecutionTime,
        next_execution_time: next.toISOString(),
        last_execution_time: null,
        last_request_ids: [],
        qualifier,
        version: 0,
        created_at: at.toISOString(),
        updated_at: at.toISOString(),
      };
      authorizeOn(deps.policy, res, 'job:create', timer);
      // Throws VersionNotFound or AliasNotFound for a qualifier the function lacks.
      await store.createTimer(timer);
      deps.timersChanged?.();
      log.info(`job ${timer.timer_id} of function ${qualified(fn.function_id, qualifier)} created: \`${timer.pattern}\` (${timer.timezone}), next at ${timer.next_execution_time}`, res.locals.requestId as string);
      res.status(201).json({ job: jobView(timer) });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:job_id')
    .get(async (req, res) => {
      res.json({ job: jobView(await getScoped(res, req.params.job_id, 'job:get')) });
    })
    .patch(async (req, res) => {
      const jobId = req.params.job_id;
      await getScoped(res, jobId, 'job:update');
      const fields = await readBody(req, res, UPDATE_FIELDS);
      const status = fields.status === undefined ? undefined : oneOf('status', fields.status, ['running', 'paused'] as const);
      const count = fields.count === undefined ? undefined : readCount(fields.count);
      const name = fields.name === undefined ? undefined : text('name', fields.name, { max: 255 });
      for (let attempt = 1; ; attempt += 1) {
        const timer = await getScoped(res, jobId, 'job:update');
        const pattern = fields.pattern === undefined ? timer.pattern : fields.pattern;
        const timezone = fields.timezone === undefined ? timer.timezone : fields.timezone;
        const schedule = Schedule.parse(pattern, timezone);
        const at = new Date();
        const nextStatus = status ?? (timer.status === 'done' && count !== undefined ? 'running' : timer.status);
        const nextCount = count === undefined ? timer.count : count;
        if (nextStatus === 'running' && nextCount === 0) throw new PrataiError('InvalidParameter', `Job \`${jobId}\` is done (its count is spent); give it a new \`count\` to run it again`);
        // A new schedule, or a run after a pause or an end, starts from now: the ticks it was not running for are not missed ones.
        const reschedule = fields.pattern !== undefined || fields.timezone !== undefined || (nextStatus === 'running' && timer.status !== 'running');
        const next = reschedule ? firstTick(schedule, timer.first_execution_time, at) : undefined;
        if (reschedule && next === null) throw new PrataiError('InvalidSchedule', `The pattern \`${schedule.pattern}\` never fires after now`);
        const changes: TimerChanges = {
          ...(name !== undefined && { name }),
          ...(fields.pattern !== undefined && { pattern: schedule.pattern }),
          ...(fields.timezone !== undefined && { timezone: schedule.timezone }),
          ...(fields.payload !== undefined && { payload: fields.payload }),
          ...(count !== undefined && { count }),
          status: nextStatus,
          ...(next && { next_execution_time: next.toISOString() }),
          updated_at: at.toISOString(),
        };
        if (await store.changeTimer(jobId, timer.version, changes)) {
          deps.timersChanged?.();
          log.info(`job ${jobId} updated (${Object.keys(fields).join(', ')})`, res.locals.requestId as string);
          res.json({ job: jobView({ ...timer, ...changes, version: timer.version + 1 }) });
          return;
        }
        if (attempt === UPDATE_ATTEMPTS) throw new PrataiError('ServiceUnavailable', `Job \`${jobId}\` kept changing while it was being updated; try again`);
      }
    })
    .delete(async (req, res) => {
      const timer = await getScoped(res, req.params.job_id, 'job:delete');
      if (!(await store.deleteTimer(timer.timer_id))) throw new PrataiError('JobNotFound', `No job with id \`${timer.timer_id}\` in this project`);
      log.info(`job ${timer.timer_id} deleted`, res.locals.requestId as string);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'PATCH', 'DELETE']));

  return router;
}
