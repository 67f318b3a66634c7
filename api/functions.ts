/**
 * /v1/functions: create (multipart upload of the zip), list, show, delete.
 * Everything is checked before anything is stored; a function is stored, then its build job is
 * queued, and if the queue refuses the function is removed again: nothing half-made remains.
 */
import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import multer, { MulterError } from 'multer';
import type { FunctionRecord, FunctionCode } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { newId, now } from '../common/ids.js';
import { inspectArchive } from './archive.js';
import { identityOf, scopeOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed } from './http.js';
import { boolean, decimal, integer, oneOf, onlyKnown, text } from './params.js';

const CREATE_FIELDS = ['name', 'description', 'runtime', 'memory', 'cpus', 'timeout', 'public', 'type', 'event'] as const;
const NAME = { pattern: /^(?![0-9a-f]{32}$)[A-Za-z0-9][A-Za-z0-9_.-]*$/, hint: 'letters, digits, `_`, `.` and `-`, starting with a letter or digit, and not 32 hex characters (that is an id)' };

/** The function as the API shows it: no code, the webhook endpoint added. */
export function functionView(fn: FunctionRecord, webhookBase: string, options: { withBuildLog?: boolean } = {}): Record<string, unknown> {
  const { build_log: buildLog, code_sha256: _sha, ...shown } = fn;
  return { ...shown, endpoint: `${webhookBase}/function/${fn.function_id}`, ...(options.withBuildLog ? { build_log: buildLog } : {}) };
}

/** Base URL of the webhooks: configured, or the host the caller reached the API on. */
export function webhookBase(req: Request, deps: ApiDeps): string {
  if (deps.settings.api.webhook_public_url) return deps.settings.api.webhook_public_url.replace(/\/+$/, '');
  const host = (req.headers.host ?? 'localhost').replace(/:\d+$/, '');
  return `http://${host}:${deps.webhookPort()}`;
}

/** Names the image of a function's code on its runtime. */
export const codeSha256 = (runtime: string, code: FunctionCode): string =>
  createHash('sha256').update(`${runtime}\0${code.module}\0${code.requirements}`).digest('hex');

export function functionsRouter(deps: ApiDeps): Router {
  const { store, queue, settings, log } = deps;
  const router = Router();
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: settings.api.max_zip_bytes, files: 1, fields: CREATE_FIELDS.length, fieldSize: 64 * 1024, parts: CREATE_FIELDS.length + 1 },
  }).single('zip');

  const getScoped = async (res: Response, functionId: string): Promise<FunctionRecord> => {
    const fn = await store.getFunction(functionId, scopeOf(res));
    if (fn === undefined) throw new PrataiError('FunctionNotFound', `No function with id \`${functionId}\` in this project`);
    return fn;
  };

  router
    .route('/')
    .get(async (req, res) => {
      const functions = await store.listFunctions(scopeOf(res));
      res.json({ functions: functions.map((fn) => functionView(fn, webhookBase(req, deps))) });
    })
    .post(async (req, res) => {
      if (!req.is('multipart/form-data')) {
        throw new PrataiError('ZipMissing', 'Expected a multipart/form-data upload with the function zip in the file field `zip`');
      }
      await new Promise<void>((resolve, reject) => upload(req, res, (error: unknown) => (error ? reject(translateMulterError(error, settings.api.max_zip_bytes)) : resolve())));
      const fields = (req.body ?? {}) as Record<string, unknown>;
      onlyKnown('field', fields, CREATE_FIELDS);
      if (fields.name === undefined) throw new PrataiError('InvalidParameter', 'Expected `name`, the name of the function, got nothing');
      const runtimeName = fields.runtime === undefined ? 'python3' : text('runtime', fields.runtime);
      const runtime = await store.getRuntime(runtimeName);
      if (runtime === undefined) {
        const names = (await store.listRuntimes()).map((r) => r.name);
        throw new PrataiError('RuntimeNotFound', `Expected \`runtime\` to be one of ${names.join(', ')}, got \`${runtimeName}\``);
      }
      const draft = {
        name: text('name', fields.name, NAME),
        description: fields.description === undefined ? '' : text('description', fields.description, { max: 1024 }),
        memory: fields.memory === undefined ? 128 : integer('memory', fields.memory, 64, 4096, 'MiB'),
        cpus: fields.cpus === undefined ? 1 : decimal('cpus', fields.cpus, 0.1, 16),
        timeout: fields.timeout === undefined ? 30 : integer('timeout', fields.timeout, 1, 900, 'seconds'),
        public: fields.public === undefined ? false : boolean('public', fields.public),
        type: fields.type === undefined ? 'async' : oneOf('type', fields.type, ['async'] as const),
        event: fields.event === undefined ? 'webhook' : oneOf('event', fields.event, ['webhook'] as const),
      };
      if (req.file === undefined) throw new PrataiError('ZipMissing', 'Expected the function zip in the multipart file field `zip`, got no file');
      const archive = inspectArchive(req.file.buffer, { maxEntries: settings.api.max_zip_entries, maxUncompressedBytes: settings.api.max_unpacked_bytes });
      const code = { module: archive.module, requirements: archive.requirements };
      const identity = identityOf(res);
      const at = now();
      const fn: FunctionRecord = {
        function_id: newId(),
        user_id: identity.userId,
        tenant_id: identity.tenantId,
        ...draft,
        runtime: runtime.name,
        status: 'building',
        build_log: '',
        code_sha256: codeSha256(runtime.name, code),
        created_at: at,
        updated_at: at,
      };
      await store.createFunction(fn, code);
      try {
        await queue.publish({ kind: 'build', function_id: fn.function_id, code_sha256: fn.code_sha256 });
      } catch (error) {
        await store.deleteFunction(fn.function_id);
        throw error;
      }
      log.info(`function ${fn.function_id} (${fn.name}) created; ${archive.ignoredEntries} archive entries ignored`, res.locals.requestId as string);
      res.status(201).json({ function: functionView(fn, webhookBase(req, deps), { withBuildLog: true }), ignored_entries: archive.ignoredEntries });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:function_id')
    .get(async (req, res) => {
      const fn = await getScoped(res, req.params.function_id);
      res.json({ function: functionView(fn, webhookBase(req, deps), { withBuildLog: true }) });
    })
    .delete(async (req, res) => {
      const fn = await getScoped(res, req.params.function_id);
      await store.deleteFunction(fn.function_id);
      const cancelled = await store.cancelQueuedRequests(fn.function_id, 'The function was deleted', now());
      // Image removal is the runners' job (the API never talks to Docker); a lost message only
      // leaves an unused image behind.
      await queue.publish({ kind: 'forget', function_id: fn.function_id }).catch((error: Error) => log.warning(`could not queue image removal for ${fn.function_id}: ${error.message}`));
      log.info(`function ${fn.function_id} deleted; ${cancelled} queued request(s) cancelled`, res.locals.requestId as string);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'DELETE']));

  return router;
}

function translateMulterError(error: unknown, maxZipBytes: number): unknown {
  if (!(error instanceof MulterError)) return error;
  switch (error.code) {
    case 'LIMIT_FILE_SIZE':
      return new PrataiError('ZipTooLarge', `The zip is over the upload limit of ${maxZipBytes} bytes`);
    case 'LIMIT_UNEXPECTED_FILE':
      return new PrataiError('InvalidParameter', `Unexpected file field \`${error.field ?? '?'}\`; the function zip goes in the field \`zip\`, once`);
    default:
      return new PrataiError('InvalidParameter', `The multipart upload was refused: ${error.message}`);
  }
}
