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
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Coordination } from '../common/coordination/coordination.js';
import { sessionTimeoutOf } from '../common/coordination/coordination.js';
import type { Read, ReadResult, SessionRecord, WatchEvent } from '../common/coordination/nodes.js';
import { MAX_DATA_BYTES } from '../common/coordination/nodes.js';
import { flagOf, opOf, opsOf, versionOf } from '../common/coordination/ops.js';
import { validatePath } from '../common/coordination/paths.js';
import { describeValue, PrataiError } from '../common/errors.js';
import type { Notification } from '../common/notifications/notifier.js';
import type { Identity } from '../common/domain.js';
import { authenticateCaller, identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { wantsEvents } from './event-stream.js';
import { methodNotAllowed, runMiddleware, sendJson } from './http.js';
import type { LeanCall, LeanRoute } from './lean-router.js';
import { authorize, authorizeCaller } from './policy.js';

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
function nodePath(path: string): string {
  const rest = path.replace(/^\/nodes/, '');
  try {
    return rest === '' ? '/' : rest.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new PrataiError('BadArguments', `Expected a percent-encoded node path, got \`${rest}\``);
  }
}

function bodyOf(body: unknown): Record<string, unknown> {
  if (body === undefined || (typeof body === 'object' && body !== null && Object.keys(body).length === 0)) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', 'Expected a JSON object');
  return body as Record<string, unknown>;
}

/**
 * A call on the nodes or a multi, as both ways in give it: Express's routes, and the lean routes
 * (api/lean-router.ts) that serve the plain spelling of the same paths without Express.
 */
interface NodeCall {
  readonly identity: Identity;
  /** The URL's path below `/v1/coordination`, percent-encoded as sent: `/nodes/app/lock`, `/multi`. */
  readonly path: string;
  readonly query: Record<string, unknown>;
  /** The `X-Pratai-Session` header's value. */
  readonly sessionHeader: string | string[] | undefined;
  /** The JSON body, once parsed (POST, PUT). */
  readonly body?: unknown;
}

type NodeHandler = (call: NodeCall) => Promise<{ status: number; body: Record<string, unknown> }>;

/** What the node routes answer, whichever way the call came in; they hold no state. */
interface NodeCalls {
  readonly read: NodeHandler;
  readonly create: NodeHandler;
  readonly set: NodeHandler;
  readonly delete: NodeHandler;
  readonly multi: NodeHandler;
  /** The body parsers of a node's create and set, and of a multi. */
  readonly json: RequestHandler;
  readonly multiJson: RequestHandler;
}

function coordinationOf(deps: ApiDeps): Coordination {
  if (deps.coordination === undefined) throw new PrataiError('CoordinationUnsupported', 'Coordination needs a SQL database ([database] connection: SQLite, MariaDB or PostgreSQL); this deployment uses MongoDB');
  return deps.coordination;
}

function nodeCalls(deps: ApiDeps): NodeCalls {
  const coordination = (): Coordination => coordinationOf(deps);
  const sessionOf = (call: NodeCall): string | undefined => {
    const value = call.sessionHeader ?? call.query.session;
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string' || !/^[0-9a-f]{32}$/.test(value)) throw new PrataiError('BadArguments', `Expected a session id (32 hex digits) in X-Pratai-Session, got ${describeValue(value)}`);
    return value;
  };
  /** The events pending for the call's session, which its answer carries before its own result. */
  const withEvents = async (tenantId: string, sessionId: string | undefined, answer: Record<string, unknown>): Promise<Record<string, unknown>> => {
    if (sessionId === undefined) return answer;
    const events = await coordination().takeEvents(tenantId, sessionId);
    return events.length === 0 ? answer : { events, ...answer };
  };
  const { policy } = deps;
  /** A node's create or set: the body's fields, at the URL's path. */
  const writeNode = (op: 'create' | 'set', status: number): NodeHandler => async (call) => {
    authorizeCaller(policy, call.identity, 'coordination:write');
    const body = bodyOf(call.body);
    const sessionId = sessionOf(call);
    const { tenantId } = call.identity;
    const { zxid, results } = await coordination().write(tenantId, sessionId, [opOf({ ...body, op, path: nodePath(call.path) })]);
    return { status, body: await withEvents(tenantId, sessionId, { zxid, ...results[0] }) };
  };
  return {
    json: express.json({ limit: MAX_BODY_BYTES }),
    multiJson: express.json({ limit: MAX_MULTI_BYTES }),
    read: async (call) => {
      authorizeCaller(policy, call.identity, 'coordination:read');
      const path = validatePath(nodePath(call.path));
      const watch = flagOf('watch', call.query.watch);
      const kind: Read['read'] = flagOf('children', call.query.children) ? 'children' : flagOf('stat', call.query.stat) ? 'exists' : 'get';
      const sessionId = sessionOf(call);
      const { tenantId } = call.identity;
      const result = await coordination().read(tenantId, sessionId, { read: kind, path, watch });
      return { status: 200, body: await withEvents(tenantId, sessionId, readView(result)) };
    },
    create: writeNode('create', 201),
    set: writeNode('set', 200),
    delete: async (call) => {
      authorizeCaller(policy, call.identity, 'coordination:write');
      const sessionId = sessionOf(call);
      const { tenantId } = call.identity;
      const { zxid } = await coordination().write(tenantId, sessionId, [{ op: 'delete', path: validatePath(nodePath(call.path)), version: versionOf(call.query.version) }]);
      return { status: 200, body: await withEvents(tenantId, sessionId, { zxid, path: nodePath(call.path) }) };
    },
    multi: async (call) => {
      authorizeCaller(policy, call.identity, 'coordination:write');
      const body = bodyOf(call.body);
      const sessionId = sessionOf(call);
      const { tenantId } = call.identity;
      const { zxid, results } = await coordination().write(tenantId, sessionId, opsOf(body.ops));
      return { status: 200, body: await withEvents(tenantId, sessionId, { zxid, results }) };
    },
  };
}

export function coordinationRouter(deps: ApiDeps): Router {
  const router = Router();
  const calls = nodeCalls(deps);
  const { json, multiJson } = calls;
  const coordination = (): Coordination => coordinationOf(deps);
  /** A node route of this router (its path relative to /v1/coordination); authenticated at /v1 already. */
  const serve = (handler: NodeHandler) => async (req: Request, res: Response) => {
    const answer = await handler({ identity: identityOf(res), path: req.path, query: req.query, sessionHeader: req.get('x-pratai-session'), body: req.body as unknown });
    sendJson(res, answer.status, answer.body);
  };

  router
    .route('/sessions')
    .post(json, async (req, res) => {
      authorize(deps.policy, res, 'coordination:write');
      const body = bodyOf(req.body);
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

  router.post('/multi', multiJson, serve(calls.multi));

  router
    .route(/^\/nodes(\/.*)?$/)
    .get(serve(calls.read))
    .post(json, serve(calls.create))
    .put(json, serve(calls.set))
    .delete(serve(calls.delete))
    .all(methodNotAllowed(['GET', 'POST', 'PUT', 'DELETE']));

  return router;
}

/** The mount of the coordination router, whose paths the lean routes claim too. */
const MOUNT = '/v1/coordination';

/**
 * The node calls and the multi on their plain paths, served without Express: what the Express
 * chain does for them (authentication at /v1, the route's body parser, the handler), in order.
 */
export function coordinationLeanRoutes(deps: ApiDeps): LeanRoute[] {
  const calls = nodeCalls(deps);
  const serve = (handler: NodeHandler, parser?: RequestHandler) => async ({ req, res, path, query }: LeanCall) => {
    const identity = await authenticateCaller(deps.auth, req.headers, res);
    if (parser !== undefined) await runMiddleware(parser, req, res);
    const session = req.headers['x-pratai-session'];
    const answer = await handler({ identity, path: path.slice(MOUNT.length), query, sessionHeader: session, body: (req as { body?: unknown }).body });
    sendJson(res, answer.status, answer.body);
  };
  const nodes = /^\/v1\/coordination\/nodes(?:\/.*)?$/;
  const byMethod: Record<string, (call: LeanCall) => Promise<void>> = {
    GET: serve(calls.read),
    POST: serve(calls.create, calls.json),
    PUT: serve(calls.set, calls.json),
    DELETE: serve(calls.delete),
  };
  return [
    { methods: Object.keys(byMethod), pattern: nodes, handle: (call) => (byMethod[call.req.method ?? ''] as (call: LeanCall) => Promise<void>)(call) },
    { methods: ['POST'], pattern: /^\/v1\/coordination\/multi$/, handle: serve(calls.multi, calls.multiJson) },
  ];
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
