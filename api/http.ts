/**
 * What every Pratai HTTP answer shares: an `x-openstack-request-id`, one error body shape with a
 * stable code, and an access log line.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { coerceError, PrataiError } from '../common/errors.js';
import { newRequestId } from '../common/ids.js';
import type { Logger } from '../common/log.js';

/** The request id of the HTTP exchange a response belongs to. */
export const requestIdOf = (res: Response): string => res.locals.requestId as string;

export function requestIds(log: Logger): RequestHandler {
  return (req, res, next) => {
    const requestId = newRequestId();
    res.locals.requestId = requestId;
    res.setHeader('x-openstack-request-id', requestId);
    if (log.debugging) {
      const started = performance.now();
      res.on('finish', () => {
        log.debug(`${req.method} ${req.originalUrl} ${res.statusCode} ${(performance.now() - started).toFixed(1)} ms`, requestId);
      });
    }
    next();
  };
}

/** The one error body: `{"error": {"status", "code", "title", "message", "request_id"}}`. */
export function sendError(res: Response, error: PrataiError): void {
  if (error.code === 'Unauthorized' || error.code === 'ServiceUnavailable') res.setHeader('Cache-Control', 'no-store');
  res.status(error.status).json({
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

/** Runs a middleware (a body parser) inside a handler, as a promise. */
export function runMiddleware(middleware: RequestHandler, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    void middleware(req, res, (error?: unknown) => (error ? reject(error instanceof Error ? error : new Error('middleware failed', { cause: error })) : resolve()));
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
    const error = coerceError(translateHttpError(thrown));
    if (error.status >= 500) log.error(`${error.code}: ${error.message}${error.cause instanceof Error && error.cause.stack ? `\n${error.cause.stack}` : ''}`, requestIdOf(res));
    sendError(res, error);
  };
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
