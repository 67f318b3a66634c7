/**
 * /v1/functions/{id}/versions and …/aliases: publish the function as it is as an immutable
 * version, list, show and delete versions (not one an alias targets); create, list, show, move or
 * reweight, and delete aliases. The function's visibility and the caller's rights are checked
 * first, as for the function itself: another project's function is a 404.
 */
import express, { Router, type Request, type Response } from 'express';
import { ALIAS_NAME, type AliasRecord, type FunctionRecord, type FunctionVersion } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { now } from '../common/ids.js';
import type { AliasChanges } from '../common/store/store.js';
import type { ApiDeps } from './deps.js';
import { webhookBase } from './functions.js';
import { methodNotAllowed, runMiddleware } from './http.js';
import { authorizeOn, visibleScope } from './policy.js';
import { onlyKnown, text } from './params.js';
import { functionNotFound, userFunction } from './user-functions.js';
import { versionNumber } from '../common/version-routing.js';

const ALIAS_FIELDS = ['name', 'version', 'description', 'weights'] as const;
const ALIAS_UPDATE_FIELDS = ['version', 'description', 'weights'] as const;

/** A version as the API shows it: its snapshot, its image and its webhook endpoint. */
export function versionView(version: FunctionVersion, base: string): Record<string, unknown> {
  const image = `pratai/function-${version.function_id}:${version.code_sha256.slice(0, 16)}`;
  return { ...version, image, endpoint: `${base}/function/${version.function_id}/versions/${version.version}` };
}

export function aliasView(alias: AliasRecord, base: string): Record<string, unknown> {
  return { ...alias, endpoint: `${base}/function/${alias.function_id}/aliases/${alias.name}` };
}

function aliasName(raw: unknown): string {
  if (raw === 'latest') throw new PrataiError('InvalidParameter', 'Expected `name` to be an alias name other than `latest`, which names the function as it is; got `latest`');
  return text('name', raw, ALIAS_NAME);
}

/** Shares of calls sent to other versions: version numbers to numbers from 0 to 1, summing to at most 1, none for `target`. */
function readWeights(raw: unknown, target: number): Record<string, number> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PrataiError('InvalidParameter', `Expected \`weights\` to be an object of version numbers to shares of calls, such as {"2": 0.1}, got \`${JSON.stringify(raw)}\``);
  }
  const weights: Record<string, number> = {};
  let sum = 0;
  for (const [key, share] of Object.entries(raw as Record<string, unknown>)) {
    const version = versionNumber('weights key', key);
    if (version === target) throw new PrataiError('InvalidParameter', `Expected \`weights\` to name versions other than the alias's own (${target}), got ${version}`);
    if (typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share > 1) {
      throw new PrataiError('InvalidParameter', `Expected the weight of version ${version} to be a number from 0 to 1, got \`${JSON.stringify(share)}\``);
    }
    weights[String(version)] = share;
    sum += share;
  }
  // A little room for decimal fractions (0.7 + 0.2 + 0.1 is 1.0000000000000002).
  if (sum > 1 + 1e-9) throw new PrataiError('InvalidParameter', `Expected the \`weights\` to sum to at most 1, got ${Number(sum.toFixed(6))}`);
  return weights;
}

