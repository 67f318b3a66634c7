/**
 * `GET /metrics`: the process's Prometheus metrics in the text format, without authentication
 * (as `/healthcheck`): Prometheus scrapes with no token. What it shows is counts and the ids of
 * functions, never payloads; an operator who would hide those from the API's users keeps the
 * path off the public endpoint (docs/deployment.md).
 */
import { Router } from 'express';
import type { Metrics } from '../common/metrics.js';

export function metricsRouter(metrics: Metrics): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    const { contentType, body } = await metrics.exposition();
    res.setHeader('Cache-Control', 'no-store');
    res.type(contentType).send(body);
  });
  return router;
}
