/**
 * The two HTTP applications: the REST API (port 9998) and the webhooks (port 9898). Both share
 * request ids, the error body and the healthcheck.
 */
import express, { type Express, type Router } from 'express';
import { authenticate, stripIdentityHeaders } from './auth.js';
import type { ApiDeps } from './deps.js';
import { coordinationRouter } from './coordination.js';
import { discoveryRouter, healthcheckRouter } from './discovery.js';
import { eventsRouter } from './events.js';
import { consoleRouter } from './console.js';
import { functionsRouter } from './functions.js';
import { metricsRouter } from './metrics.js';
import { errorHandler, notFound, requestIds } from './http.js';
import { jobsRouter } from './jobs.js';
import { requestsRouter } from './requests.js';
import { runnersRouter } from './runners.js';
import { runtimesRouter } from './runtimes.js';
import { secretsRouter } from './secrets.js';
import { signInRouter } from './sign-in.js';
import { versionsRouter } from './versions.js';
import { webhookCalls, webhookRouter } from './webhook.js';
import { workflowsRouter } from './workflows.js';

function baseApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestIds(deps.log));
  app.use(stripIdentityHeaders);
  return app;
}

/**
 * `webhooks`: the webhook routes, served on the API's port too (one router, one rate limit), so
 * that the console calls them from its own origin.
 */
export function createApiApp(deps: ApiDeps, webhooks: Router = webhookRouter(webhookCalls(deps))): Express {
  const app = baseApp(deps);
  app.use(discoveryRouter(deps));
  app.use(consoleRouter(deps.settings.DEFAULT.auth_strategy));
  app.use(webhooks);
  app.use(healthcheckRouter(deps));
  app.use(metricsRouter(deps.metrics));
  // Signing in is how a console user gets the token every other /v1 call needs.
  app.use('/v1/auth', signInRouter(deps));
  app.use('/v1', authenticate(deps.auth));
  app.use('/v1/functions/:function_id', versionsRouter(deps));
  app.use('/v1/functions', functionsRouter(deps));
  app.use('/v1/requests', requestsRouter(deps));
  app.use('/v1/runners', runnersRouter(deps));
  app.use('/v1/runtimes', runtimesRouter(deps));
  app.use('/v1/secrets', secretsRouter(deps));
  app.use('/v1/jobs', jobsRouter(deps));
  app.use('/v1/events', eventsRouter(deps));
  app.use('/v1/coordination', coordinationRouter(deps));
  app.use('/v1/workflows', workflowsRouter(deps));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}

export function createWebhookApp(deps: ApiDeps, webhooks: Router = webhookRouter(webhookCalls(deps))): Express {
  const app = baseApp(deps);
  // A webhook's answer is never cached nor compared: no ETag (a hash of every body) to make.
  app.set('etag', false);
  app.use(healthcheckRouter(deps));
  app.use(webhooks);
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