export function versionsRouter(deps: ApiDeps): Router {
  const { store, queue, log } = deps;
  const router = Router({ mergeParams: true });
  const json = express.json({ limit: 64 * 1024 });

  const readJson = async (req: Request, res: Response): Promise<Record<string, unknown>> => {
    if (!req.is('application/json')) return {};
    await runMiddleware(json, req, res);
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', 'Expected a JSON object');
    return body as Record<string, unknown>;
  };

  const functionFor = async (req: Request, res: Response, action: string): Promise<FunctionRecord> => {
    const functionId = req.params.function_id as string;
    const fn = await userFunction(store, functionId, visibleScope(deps.policy, res));
    if (fn === undefined) throw functionNotFound(functionId);
    authorizeOn(deps.policy, res, action, fn);
    return fn;
  };

  const versionOf = async (fn: FunctionRecord, raw: unknown): Promise<FunctionVersion> => {
    const number = versionNumber('version', raw);
    const version = await store.getVersion(fn.function_id, number);
    if (version === undefined) throw new PrataiError('VersionNotFound', `Function \`${fn.function_id}\` has no version ${number}`);
    return version;
  };

  const aliasOf = async (fn: FunctionRecord, name: string): Promise<AliasRecord> => {
    const alias = await store.getAlias(fn.function_id, name);
    if (alias === undefined) throw new PrataiError('AliasNotFound', `Function \`${fn.function_id}\` has no alias \`${name}\``);
    return alias;
  };

  router
    .route('/versions')
    .get(async (req, res) => {
      const fn = await functionFor(req, res, 'function:version:list');
      const base = webhookBase(req, deps);
      res.json({ versions: (await store.listVersions(fn.function_id)).map((version) => versionView(version, base)) });
    })
    .post(async (req, res) => {
      const fn = await functionFor(req, res, 'function:version:publish');
      const body = await readJson(req, res);
      onlyKnown('field', body, ['description']);
      const description = body.description === undefined ? '' : text('description', body.description, { max: 1024 });
      if (fn.status === 'error') {
        throw new PrataiError('FunctionNotReady', `The image of function \`${fn.function_id}\` failed to build; a version of it could not run. See its build_log, then update it`);
      }
      const published = await store.publishVersion(fn.function_id, description, now());
      if (published === undefined) throw new PrataiError('FunctionNotFound', `No function with id \`${fn.function_id}\` in this project`);
      if (published.published) log.info(`function ${fn.function_id} published as version ${published.version.version}`, res.locals.requestId as string);
      res.status(published.published ? 201 : 200).json({ version: versionView(published.version, webhookBase(req, deps)), published: published.published });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/versions/:version')
    .get(async (req, res) => {
      const fn = await functionFor(req, res, 'function:version:get');
      res.json({ version: versionView(await versionOf(fn, req.params.version), webhookBase(req, deps)) });
    })
    .delete(async (req, res) => {
      const fn = await functionFor(req, res, 'function:version:delete');
      const version = await versionOf(fn, req.params.version);
      if (!(await store.deleteVersion(fn.function_id, version.version))) throw new PrataiError('VersionNotFound', `Function \`${fn.function_id}\` has no version ${version.version}`);
      // Its image goes once no request of it is left (a runner's job); a lost message only leaves an unused image behind.
      await queue
        .publish({ kind: 'forget', function_id: fn.function_id, version: version.version, code_sha256: version.code_sha256 })
        .catch((error: Error) => log.warning(`could not queue the image removal of version ${version.version} of ${fn.function_id}: ${error.message}`));
      log.info(`version ${version.version} of function ${fn.function_id} deleted`, res.locals.requestId as string);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'DELETE']));

  router
    .route('/aliases')
    .get(async (req, res) => {
      const fn = await functionFor(req, res, 'function:alias:list');
      const base = webhookBase(req, deps);
      res.json({ aliases: (await store.listAliases(fn.function_id)).map((alias) => aliasView(alias, base)) });
    })
    .post(async (req, res) => {
      const fn = await functionFor(req, res, 'function:alias:create');
      const body = await readJson(req, res);
      onlyKnown('field', body, ALIAS_FIELDS);
      if (body.name === undefined) throw new PrataiError('InvalidParameter', 'Expected `name`, the name of the alias, got nothing');
      const name = aliasName(body.name);
      if (body.version === undefined) throw new PrataiError('InvalidParameter', 'Expected `version`, the number of the version the alias targets, got nothing');
      const version = versionNumber('version', body.version);
      const at = now();
      const alias: AliasRecord = {
        function_id: fn.function_id,
        tenant_id: fn.tenant_id,
        name,
        version,
        weights: body.weights === undefined ? {} : readWeights(body.weights, version),
        description: body.description === undefined ? '' : text('description', body.description, { max: 1024 }),
        created_at: at,
        updated_at: at,
      };
      await store.createAlias(alias);
      log.info(`alias ${name} of function ${fn.function_id} created on version ${version}`, res.locals.requestId as string);
      res.status(201).json({ alias: aliasView(alias, webhookBase(req, deps)) });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/aliases/:alias')
    .get(async (req, res) => {
      const fn = await functionFor(req, res, 'function:alias:get');
      res.json({ alias: aliasView(await aliasOf(fn, req.params.alias), webhookBase(req, deps)) });
    })
    .patch(async (req, res) => {
      const fn = await functionFor(req, res, 'function:alias:update');
      const alias = await aliasOf(fn, req.params.alias);
      const body = await readJson(req, res);
      onlyKnown('field', body, ALIAS_UPDATE_FIELDS);
      const version = body.version === undefined ? alias.version : versionNumber('version', body.version);
      const changes: AliasChanges = {
        ...(body.version !== undefined && { version }),
        // Weights kept across a move must still name other versions than the new target.
        weights: readWeights(body.weights ?? alias.weights, version),
        ...(body.description !== undefined && { description: text('description', body.description, { max: 1024 }) }),
        updated_at: now(),
      };
      if (!(await store.updateAlias(fn.function_id, alias.name, changes))) throw new PrataiError('AliasNotFound', `Function \`${fn.function_id}\` has no alias \`${alias.name}\``);
      log.info(`alias ${alias.name} of function ${fn.function_id} now on version ${version}`, res.locals.requestId as string);
      res.json({ alias: aliasView({ ...alias, ...changes }, webhookBase(req, deps)) });
    })
    .delete(async (req, res) => {
      const fn = await functionFor(req, res, 'function:alias:delete');
      if (!(await store.deleteAlias(fn.function_id, req.params.alias))) throw new PrataiError('AliasNotFound', `Function \`${fn.function_id}\` has no alias \`${req.params.alias}\``);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'PATCH', 'DELETE']));

  return router;
}
