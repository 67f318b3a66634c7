/**
 * /v1/coordination: the caller's project's coordination tree (ARCHITECTURE.md, coordination).
 *
 * - `/sessions`: POST opens one (`timeout_ms`), GET `/sessions/ID` shows it, POST
 *   `/sessions/ID/keepalive` keeps it alive, DELETE closes it (its ephemeral nodes deleted);
 *   GET `/sessions/ID/events` is its watches' events as Server-Sent Events (`watch` events, in
 *   zxid order; the stream keeps the session alive while open), or as JSON taken once.
 * - `/nodes/PATH`: GET reads (`?children=true` lists, `?stat=true` is exists; `?watch=true` sets a
 *   watch), POST creates (`data`, `ephemeral`, `sequential`), PUT sets (`data`, `version`),
 *   DELETE deletes (`?version=`).
 * - `/multi`: POST `{"ops": [...]}`, all or nothing.
 *
 * Node data is base64 text. A session is named by the `X-Pratai-Session` header (or `session`
 * in the query): it owns ephemeral nodes and watches; an answer to a call made with one carries
 * the events pending for it first (`events`), so a client never sees a change before its event.
 * Tenancy: the project is always the token's, an administrator's too.
 */
import express, { Router, type Request, type Response } from 'express';
import type { Coordination } from '../common/coordination/coordination.js';
import { sessionTimeoutOf } from '../common/coordination/coordination.js';
import type { Read, ReadResult, SessionRecord, WatchEvent } from '../common/coordination/nodes.js';
import { MAX_DATA_BYTES } from '../common/coordination/nodes.js';
import { flagOf, opOf, opsOf, versionOf } from '../common/coordination/ops.js';
import { validatePath } from '../common/coordination/paths.js';
import { describeValue, PrataiError } from '../common/errors.js';
import type { Notification } from '../common/notifications/notifier.js';
import { identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { wantsEvents } from './event-stream.js';
import { methodNotAllowed } from './http.js';
import { authorize } from './policy.js';

/** A body of one node's data in base64, and the rest of its fields. */
const MAX_BODY_BYTES = Math.ceil((MAX_DATA_BYTES * 4) / 3) + 64 * 1024;
/** A multi may carry several nodes' data. */
const MAX_MULTI_BYTES = 8 * MAX_BODY_BYTES;

export function sessionView(session: SessionRecord): Record<string, unknown> {
  return { session_id: session.session_id, timeout_ms: session.timeout_ms, expires_at: new Date(session.expires_at).toISOString(), request_id: session.request_id, created_at: session.created_at };
}

function readView(result: ReadResult): Record<string, unknown> {
  switch (result.read) {
    case 'get':
      return { data: result.data.toString('base64'), stat: result.stat };
    case 'exists':
      return { stat: result.stat };
    case 'children':
      return { children: result.children, stat: result.stat };
  }
}

/** The node path of `/nodes/…`, its names percent-decoded. */
function nodePath(req: Request): string {
  const rest = req.path.replace(/^\/nodes/, '');
  try {
    return rest === '' ? '/' : rest.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new PrataiError('BadArguments', `Expected a percent-encoded node path, got \`${rest}\``);
  }
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (body === undefined || (typeof body === 'object' && body !== null && Object.keys(body).length === 0)) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', 'Expected a JSON object');
  return body as Record<string, unknown>;
}

export function coordinationRouter(deps: ApiDeps): Router {
  const router = Router();
  const json = express.json({ limit: MAX_BODY_BYTES });
  const multiJson = express.json({ limit: MAX_MULTI_BYTES });

  const coordination = (): Coordination => {
    if (deps.coordination === undefined) throw new PrataiError('CoordinationUnsupported', 'Coordination needs a SQL database ([database] connection: SQLite, MariaDB or PostgreSQL); this deployment uses MongoDB');
    return deps.coordination;
  };
  const sessionOf = (req: Request): string | undefined => {
    const value = req.get('x-pratai-session') ?? req.query.session;
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string' || !/^[0-9a-f]{32}$/.test(value)) throw new PrataiError('BadArguments', `Expected a session id (32 hex digits) in X-Pratai-Session, got ${describeValue(value)}`);
    return value;
  };
  /** The events pending for the call's session, which its answer carries before its own result. */
  const withEvents = async (res: Response, sessionId: string | undefined, answer: Record<string, unknown>): Promise<Record<string, unknown>> => {
    if (sessionId === undefined) return answer;
    const events = await coordination().takeEvents(identityOf(res).tenantId, sessionId);
    return events.length === 0 ? answer : { events, ...answer };
  };

  router
    .route('/sessions')
    .post(json, async (req, res) => {
      authorize(deps.policy, res, 'coordination:write');
      const body = bodyOf(req);
      const timeoutMs = sessionTimeoutOf(body.timeout_ms, deps.settings.coordination.default_session_timeout_ms);
      const session = await coordination().openSession(identityOf(res).tenantId, timeoutMs);
      res.status(201).json({ session: sessionView(session) });
    })
    .all(methodNotAllowed(['POST']));

  router
    .route('/sessions/:id')
    .get(async (req, res) => {
      authorize(deps.policy, res, 'coordination:read');
      res.json({ session: sessionView(await coordination().getSession(identityOf(res).tenantId, req.params.id)) });
    })
    .delete(async (req, res) => {
      authorize(deps.policy, res, 'coordination:write');
      const closed = await coordination().closeSession(identityOf(res).tenantId, req.params.id);
      if (!closed) throw new PrataiError('SessionExpired', `Session ${req.params.id} has expired or was closed already`);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'DELETE']));

  router.post('/sessions/:id/keepalive', async (req, res) => {
    authorize(deps.policy, res, 'coordination:write');
    res.json({ session: sessionView(await coordination().keepAlive(identityOf(res).tenantId, req.params.id)) });
  });

  router.get('/sessions/:id/events', async (req, res) => {
    authorize(deps.policy, res, 'coordination:read');
    const { tenantId } = identityOf(res);
    const sessionId = req.params.id;
    const session = await coordination().getSession(tenantId, sessionId);
    if (!wantsEvents(req)) {
      res.json({ events: await coordination().takeEvents(tenantId, sessionId) });
      return;
    }
    streamEvents(deps, coordination(), req, res, session);
  });

  router.post('/multi', multiJson, async (req, res) => {
    authorize(deps.policy, res, 'coordination:write');
    const body = bodyOf(req);
    const sessionId = sessionOf(req);
    const { zxid, results } = await coordination().write(identityOf(res).tenantId, sessionId, opsOf(body.ops));
    res.json(await withEvents(res, sessionId, { zxid, results }));
  });

  router
    .route(/^\/nodes(\/.*)?$/)
    .get(async (req, res) => {
      authorize(deps.policy, res, 'coordination:read');
      const path = validatePath(nodePath(req));
      const watch = flagOf('watch', req.query.watch);
      const kind: Read['read'] = flagOf('children', req.query.children) ? 'children' : flagOf('stat', req.query.stat) ? 'exists' : 'get';
      const sessionId = sessionOf(req);
      const result = await coordination().read(identityOf(res).tenantId, sessionId, { read: kind, path, watch });
      res.json(await withEvents(res, sessionId, readView(result)));
    })
    .post(json, async (req, res) => {
      authorize(deps.policy, res, 'coordination:write');
      const body = bodyOf(req);
      const sessionId = sessionOf(req);
      const { zxid, results } = await coordination().write(identityOf(res).tenantId, sessionId, [opOf({ ...body, op: 'create', path: nodePath(req) })]);
      res.status(201).json(await withEvents(res, sessionId, { zxid, ...results[0] }));
    })
    .put(json, async (req, res) => {
      authorize(deps.policy, res, 'coordination:write');
      const body = bodyOf(req);
      const sessionId = sessionOf(req);
      const { zxid, results } = await coordination().write(identityOf(res).tenantId, sessionId, [opOf({ ...body, op: 'set', path: nodePath(req) })]);
      res.json(await withEvents(res, sessionId, { zxid, ...results[0] }));
    })
    .delete(async (req, res) => {
      authorize(deps.policy, res, 'coordination:write');
      const sessionId = sessionOf(req);
      const { zxid } = await coordination().write(identityOf(res).tenantId, sessionId, [{ op: 'delete', path: validatePath(nodePath(req)), version: versionOf(req.query.version) }]);
      res.json(await withEvents(res, sessionId, { zxid, path: nodePath(req) }));
    })
    .all(methodNotAllowed(['GET', 'POST', 'PUT', 'DELETE']));

  return router;
}

