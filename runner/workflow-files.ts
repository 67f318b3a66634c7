/**
 * The `faasr` service a workflow's function calls over its channel (pratai_runtime.storage and
 * the FaaSr_py stubs): the runner does the I/O against the workflow's data stores, since the
 * container has no network and no keys. Which invocation, data stores and project a call acts in
 * comes from the store (the action instance its request runs), never from the function. File
 * contents travel in base64 chunks (CHUNK_BYTES) so that no call line nears the output cap.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.js';
import { resolveSecrets } from '../common/secrets/resolve.js';
import type { Keyring } from '../common/secrets/keyring.js';
import type { Store } from '../common/store/store.js';
import type { InvocationRecord, WorkflowStore } from '../common/store/workflow-store.js';
import { DataStoreError, type DataStore } from '../common/workflows/data-store.js';
import { readWorkflow, type Workflow } from '../common/workflows/document.js';
import type { WorkflowEngine } from '../common/workflows/engine.js';
import { FunctionCallError } from './container-runtime.js';
import type { Caller, FunctionService } from './function-services.js';

/** Most bytes of one chunk a call carries (base64 makes it 4/3 larger). */
export const CHUNK_BYTES = 512 * 1024;
/** Most bytes one upload may gather before it is stored. */
const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;
/** Uploads left unfinished longer than this are dropped (their function died). */
const UPLOAD_TTL_MS = 3_600_000;
const OPEN_STORES = 64;

interface Upload {
  requestId: string;
  server: string;
  key: string;
  chunks: Buffer[];
  bytes: number;
  startedAt: number;
}

export interface WorkflowFilesDeps {
  store: Store;
  workflows: WorkflowStore;
  engine: WorkflowEngine;
  keyring: Keyring;
  log: Logger;
}

const str = (args: Record<string, unknown>, name: string, fallback?: string): string => {
  const value = args[name] ?? fallback;
  if (typeof value !== 'string') throw new FunctionCallError('InvalidArgument', `Expected \`${name}\` to be a string, got ${JSON.stringify(value) ?? 'nothing'}`);
  return value;
};

