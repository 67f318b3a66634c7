/**
 * The webhook: `POST /function/<function_id>` with `{"payload": ...}`. It stores the request as
 * `queued`, puts a run job on the queue, and answers 202 with the request id at once, whatever the
 * function does. If the job cannot be queued the request is removed and the caller gets a 503:
 * a 202 always means the request will reach a final state.
 *
 * A body `{"payloads": [...]}` (a bulk call, up to MAX_BULK) makes one request of each payload,
 * all accepted or none, and answers 202 with their `request_ids` in the same order; to a public
 * function's rate limit it is as many calls as payloads (api/webhook-access.ts).
 *
 * A `wait_for_response` function's webhook (or any called with `?wait=true`) holds the answer
 * until the request is final (told by the notifier: no polling): 200 with main's return value as the body, 502 FunctionFailed or 504
 * FunctionTimedOut with the request id in `details`; past `[api] wait_timeout` it answers 202.
 *
 * `POST /function/<function_id>/versions/<n>` and `…/aliases/<name>` call a published version, or
 * what an alias targets (common/version-routing.ts), with the same rules; the request records which.
 * A bulk call through an alias picks a version for each payload, as that many calls would.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Router, type Request, type Response } from 'express';
import { watchFinal } from '../common/notifications/await-final.js';
import { isFinal } from '../common/domain.js';
import { describeValue, PrataiError } from '../common/errors.js';
import { newRequest, submitRequests } from '../common/submit-request.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed, runMiddleware, sendJson } from './http.js';
import type { LeanRoute } from './lean-router.js';
import { WebhookAccess } from './webhook-access.js';
import { boolean } from './params.js';
import { contextHeaders, passableHeaderNames } from './context-headers.js';
import { resolveCall, resolveCalls, type CallTarget } from '../common/version-routing.js';

/** Most payloads one bulk call takes. */
export const MAX_BULK = 1000;

/** What a webhook body asks: one request of `payload`, or one of each of `payloads`. */
type Call = { payload: unknown } | { payloads: unknown[] };

/** Reads the body as JSON whatever its content type, so a wrong header is not a silent `{}`. */
function parseCall(raw: unknown): Call {
  const body = Buffer.isBuffer(raw) ? raw.toString('utf8') : '';
  if (body.trim() === '') throw new PrataiError('InvalidJson', 'The request body is empty; expected JSON such as {"payload": {...}}');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new PrataiError('InvalidJson', `The request body is not valid JSON (${(error as Error).message}); expected {"payload": ...}`);
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'payloads' in parsed && !('payload' in parsed)) {
    const { payloads } = parsed;
    if (!Array.isArray(payloads) || payloads.length === 0 || payloads.length > MAX_BULK) {
      throw new PrataiError('InvalidParameter', `Expected \`payloads\` to be an array of 1 to ${MAX_BULK} payloads, got ${Array.isArray(payloads) ? `an array of ${payloads.length}` : describeValue(payloads)}`);
    }
    return { payloads: payloads as unknown[] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !('payload' in parsed)) {
    throw new PrataiError('PayloadMissing', 'The JSON body has no `payload` key; expected {"payload": <any JSON>}, or {"payloads": [...]} for a bulk call');
  }
  return { payload: parsed.payload };
}

/**
 * Aborted once the caller hung up: nobody is left to answer. (The response's close, not the
 * socket's: a kept-alive socket outlives many calls, and would gather a listener for each.)
 */
function callerGone(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const gone = new AbortController();
  if (req.socket.destroyed) gone.abort();
  else res.once('close', () => gone.abort());
  return gone.signal;
}

const notReady = (functionId: string): PrataiError =>
  new PrataiError('FunctionNotReady', `The image of function \`${functionId}\` failed to build; see its build_log, then update or recreate it`);

/** One webhook call, as both ways in give it: Express's routes, and the lean routes on their plain paths. */
export interface WebhookCall {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The exchange's x-openstack-request-id. */
  readonly requestId: string;
  readonly functionId: string;
  readonly target: CallTarget;
  readonly query: Record<string, unknown>;
}

/**
 * Serves webhook calls: admits the caller, reads the body, makes the request(s) and answers;
 * each answer's time is observed (`pratai_webhook_response_seconds`) once it is sent. One per
 * API process, which both its ports' routes share (and so the public functions' rate limit).
 */
