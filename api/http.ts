/**
 * What every Pratai HTTP answer shares: an `x-openstack-request-id`, one error body shape with a
 * stable code, and an access log line. Written for Node's own request and response, which
 * Express's extend: the lean routes (api/lean-router.ts) and the Express app share them.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { coerceError, PrataiError } from '../common/errors.js';
import { newRequestId } from '../common/ids.js';
import type { Logger } from '../common/log.js';

const REQUEST_ID_HEADER = 'x-openstack-request-id';

/** The request id of the HTTP exchange a response belongs to: the header it was given first. */
export const requestIdOf = (res: ServerResponse): string => res.getHeader(REQUEST_ID_HEADER) as string;

/** Gives the exchange its request id (the answer's header) and, when debugging, its access log line; returns the id. */
export function beginExchange(req: IncomingMessage, res: ServerResponse, log: Logger): string {
  const requestId = newRequestId();
  res.setHeader(REQUEST_ID_HEADER, requestId);
  if (log.debugging) {
    const started = performance.now();
    // Read now: Express's routers rewrite req.url (a mounted router strips its path) before the end.
    const { method, url } = req;
    res.on('finish', () => {
      log.debug(`${method} ${url} ${res.statusCode} ${(performance.now() - started).toFixed(1)} ms`, requestId);
    });
  }
  return requestId;
}

export function requestIds(log: Logger): RequestHandler {
  return (req, res, next) => {
    res.locals.requestId = beginExchange(req, res, log);
    next();
  };
}

/**
 * A JSON answer, as Express's `res.status(status).json(body)` makes it (the same headers, in
 * the same order), for Node's own response too.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) as string | undefined;
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  if (text === undefined) {
    res.end();
    return;
  }
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** The one error body: `{"error": {"status", "code", "title", "message", "request_id"}}`. */
export function sendError(res: ServerResponse, error: PrataiError): void {
  if (error.code === 'Unauthorized' || error.code === 'ServiceUnavailable') res.setHeader('Cache-Control', 'no-store');
  sendJson(res, error.status, {
    error: {
      status: error.status,
      code: error.code,
      title: STATUS_CODES[error.status] ?? 'Error',
      message: error.message,
      request_id: requestIdOf(res),
      ...(error.details ? { details: error.details } : {}),
    },
  });
}

/**
 * Runs a middleware (a body parser) inside a handler, as a promise. Body parsers read Node's own
 * request alone, so a lean route may run one too.
 */
export function runMiddleware(middleware: RequestHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    void middleware(req as Request, res as Response, (error?: unknown) => (error ? reject(error instanceof Error ? error : new Error('middleware failed', { cause: error })) : resolve()));
  });
}

export const notFound: RequestHandler = (req, res) => {
  sendError(res, new PrataiError('NotFound', `No route for ${req.method} ${req.path}`));
};

/** Answers 405 with the methods a route does support. */
export const methodNotAllowed = (allowed: string[]): RequestHandler => (req, res) => {
  res.setHeader('Allow', allowed.join(', '));
  sendError(res, new PrataiError('MethodNotAllowed', `${req.method} is not supported on ${req.path}; use ${allowed.join(' or ')}`));
};

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (thrown: unknown, _req, res, next) => {
    if (res.headersSent) return next(thrown);
    answerError(log, res, thrown);
  };
}

/** Answers what a handler threw with the error body; a server error is logged with its cause. */
export function answerError(log: Logger, res: ServerResponse, thrown: unknown): void {
  const error = coerceError(translateHttpError(thrown));
  if (error.status >= 500) log.error(`${error.code}: ${error.message}${error.cause instanceof Error && error.cause.stack ? `\n${error.cause.stack}` : ''}`, requestIdOf(res));
  sendError(res, error);
}

/** Body-parser errors carry a status and a type; they become registered codes. */
function translateHttpError(thrown: unknown): unknown {
  const error = thrown as { type?: string; status?: number; limit?: number; message?: string };
  if (error?.type === 'entity.too.large') return new PrataiError('PayloadTooLarge', `The request body is over the limit of ${error.limit} bytes`);
  if (error?.type === 'entity.parse.failed') return new PrataiError('InvalidJson', `The request body is not valid JSON: ${error.message}`);
  if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500 && !(thrown instanceof PrataiError)) {
    return new PrataiError('InvalidParameter', error.message ?? 'The request could not be read');
  }
  return thrown;
}
