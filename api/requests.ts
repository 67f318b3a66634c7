/**
 * /v1/requests: list (filters, newest first, limit/marker paging), show, logs as text, cancel, and
 * redrive (an admin queues a dead-lettered request again).
 */
import { Router, type Response } from 'express';
import { isFinal, REQUEST_SOURCES, REQUEST_STATUSES, runJob, type RequestRecord } from '../common/domain.js';
import { newId, now } from '../common/ids.js';
import { PrataiError } from '../common/errors.js';
import { requestChange } from '../common/notifications/notifier.js';
import type { ApiDeps } from './deps.js';
import { wantsEvents } from './event-stream.js';
import { followLogs, logsAsText, watchRequests } from './request-streams.js';
import { methodNotAllowed } from './http.js';
import { authorizeOn, listScope, visibleScope } from './policy.js';
import { boolean, integer, oneOf, onlyKnown, text } from './params.js';
import { versionNumber } from '../common/version-routing.js';

const LIST_PARAMS = ['function_id', 'status', 'request_id', 'source', 'job_id', 'dead_letter', 'limit', 'marker', 'all_tenants', 'version', 'alias'] as const;
/** A watch (`Accept: text/event-stream`) filters as a listing does, but pages nothing. */
const WATCH_PARAMS = ['function_id', 'status', 'limit', 'all_tenants'] as const;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** A request as the API shows it: the timer that made it is its `job_id`, as the API calls timers. */
export function requestView({ timer_id: timerId, ...request }: RequestRecord): Record<string, unknown> {
  return { ...request, job_id: timerId };
}

/** A request in a listing: everything but the logs, which can be large, and the headers kept for its function. */
function summaryView(request: RequestRecord): Record<string, unknown> {
  const { logs: _logs, headers: _headers, ...summary } = requestView(request);
  return summary;
}

/** `request_id=A,B,C`: one id, or several fetched at once (at most a page). */
function requestIdsOf(value: unknown): { requestId: string } | { requestIds: string[] } {
  const ids = text('request_id', value, { max: 33 * MAX_LIMIT }).split(',').map((id) => id.trim()).filter((id) => id !== '');
  if (ids.length > MAX_LIMIT) throw new PrataiError('InvalidParameter', `Expected \`request_id\` to name at most ${MAX_LIMIT} requests, got ${ids.length}`);
  return ids.length === 1 && ids[0] !== undefined ? { requestId: ids[0] } : { requestIds: ids };
}


