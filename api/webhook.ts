/**
 * The webhook: `POST /function/<function_id>` with `{"payload": ...}`. It stores the request as
 * `queued`, puts a run job on the queue, and answers 202 with the request id at once, whatever the
 * function does. If the job cannot be queued the request is removed and the caller gets a 503:
 * a 202 always means the request will reach a final state.
 *
 * A body `{"payloads": [...]}` (a bulk call, up to MAX_BULK) makes one request of each payload,
 * all accepted or none, and answers 202 with their `request_ids` in the same order.
 *
 * A `wait_for_response` function's webhook (or any called with `?wait=true`) holds the answer
 * until the request is final (told by the notifier: no polling): 200 with main's return value as the body, 502 FunctionFailed or 504
 * FunctionTimedOut with the request id in `details`; past `[api] wait_timeout` it answers 202.
 */
import express, { Router, type Request, type Response } from 'express';
import { watchFinal } from '../common/notifications/await-final.js';
import { isFinal } from '../common/domain.js';
import { describeValue, PrataiError } from '../common/errors.js';
import { newRequest, submitRequests } from '../common/submit-request.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed } from './http.js';
import { admittedFunction, admitWebhookCaller } from './webhook-access.js';
import { boolean } from './params.js';

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

export function webhookRouter(deps: ApiDeps): Router {
  const { store, queue, notifier, log } = deps;
  const router = Router();
  router
    .route('/function/:function_id')
    .post(admitWebhookCaller(deps), express.raw({ type: () => true, limit: deps.settings.api.max_payload_bytes }), async (req, res) => {
      const call = parseCall(req.body);
      const waitAsked = req.query.wait === undefined ? undefined : boolean('wait', req.query.wait);
      const fn = admittedFunction(res);
      const functionId = fn.function_id;
      if (fn.status === 'error') {
        throw new PrataiError('FunctionNotReady', `The image of function \`${functionId}\` failed to build; see its build_log, then update or recreate it`);
      }
      if ('payloads' in call) {
        const requests = call.payloads.map((payload) => newRequest(fn, payload, { source: 'webhook' }));
        await submitRequests({ store, queue, notifier }, requests);
        if (log.debugging) log.debug(`${requests.length} requests queued for function ${fn.function_id}`, res.locals.requestId as string);
        res.status(202).json({ request_ids: requests.map((request) => request.request_id) });
        return;
      }
      const request = newRequest(fn, call.payload, { source: 'webhook' });
      let watch = undefined as ReturnType<typeof watchFinal> | undefined;
      try {
        // Listening before the job is queued: its outcome cannot come before the subscription.
        await submitRequests({ store, queue, notifier }, [request], {
          beforePublish: () => {
            if (waitAsked ?? fn.type === 'wait_for_response') watch = watchFinal(store, notifier, request.request_id);
          },
        });
      } catch (error) {
        watch?.close();
        throw error;
      }
      if (log.debugging) log.debug(`request ${request.request_id} queued for function ${fn.function_id}`, res.locals.requestId as string);
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
      if (outcome.status === 'timeout') throw new PrataiError('FunctionTimedOut', `Function \`${fn.function_id}\` ran past its timeout of ${fn.timeout} s`, { details });
      throw new PrataiError('FunctionFailed', `Function \`${fn.function_id}\` ended ${outcome.status}: ${outcome.error?.type ?? 'Error'}: ${outcome.error?.message ?? ''}`, { details });
    })
    .all(methodNotAllowed(['POST']));
  return router;
}
