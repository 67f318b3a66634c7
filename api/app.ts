/**
 * The two HTTP applications: the REST API (port 9998) and the webhooks (port 9898). Both share
 * request ids, the error body and the healthcheck.
 */
import express, { type Express } from 'express';
import { authenticate, stripIdentityHeaders } from './auth.js';
import type { ApiDeps } from './deps.js';
import { discoveryRouter, healthcheckRouter } from './discovery.js';
import { eventsRouter } from './events.js';
import { functionsRouter } from './functions.js';
import { errorHandler, notFound, requestIds } from './http.js';
import { jobsRouter } from './jobs.js';
import { requestsRouter } from './requests.js';
import { runtimesRouter } from './runtimes.js';
import { secretsRouter } from './secrets.js';
import { webhookRouter } from './webhook.js';

function baseApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestIds(deps.log));
  app.use(stripIdentityHeaders);
  return app;
}

export function createApiApp(deps: ApiDeps): Express {
  const app = baseApp(deps);
  app.use(discoveryRouter(deps));
  app.use(healthcheckRouter(deps));
  app.use('/v1', authenticate(deps.auth));
  app.use('/v1/functions', functionsRouter(deps));
  app.use('/v1/requests', requestsRouter(deps));
  app.use('/v1/runtimes', runtimesRouter(deps));
  app.use('/v1/secrets', secretsRouter(deps));
  app.use('/v1/jobs', jobsRouter(deps));
  app.use('/v1/events', eventsRouter(deps));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}

export function createWebhookApp(deps: ApiDeps): Express {
  const app = baseApp(deps);
  // A webhook's answer is never cached nor compared: no ETag (a hash of every body) to make.
  app.set('etag', false);
  app.use(healthcheckRouter(deps));
  app.use(webhookRouter(deps));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
