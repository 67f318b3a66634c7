/**
 * /v1/secrets: a project's secrets. A value goes in (POST, PUT), is sealed with the keyring at
 * once and stored only so; no answer, log line or error message carries it back: the API shows a
 * secret's name, version, times and the functions that name it. Secrets are addressed by name
 * within the caller's project: another project's secret is a 404, an administrator's included.
 */
import express, { Router, type Request, type Response } from 'express';
import { MAX_SECRET_BYTES, SECRET_NAME, type SecretRecord, type SecretUse } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { now } from '../common/ids.js';
import { identityOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed, runMiddleware } from './http.js';
import { onlyKnown, text } from './params.js';
import { authorize } from './policy.js';

/** The body of a POST or PUT: a value of MAX_SECRET_BYTES, escaped as JSON at worst 6 bytes a byte. */
const MAX_BODY_BYTES = 6 * MAX_SECRET_BYTES + 4096;

/** A secret as the API shows it: never its value, nor its ciphertext. */
export function secretView(secret: SecretRecord, uses: readonly SecretUse[]): Record<string, unknown> {
  return {
    name: secret.name,
    version: secret.version,
    created_at: secret.created_at,
    updated_at: secret.updated_at,
    functions: uses.filter((use) => use.secret === secret.name).map((use) => ({ function_id: use.function_id, name: use.function_name })),
  };
}

/** The value of a secret as given: a string of at most MAX_SECRET_BYTES. Messages say its type or size, never its text. */
function secretValue(value: unknown): string {
  if (value === undefined) throw new PrataiError('InvalidParameter', "Expected `value`, the secret's value, got nothing");
  if (typeof value !== 'string') throw new PrataiError('InvalidParameter', `Expected \`value\` to be a string, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}`);
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_SECRET_BYTES) throw new PrataiError('InvalidParameter', `Expected \`value\` to take at most ${MAX_SECRET_BYTES} bytes (UTF-8), got ${bytes} bytes`);
  return value;
}

export function secretsRouter(deps: ApiDeps): Router {
  const { store, keyring, log } = deps;
  const router = Router();
  const raw = express.text({ type: () => true, limit: MAX_BODY_BYTES });

  /**
   * The JSON object of the body. Parsed here rather than by express.json, whose errors quote
   * the text they could not read: that text may be a secret.
   */
  const readBody = async (req: Request, res: Response, fields: readonly string[]): Promise<Record<string, unknown>> => {
    const shape = `{${fields.map((field) => `"${field}"`).join(', ')}}`;
    if (!req.is('application/json')) throw new PrataiError('InvalidJson', `Expected a JSON object ${shape} with Content-Type application/json`);
    await runMiddleware(raw, req, res);
    let body: unknown;
    try {
      body = JSON.parse(typeof req.body === 'string' ? req.body : '');
    } catch {
      throw new PrataiError('InvalidJson', `The request body is not valid JSON; expected a JSON object ${shape}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', `Expected a JSON object ${shape}`);
    onlyKnown('field', body as Record<string, unknown>, fields);
    return body as Record<string, unknown>;
  };

  const notFound = (name: string): PrataiError => new PrataiError('SecretNotFound', `No secret named \`${name}\` in this project`);

  /** The caller's project's secret `name`, shown. */
  const shown = async (tenantId: string, name: string): Promise<Record<string, unknown>> => {
    const secret = await store.getSecret(tenantId, name);
    if (secret === undefined) throw notFound(name);
    return secretView(secret, await store.listSecretUses(tenantId, name));
  };

  router
    .route('/')
    .get(async (_req, res) => {
      authorize(deps.policy, res, 'secret:list');
      const { tenantId } = identityOf(res);
      const [secrets, uses] = await Promise.all([store.listSecrets({ tenantId }), store.listSecretUses(tenantId)]);
      res.json({ secrets: secrets.map((secret) => secretView(secret, uses)) });
    })
    .post(async (req, res) => {
      authorize(deps.policy, res, 'secret:create');
      const fields = await readBody(req, res, ['name', 'value']);
      if (fields.name === undefined) throw new PrataiError('InvalidParameter', 'Expected `name`, the name of the secret, got nothing');
      const name = text('name', fields.name, SECRET_NAME);
      const value = secretValue(fields.value);
      const { tenantId } = identityOf(res);
      const at = now();
      const secret: SecretRecord = { tenant_id: tenantId, name, ...keyring.seal(tenantId, name, value), version: 1, created_at: at, updated_at: at };
      await store.createSecret(secret);
      log.info(`secret ${name} created (key ${secret.key_id})`, res.locals.requestId as string);
      res.status(201).json({ secret: secretView(secret, []) });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:name')
    .get(async (req, res) => {
      authorize(deps.policy, res, 'secret:get');
      res.json({ secret: await shown(identityOf(res).tenantId, req.params.name) });
    })
    .put(async (req, res) => {
      authorize(deps.policy, res, 'secret:update');
      const { name } = req.params;
      const value = secretValue((await readBody(req, res, ['value'])).value);
      const { tenantId } = identityOf(res);
      const sealed = keyring.seal(tenantId, name, value);
      if (!(await store.updateSecret(tenantId, name, sealed, now()))) throw notFound(name);
      log.info(`secret ${name} changed (key ${sealed.key_id})`, res.locals.requestId as string);
      res.json({ secret: await shown(tenantId, name) });
    })
    .delete(async (req, res) => {
      authorize(deps.policy, res, 'secret:delete');
      const { name } = req.params;
      if (!(await store.deleteSecret(identityOf(res).tenantId, name))) throw notFound(name);
      log.info(`secret ${name} deleted`, res.locals.requestId as string);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'PUT', 'DELETE']));

  return router;
}