export function webhookCalls(deps: ApiDeps): (call: WebhookCall) => Promise<void> {
  const { store, notifier, log, metrics } = deps;
  const access = new WebhookAccess(deps);
  const headerNames = passableHeaderNames(deps.settings.api.context_headers);
  const body = express.raw({ type: () => true, limit: deps.settings.api.max_payload_bytes });
  return async ({ req, res, requestId, functionId: calledId, target, query }) => {
    const started = performance.now();
    let mode: 'sync' | 'async' = 'async';
    res.once('finish', () => metrics.webhookLatency.observe({ mode, code: String(res.statusCode) }, (performance.now() - started) / 1000));
    // Before the body is read: a refused caller costs no body parsing.
    const fn = await access.admit(calledId, req.headers, res);
    const functionId = fn.function_id;
    await runMiddleware(body, req, res);
    const call = parseCall((req as { body?: unknown }).body);
    const waitAsked = query.wait === undefined ? undefined : boolean('wait', query.wait);
    access.take(fn, res, 'payloads' in call ? call.payloads.length : 1);
    const headers = contextHeaders(req.headers, headerNames);
    if ('payloads' in call) {
      const resolved = await resolveCalls(store, fn, target, call.payloads.length);
      if (fn.status === 'error' && resolved.some((each) => each.snapshot === undefined)) throw notReady(functionId);
      const requests = call.payloads.map((payload, i) => {
        const { version, alias } = resolved[i] ?? { version: 'latest' as const, alias: null };
        return newRequest(fn, payload, { source: 'webhook', version, alias, headers });
      });
      await submitRequests(deps, requests);
      if (log.debugging) log.debug(`${requests.length} requests queued for function ${functionId}`, requestId);
      sendJson(res, 202, { request_ids: requests.map((request) => request.request_id) });
      return;
    }
    const resolved = await resolveCall(store, fn, target);
    if (resolved.snapshot === undefined && fn.status === 'error') throw notReady(functionId);
    const request = newRequest(fn, call.payload, { source: 'webhook', version: resolved.version, alias: resolved.alias, headers });
    let watch: ReturnType<typeof watchFinal> | undefined;
    try {
      await submitRequests(deps, [request], {
        // Listening before the job is queued: its outcome cannot come before the subscription.
        beforePublish: () => {
          if (waitAsked ?? fn.type === 'wait_for_response') watch = watchFinal(store, notifier, request.request_id);
        },
      });
    } catch (error) {
      watch?.close();
      throw error;
    }
    if (watch !== undefined) mode = 'sync';
    if (log.debugging) log.debug(`request ${request.request_id} queued for function ${functionId}`, requestId);
    const outcome = watch && (await watch.wait(deps.settings.api.wait_timeout * 1000, callerGone(req, res)));
    if (outcome === undefined || !isFinal(outcome.status)) {
      sendJson(res, 202, { request_id: request.request_id });
      return;
    }
    res.setHeader('x-pratai-request-id', request.request_id);
    if (outcome.status === 'succeeded') {
      sendJson(res, 200, outcome.response);
      return;
    }
    const details = { request_id: request.request_id, status: outcome.status, error: outcome.error };
    if (outcome.status === 'timeout') throw new PrataiError('FunctionTimedOut', `Function \`${fn.function_id}\` ran past its timeout of ${(resolved.snapshot ?? fn).timeout} s`, { details });
    throw new PrataiError('FunctionFailed', `Function \`${fn.function_id}\` ended ${outcome.status}: ${outcome.error?.type ?? 'Error'}: ${outcome.error?.message ?? ''}`, { details });
  };
}

/** The webhook paths, each with what it calls, as Express's routes name their parameters. */
const ROUTES: [string, (params: Record<string, string>) => CallTarget][] = [
  ['/function/:function_id', () => ({ kind: 'latest' })],
  ['/function/:function_id/versions/:version', (params) => ({ kind: 'version', version: params.version ?? '' })],
  ['/function/:function_id/aliases/:alias', (params) => ({ kind: 'alias', name: params.alias ?? '' })],
];

export function webhookRouter(serve: (call: WebhookCall) => Promise<void>): Router {
  const router = Router();
  for (const [path, targetOf] of ROUTES) {
    router
      .route(path)
      .post((req: Request, res: Response) => {
        const params = req.params as Record<string, string>;
        return serve({ req, res, requestId: res.locals.requestId as string, functionId: params.function_id ?? '', target: targetOf(params), query: req.query });
      })
      .all(methodNotAllowed(['POST']));
  }
  return router;
}

/** The webhook paths' plain spellings, served without Express (api/lean-router.ts). */
export function webhookLeanRoutes(serve: (call: WebhookCall) => Promise<void>): LeanRoute[] {
  const route = (pattern: RegExp, targetOf: (params: readonly string[]) => CallTarget): LeanRoute => ({
    methods: ['POST'],
    pattern,
    handle: ({ req, res, requestId, params, query }) => serve({ req, res, requestId, functionId: params[0] ?? '', target: targetOf(params), query }),
  });
  return [
    route(/^\/function\/([^/]+)$/, () => ({ kind: 'latest' })),
    route(/^\/function\/([^/]+)\/versions\/([^/]+)$/, (params) => ({ kind: 'version', version: params[1] ?? '' })),
    route(/^\/function\/([^/]+)\/aliases\/([^/]+)$/, (params) => ({ kind: 'alias', name: params[1] ?? '' })),
  ];
}