/**
 * Writes a session's events as they fire: woken by coordination notifications naming it, and
 * reading the store at each keep-alive too (a notification is a hint that may be lost). The
 * open stream keeps its session alive; one that expires says so and ends.
 */
function streamEvents(deps: ApiDeps, coordination: Coordination, req: Request, res: Response, session: SessionRecord): void {
  const { session_id: sessionId, tenant_id: tenantId, timeout_ms: timeoutMs } = session;
  const stream = deps.streams.start(req, res, 'events');
  let draining: Promise<void> | undefined;
  let again = false;
  const drain = (): void => {
    if (draining !== undefined) {
      again = true;
      return;
    }
    draining = (async () => {
      do {
        again = false;
        const events: WatchEvent[] = await coordination.takeEvents(tenantId, sessionId);
        for (const event of events) stream.event('watch', event, String(event.zxid));
      } while (again && !stream.closed.aborted);
    })()
      .catch((error: unknown) => deps.log.warning(`events of session ${sessionId}: ${(error as Error).message}`))
      .finally(() => (draining = undefined));
  };
  const subscription = deps.notifier.subscribe(
    { kinds: ['coordination'], tenantId },
    {
      notify: (notification: Notification) => {
        if (notification.kind === 'coordination' && notification.sessions.includes(sessionId)) drain();
      },
      resync: drain,
    },
  );
  const keeper = setInterval(() => {
    coordination.keepAlive(tenantId, sessionId, timeoutMs).then(
      () => drain(),
      (error: unknown) => {
        if (error instanceof PrataiError && error.code === 'SessionExpired') {
          stream.event('expired', { session_id: sessionId });
          stream.end();
        }
      },
    );
  }, Math.max(100, Math.floor(timeoutMs / 3)));
  stream.closed.addEventListener('abort', () => {
    clearInterval(keeper);
    subscription.close();
  });
  stream.event('session', sessionView(session));
  drain();
}
