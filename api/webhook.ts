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
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { watchFinal } from '../common/notifications/await-final.js';
import { isFinal } from '../common/domain.js';
import { describeValue, PrataiError } from '../common/errors.js';
import { newRequest, submitRequests } from '../common/submit-request.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed } from './http.js';
import { admittedFunction, admitWebhookCaller, PublicCallLimit } from './webhook-access.js';
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
function callerGone(req: Request, res: Response): AbortSignal {
  const gone = new AbortController();
  if (req.socket.destroyed) gone.abort();
  else res.once('close', () => gone.abort());
  return gone.signal;
}

/** Observes how long each webhook call took to answer, by mode and status, once it is sent. */
function timeAnswer(deps: ApiDeps): RequestHandler {
  return (_req, res, next) => {
    const started = performance.now();
    res.once('finish', () => {
      const mode = res.locals.webhookMode === 'sync' ? 'sync' : 'async';
      deps.metrics.webhookLatency.observe({ mode, code: String(res.statusCode) }, (performance.now() - started) / 1000);
    });
    next();
  };
}

const notReady = (functionId: string): PrataiError =>
  new PrataiError('FunctionNotReady', `The image of function \`${functionId}\` failed to build; see its build_log, then update or recreate it`);

export function webhookRouter(deps: ApiDeps): Router {
  const { store, notifier, log } = deps;
  const router = Router();
  const headerNames = passableHeaderNames(deps.settings.api.context_headers);
  const publicCalls = new PublicCallLimit(deps.settings.api.public_webhook_rate, deps.settings.api.public_webhook_burst);
  const accept = (targetOf: (params: Record<string, string>) => CallTarget) =>
    async (req: Request, res: Response): Promise<void> => {
      const call = parseCall(req.body);
      const waitAsked = req.query.wait === undefined ? undefined : boolean('wait', req.query.wait);
      const fn = admittedFunction(res);
      const functionId = fn.function_id;
      publicCalls.take(fn, res, 'payloads' in call ? call.payloads.length : 1);
      const target = targetOf(req.params as Record<string, string>);
      const headers = contextHeaders(req.headers, headerNames);
      if ('payloads' in call) {
        const resolved = await resolveCalls(store, fn, target, call.payloads.length);
        if (fn.status === 'error' && resolved.some((each) => each.snapshot === undefined)) throw notReady(functionId);
        const requests = call.payloads.map((payload, i) => {
          const { version, alias } = resolved[i] ?? { version: 'latest' as const, alias: null };
          return newRequest(fn, payload, { source: 'webhook', version, alias, headers });
        });
        await submitRequests(deps, requests);
        if (log.debugging) log.debug(`${requests.length} requests queued for function ${functionId}`, res.locals.requestId as string);
        res.status(202).json({ request_ids: requests.map((request) => request.request_id) });
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
      if (watch !== undefined) res.locals.webhookMode = 'sync';
      if (log.debugging) log.debug(`request ${request.request_id} queued for function ${functionId}`, res.locals.requestId as string);
      const outcome = watch && (await watch.wait(deps.settings.api.wait_timeout * 1000, callerGone(req, res)));
      if (outcome === undefined || !isFinal(outcome.status)) {
        res.status(202).json({ request_id: request.request_id });
        return;
      }
      res.setHeader('x-pratai-request-id', request.request_id);
      if (outcome.status === 'succeeded') {
        res.status(200).json(outcome.response);
        return;
      }
      const details = { request_id: request.request_id, status: outcome.status, error: outcome.error };
      if (outcome.status === 'timeout') throw new PrataiError('FunctionTimedOut', `Function \`${fn.function_id}\` ran past its timeout of ${(resolved.snapshot ?? fn).timeout} s`, { details });
      throw new PrataiError('FunctionFailed', `Function \`${fn.function_id}\` ended ${outcome.status}: ${outcome.error?.type ?? 'Error'}: ${outcome.error?.message ?? ''}`, { details });
    };
  const body = express.raw({ type: () => true, limit: deps.settings.api.max_payload_bytes });
  const routes: [string, (params: Record<string, string>) => CallTarget][] = [
    ['/function/:function_id', () => ({ kind: 'latest' })],
    ['/function/:function_id/versions/:version', (params) => ({ kind: 'version', version: params.version ?? '' })],
    ['/function/:function_id/aliases/:alias', (params) => ({ kind: 'alias', name: params.alias ?? '' })],
  ];
  for (const [path, targetOf] of routes) {
    router
      .route(path)
      .post(timeAnswer(deps), admitWebhookCaller(deps, publicCalls), body, accept(targetOf))
      .all(methodNotAllowed(['POST']));
  }
  return router;
}