const int = (args: Record<string, unknown>, name: string): number => {
  const value = args[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new FunctionCallError('InvalidArgument', `Expected \`${name}\` to be an integer ≥ 0, got ${JSON.stringify(value) ?? 'nothing'}`);
  return value;
};

export class WorkflowFiles implements FunctionService {
  private readonly uploads = new Map<string, Upload>();
  private readonly stores = new Map<string, DataStore>();
  private readonly invocations = new Map<string, { invocation: InvocationRecord; workflow: Workflow }>();

  constructor(private readonly deps: WorkflowFilesDeps) {}

  async call(method: string, args: Record<string, unknown>, caller: Caller): Promise<unknown> {
    try {
      return await this.dispatch(method, args, caller);
    } catch (error) {
      if (error instanceof DataStoreError) throw new FunctionCallError(error.type, error.message);
      throw error;
    }
  }

  private async dispatch(method: string, args: Record<string, unknown>, caller: Caller): Promise<unknown> {
    switch (method) {
      case 'put_begin': {
        const store = await this.storeFor(caller, str(args, 'server', ''));
        if (!store.writable) throw new FunctionCallError('NotWritable', `Data store \`${store.name}\` is not Writable`);
        this.dropStaleUploads();
        const upload = randomBytes(12).toString('hex');
        this.uploads.set(upload, { requestId: caller.request.request_id, server: str(args, 'server', ''), key: str(args, 'key'), chunks: [], bytes: 0, startedAt: Date.now() });
        return { upload, chunk_bytes: CHUNK_BYTES };
      }
      case 'put_chunk': {
        const upload = this.upload(caller, str(args, 'upload'));
        const data = Buffer.from(str(args, 'data'), 'base64');
        upload.bytes += data.length;
        if (upload.bytes > MAX_UPLOAD_BYTES) {
          this.uploads.delete(str(args, 'upload'));
          throw new FunctionCallError('FileTooLarge', `Expected a file of at most ${MAX_UPLOAD_BYTES} bytes`);
        }
        upload.chunks.push(data);
        return null;
      }
      case 'put_end': {
        const id = str(args, 'upload');
        const upload = this.upload(caller, id);
        this.uploads.delete(id);
        const store = await this.storeFor(caller, upload.server);
        await store.put(upload.key, Buffer.concat(upload.chunks));
        return { key: upload.key, bytes: upload.bytes };
      }
      case 'read': {
        const store = await this.storeFor(caller, str(args, 'server', ''));
        const length = Math.min(int(args, 'length'), CHUNK_BYTES);
        const { data, size } = await store.read(str(args, 'key'), int(args, 'offset'), length);
        return { data: data.toString('base64'), size };
      }
      case 'delete': {
        const store = await this.storeFor(caller, str(args, 'server', ''));
        if (!store.writable) throw new FunctionCallError('NotWritable', `Data store \`${store.name}\` is not Writable`);
        await store.delete(str(args, 'key'));
        return null;
      }
      case 'list': {
        const store = await this.storeFor(caller, str(args, 'server', ''));
        return store.list(str(args, 'prefix', ''));
      }
      case 'creds': {
        const { workflow, invocation } = await this.invocationOf(caller);
        const name = str(args, 'server', '') || workflow.defaultDataStore;
        const spec = workflow.dataStores.get(name);
        if (spec === undefined) throw new FunctionCallError('UnknownDataStore', `The workflow has no data store \`${name}\``);
        let keys = { AccessKey: spec.AccessKey ?? '', SecretKey: spec.SecretKey ?? '' };
        if (spec.AccessKey === undefined && spec.Endpoint !== 'local' && !spec.Anonymous) {
          const names = [`${name}_AccessKey`, `${name}_SecretKey`];
          const values: Record<string, string> = await resolveSecrets(this.deps.store, this.deps.keyring, invocation.tenant_id, names).catch(() => ({}));
          keys = { AccessKey: values[`${name}_AccessKey`] ?? '', SecretKey: values[`${name}_SecretKey`] ?? '' };
        }
        return { Name: name, Endpoint: spec.Endpoint, Bucket: spec.Bucket, Region: spec.Region, Anonymous: spec.Anonymous, Writable: spec.Writable, ...keys };
      }
      case 'secret': {
        const { invocation } = await this.invocationOf(caller);
        const name = str(args, 'name');
        try {
          const values = await resolveSecrets(this.deps.store, this.deps.keyring, invocation.tenant_id, [name]);
          return values[name] ?? null;
        } catch {
          throw new FunctionCallError('UnknownSecret', `The project has no secret \`${name}\``);
        }
      }
      default:
        throw new FunctionCallError('UnknownMethod', `The faasr service has no method \`${method}\`; expected put_begin, put_chunk, put_end, read, delete, list, creds or secret`);
    }
  }

  private upload(caller: Caller, id: string): Upload {
    const upload = this.uploads.get(id);
    if (upload === undefined || upload.requestId !== caller.request.request_id) throw new FunctionCallError('UnknownUpload', `No upload \`${id}\` of this request under way`);
    return upload;
  }

  private dropStaleUploads(): void {
    const before = Date.now() - UPLOAD_TTL_MS;
    for (const [id, upload] of this.uploads) if (upload.startedAt < before) this.uploads.delete(id);
  }

  private async invocationOf(caller: Caller): Promise<{ invocation: InvocationRecord; workflow: Workflow }> {
    const requestId = caller.request.request_id;
    let found = this.invocations.get(requestId);
    if (found === undefined) {
      const owned = await this.deps.workflows.instanceOfRequest(requestId);
      if (owned === undefined || owned.invocation.tenant_id !== caller.request.tenant_id) {
        throw new FunctionCallError('NotAWorkflowAction', 'Only an action of a workflow invocation may use the faasr service');
      }
      found = { invocation: owned.invocation, workflow: readWorkflow(owned.invocation.document) };
      if (this.invocations.size >= OPEN_STORES) this.invocations.delete(this.invocations.keys().next().value as string);
      this.invocations.set(requestId, found);
    }
    return found;
  }

  private async storeFor(caller: Caller, server: string): Promise<DataStore> {
    const { invocation, workflow } = await this.invocationOf(caller);
    const name = server || workflow.defaultDataStore;
    if (!workflow.dataStores.has(name)) throw new FunctionCallError('UnknownDataStore', `The workflow has no data store \`${name}\` (it has ${[...workflow.dataStores.keys()].join(', ')})`);
    const cacheKey = `${invocation.invocation_id}/${name}`;
    let store = this.stores.get(cacheKey);
    if (store === undefined) {
      store = await this.deps.engine.dataStore(workflow, name, invocation.tenant_id);
      if (this.stores.size >= OPEN_STORES) {
        const [oldest, old] = this.stores.entries().next().value as [string, DataStore];
        this.stores.delete(oldest);
        old.close();
      }
      this.stores.set(cacheKey, store);
    }
    return store;
  }

  close(): void {
    for (const store of this.stores.values()) store.close();
    this.stores.clear();
  }
}
