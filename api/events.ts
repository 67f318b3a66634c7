/**
 * /v1/events: a project's named events, which functions subscribe to (`subscriptions`), and the
 * messages published to them: `POST /v1/events/{name}/messages {"payload": ...}` makes one
 * request of each subscribed function with that payload (all accepted or none) and answers 202
 * with their ids; a subscription `EVENT:QUALIFIER` runs that version or alias of its function. A
 * message without subscribers makes nothing and is not kept. Events are addressed by name within
 * the caller's project, as secrets are.
 */
import express, { Router, type Request, type Response } from 'express';
import { EVENT_NAME, type EventRecord, type Subscription } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { now } from '../common/ids.js';
import { newRequest, submitRequests } from '../common/submit-request.js';
import { qualifierTarget, resolveCall } from '../common/version-routing.js';
import { identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed, runMiddleware } from './http.js';
import { onlyKnown, text } from './params.js';
import { authorize } from './policy.js';

/** An event as the API shows it, with the functions subscribed to it. */
export function eventView(event: EventRecord, subscriptions: readonly Subscription[]): Record<string, unknown> {
  return {
    name: event.name,
    description: event.description,
    created_at: event.created_at,
    functions: subscriptions.filter((each) => each.event === event.name).map((each) => ({ function_id: each.function_id, name: each.function_name, qualifier: each.qualifier })),
  };
}

export function eventsRouter(deps: ApiDeps): Router {
  const { store, log } = deps;
  const router = Router();
  const json = express.json({ limit: deps.settings.api.max_payload_bytes, strict: false });

  const readBody = async (req: Request, res: Response, fields: readonly string[]): Promise<Record<string, unknown>> => {
    const shape = `{${fields.map((field) => `"${field}"`).join(', ')}}`;
    if (!req.is('application/json')) throw new PrataiError('InvalidJson', `Expected a JSON object ${shape} with Content-Type application/json`);
    await runMiddleware(json, req, res);
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', `Expected a JSON object ${shape}`);
    onlyKnown('field', body as Record<string, unknown>, fields);
    return body as Record<string, unknown>;
  };

  const notFound = (name: string): PrataiError => new PrataiError('EventNotFound', `No event named \`${name}\` in this project (see GET /v1/events)`);

  router
    .route('/')
    .get(async (_req, res) => {
      authorize(deps.policy, res, 'event:list');
      const { tenantId } = identityOf(res);
      const [events, subscriptions] = await Promise.all([store.listEvents({ tenantId }), store.listSubscriptions(tenantId)]);
      res.json({ events: events.map((event) => eventView(event, subscriptions)) });
    })
    .post(async (req, res) => {
      authorize(deps.policy, res, 'event:create');
      const fields = await readBody(req, res, ['name', 'description']);
      if (fields.name === undefined) throw new PrataiError('InvalidParameter', 'Expected `name`, the name of the event, got nothing');
      const event: EventRecord = {
        tenant_id: identityOf(res).tenantId,
        name: text('name', fields.name, EVENT_NAME),
        description: fields.description === undefined ? '' : text('description', fields.description, { max: 1024 }),
        created_at: now(),
      };
      await store.createEvent(event);
      log.info(`event ${event.name} created`, res.locals.requestId as string);
      res.status(201).json({ event: eventView(event, []) });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:name')
    .get(async (req, res) => {
      authorize(deps.policy, res, 'event:list');
      const { tenantId } = identityOf(res);
      const event = await store.getEvent(tenantId, req.params.name);
      if (event === undefined) throw notFound(req.params.name);
      res.json({ event: eventView(event, await store.listSubscriptions(tenantId, event.name)) });
    })
    .delete(async (req, res) => {
      authorize(deps.policy, res, 'event:delete');
      if (!(await store.deleteEvent(identityOf(res).tenantId, req.params.name))) throw notFound(req.params.name);
      log.info(`event ${req.params.name} deleted`, res.locals.requestId as string);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'DELETE']));

  router
    .route('/:name/messages')
    .post(async (req, res) => {
      authorize(deps.policy, res, 'event:publish');
      const { name } = req.params;
      const fields = await readBody(req, res, ['payload']);
      if (!('payload' in fields)) throw new PrataiError('PayloadMissing', 'The JSON body has no `payload` key; expected {"payload": <any JSON>}');
      const { tenantId } = identityOf(res);
      if ((await store.getEvent(tenantId, name)) === undefined) throw notFound(name);
      const subscribers = await store.listSubscriptions(tenantId, name);
      const at = now();
      // Each subscription runs its function's latest, or the version or alias it names, resolved now as a webhook call of it is.
      const made = await Promise.all(
        subscribers.map(async (each) => {
          const fn = await store.getFunction(each.function_id, { tenantId });
          if (fn === undefined) return undefined;
          const { version, alias } = await resolveCall(store, fn, qualifierTarget(each.qualifier));
          return newRequest(fn, fields.payload, { source: 'event', version, alias }, at);
        }),
      );
      const requests = made.filter((request) => request !== undefined);
      await submitRequests(deps, requests);
      log.info(`message to event ${name}: ${requests.length} request(s)`, res.locals.requestId as string);
      res.status(202).json({
        request_ids: requests.map((request) => request.request_id),
        requests: requests.map((request) => ({ function_id: request.function_id, request_id: request.request_id })),
      });
    })
    .all(methodNotAllowed(['POST']));

  return router;
}