export function requestsRouter(deps: ApiDeps): Router {
  const { store, queue } = deps;
  const router = Router();

  /** The request, if the caller can see it (else 404) and may do `action` on it (else 403). */
  const getScoped = async (res: Response, requestId: string, action: string): Promise<RequestRecord> => {
    const request = await store.getRequest(requestId, visibleScope(deps.policy, res));
    if (request === undefined) throw new PrataiError('RequestNotFound', `No request with id \`${requestId}\` in this project`);
    authorizeOn(deps.policy, res, action, request);
    return request;
  };

  router
    .route('/')
    .get(async (req, res) => {
      const query = req.query as Record<string, unknown>;
      if (wantsEvents(req)) {
        onlyKnown('query parameter of a watch', query, WATCH_PARAMS);
        const filter = {
          scope: listScope(deps.policy, res, 'request:list', query.all_tenants),
          limit: query.limit === undefined ? DEFAULT_LIMIT : integer('limit', query.limit, 1, MAX_LIMIT),
          ...(query.function_id !== undefined && { functionId: text('function_id', query.function_id) }),
          ...(query.status !== undefined && { status: oneOf('status', query.status, REQUEST_STATUSES) }),
        };
        const stream = deps.streams.start(req, res, 'events');
        // Past its headers an answer cannot turn into an error body: a failing store ends it.
        return watchRequests(deps, stream, filter).catch(() => stream.end());
      }
      onlyKnown('query parameter', query, LIST_PARAMS);
      const limit = query.limit === undefined ? DEFAULT_LIMIT : integer('limit', query.limit, 1, MAX_LIMIT);
      const requests = await store.listRequests(listScope(deps.policy, res, 'request:list', query.all_tenants), {
        limit,
        ...(query.function_id !== undefined && { functionId: text('function_id', query.function_id) }),
        ...(query.status !== undefined && { status: oneOf('status', query.status, REQUEST_STATUSES) }),
        ...(query.request_id !== undefined && requestIdsOf(query.request_id)),
        ...(query.source !== undefined && { source: oneOf('source', query.source, REQUEST_SOURCES) }),
        ...(query.job_id !== undefined && { timerId: text('job_id', query.job_id) }),
        ...(query.dead_letter !== undefined && { deadLetter: boolean('dead_letter', query.dead_letter) }),
        ...(query.marker !== undefined && { marker: text('marker', query.marker) }),
        ...(query.version !== undefined && { version: query.version === 'latest' ? ('latest' as const) : versionNumber('version', query.version) }),
        ...(query.alias !== undefined && { alias: text('alias', query.alias) }),
      });
      const last = requests.at(-1);
      const links = [];
      if (requests.length === limit && last !== undefined) {
        const next = new URLSearchParams({ ...(query as Record<string, string>), marker: last.request_id, limit: String(limit) });
        links.push({ rel: 'next', href: `${req.baseUrl}?${next.toString()}` });
      }
      res.json({ requests: requests.map(summaryView), requests_links: links });
    })
    .all(methodNotAllowed(['GET']));

  router
    .route('/:request_id')
    .get(async (req, res) => {
      res.json({ request: requestView(await getScoped(res, req.params.request_id, 'request:get')) });
    })
    .all(methodNotAllowed(['GET']));

  router
    .route('/:request_id/cancel')
    .post(async (req, res) => {
      const request = await getScoped(res, req.params.request_id, 'request:cancel');
      const finished = (status: string) => new PrataiError('RequestAlreadyFinished', `Request \`${request.request_id}\` is ${status} already; only a queued or running request can be cancelled`);
      if (isFinal(request.status)) throw finished(request.status);
      // A queued request will never run; a running one's container is killed by its runner,
      // which watches for cancellations.
      const cancelled = await store.cancelRequest(request.request_id, 'Cancelled by the user', now());
      const after = await getScoped(res, request.request_id, 'request:get');
      if (!cancelled) throw finished(after.status);
      deps.notifier.publish({ kind: 'request', request: requestChange(after) });
      deps.metrics.requestsFinished.inc({ function: after.function_id, outcome: 'cancelled' });
      res.json({ request: requestView(after) });
    })
    .all(methodNotAllowed(['POST']));

  router
    .route('/:request_id/redrive')
    .post(async (req, res) => {
      const request = await getScoped(res, req.params.request_id, 'request:redrive');
      const notDead = (status: string) =>
        new PrataiError('RequestNotDeadLettered', `Request \`${request.request_id}\` is ${status} and not dead-lettered; only a dead-lettered request can be redriven`);
      if (!request.dead_letter) throw notDead(request.status);
      if (!(await store.redriveRequest(request.request_id, now()))) throw notDead((await getScoped(res, request.request_id, 'request:get')).status);
      // Queued in the store already: if the job cannot be published now, a runner's sweeper
      // publishes it after [runner] requeue_after, as for a request whose API process died.
      await queue.publish(runJob(request, newId())).catch((error: Error) => {
        deps.log.warning(`redriven request ${request.request_id} left to the sweeper: ${error.message}`, res.locals.requestId as string);
      });
      deps.log.info(`request ${request.request_id} redriven`, res.locals.requestId as string);
      const redriven = await getScoped(res, request.request_id, 'request:get');
      deps.notifier.publish({ kind: 'request', request: requestChange(redriven) });
      res.status(202).json({ request: requestView(redriven) });
    })
    .all(methodNotAllowed(['POST']));

  router
    .route('/:request_id/logs')
    .get(async (req, res) => {
      const query = req.query as Record<string, unknown>;
      onlyKnown('query parameter', query, ['follow']);
      const follow = query.follow !== undefined && boolean('follow', query.follow);
      const request = await getScoped(res, req.params.request_id, 'request:get');
      if (follow) {
        const format = wantsEvents(req) ? 'events' : 'text';
        const stream = deps.streams.start(req, res, format);
        return followLogs(deps, stream, request.request_id, format).catch(() => stream.end());
      }
      res.type('text/plain; charset=utf-8').send(logsAsText(request.logs));
    })
    .all(methodNotAllowed(['GET']));

  return router;
}
