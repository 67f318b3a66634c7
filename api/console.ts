/**
 * The console at `/console/`: the single-page application `npm run build` bundles into
 * dist/console (scripts/build-console.mjs). Its page is revalidated on every load, its assets
 * carry their content's hash in their names and are cached for good. It talks to the API like
 * any client, so it needs no authentication to be served. `/console/config.json` tells it, before
 * any call, whether to show the Keystone sign-in (`auth_strategy`).
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import express, { Router } from 'express';
import type { Settings } from '../common/config.js';
import { PrataiError } from '../common/errors.js';

/** dist/console, whether this file runs built (dist/api) or from its source (api/, under tsx). */
export function consoleDir(): string {
  const here = import.meta.dirname;
  const root = dirname(here);
  return basename(root) === 'dist' ? join(root, 'console') : join(root, 'dist', 'console');
}

export function consoleRouter(authStrategy: Settings['DEFAULT']['auth_strategy'], dir = consoleDir()): Router {
  const router = Router();
  router.get('/console/config.json', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.json({ auth_strategy: authStrategy });
  });
  router.use('/console/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '365d', index: false, fallthrough: false }));
  router.get('/console', (req, res) => {
    // Express matches `/console` and `/console/` alike; the page's relative asset paths need the slash.
    if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
      res.redirect(301, '/console/');
      return;
    }
    const page = join(dir, 'index.html');
    if (!existsSync(page)) throw new PrataiError('ConsoleNotBuilt', `The console is not built: ${page} is missing; run \`npm run build\``);
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'");
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.sendFile(page);
  });
  return router;
}
