/**
 * A workflow's data stores, where its functions' files and FaaSr's logs live: an S3 bucket
 * (any S3 API: the cloud's Swift, Ceph RGW, AWS) through @aws-sdk/client-s3, or, for the
 * all-in-one platform with no object store at hand, a folder (Endpoint `local`: one machine only).
 * Only runners and the API open them; functions reach them through their runner (runner/workflow-files.ts).
 */

import { mkdir, readdir, rm, writeFile, open, rename } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { Settings } from '../config.js';
import type { DataStore as DataStoreSpec } from './document.js';

/** A failure the function should see by name: NoSuchKey, AccessDenied, NotWritable, DataStoreUnavailable. */
export class DataStoreError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DataStore {
  readonly name: string;
  readonly writable: boolean;
  put(key: string, body: Buffer): Promise<void>;
  /** Bytes [offset, offset + length) of an object, and its whole size. */
  read(key: string, offset: number, length: number): Promise<{ data: Buffer; size: number }>;
  delete(key: string): Promise<void>;
  /** Full keys under `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  close(): void;
}

/** Where a data store's keys come from: the document, else the project's secrets `{Store}_AccessKey` / `{Store}_SecretKey`. */
export interface Credentials {
  accessKey: string;
  secretKey: string;
}

export interface DataStoreOptions {
  /** FROM=TO endpoint pairs ([workflows] endpoint_map). */
  endpointMap: readonly string[];
  /** Folder of `local` stores ([workflows] local_data_path, else <state_path>/workflow-data). */
  localRoot: string;
}

export const dataStoreOptions = (settings: Settings): DataStoreOptions => ({
  endpointMap: settings.workflows.endpoint_map,
  localRoot: settings.workflows.local_data_path || join(settings.DEFAULT.state_path, 'workflow-data'),
});

export function openDataStore(name: string, spec: DataStoreSpec, tenantId: string, credentials: Credentials | undefined, options: DataStoreOptions): DataStore {
  if (spec.Endpoint === 'local') return new LocalDataStore(name, join(options.localRoot, tenantId, spec.Bucket), spec.Writable);
  return new S3DataStore(name, spec, mapEndpoint(spec.Endpoint, options.endpointMap), credentials);
}

function mapEndpoint(endpoint: string, map: readonly string[]): string {
  const bare = endpoint.replace(/\/+$/, '');
  for (const pair of map) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).replace(/\/+$/, '') === bare) return pair.slice(at + 1);
  }
  return bare;
}

/** A key as a relative path under the store's folder: no `..`, no absolute path. */
function keyPath(root: string, key: string): string {
  const parts = key.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.length === 0 || parts.some((part) => part === '..')) throw new DataStoreError('InvalidKey', `Expected an object key of names without \`..\`, got \`${key}\``);
  return join(root, ...parts);
}

class LocalDataStore implements DataStore {
  constructor(
    readonly name: string,
    private readonly root: string,
    readonly writable: boolean,
  ) {}

  async put(key: string, body: Buffer): Promise<void> {
    const path = keyPath(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    // Whole or not at all: a reader never sees half a file.
    const partial = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}.part`;
    await writeFile(partial, body);
    await rename(partial, path);
  }

  async read(key: string, offset: number, length: number): Promise<{ data: Buffer; size: number }> {
    const path = keyPath(this.root, key);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') throw new DataStoreError('NoSuchKey', `No object \`${key}\` in data store \`${this.name}\``);
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const data = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      if (data.length > 0) await handle.read(data, 0, data.length, offset);
      return { data, size };
    } finally {
      await handle.close();
    }
  }

  async delete(key: string): Promise<void> {
    await rm(keyPath(this.root, key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (!entry.name.endsWith('.part')) keys.push(relative(this.root, path).split(sep).join('/'));
      }
    };
    await walk(this.root);
    return keys.filter((key) => key.startsWith(prefix)).sort();
  }

  close(): void {}
}

class S3DataStore implements DataStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  readonly writable: boolean;

  constructor(
    readonly name: string,
    spec: DataStoreSpec,
    endpoint: string,
    credentials: Credentials | undefined,
  ) {
    this.bucket = spec.Bucket;
    this.writable = spec.Writable;
    const anonymous = spec.Anonymous || credentials === undefined;
    this.client = new S3Client({
      region: spec.Region,
      forcePathStyle: true,
      maxAttempts: 3,
      ...(endpoint !== '' && { endpoint }),
      ...(anonymous
        ? { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (request) => request } }
        : { credentials: { accessKeyId: credentials.accessKey, secretAccessKey: credentials.secretKey } }),
    });
  }

  private async send<T>(key: string, what: () => Promise<T>): Promise<T> {
    try {
      return await what();
    } catch (error) {
      if (error instanceof S3ServiceException) {
        if (error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404) {
          throw new DataStoreError(error.name === 'NoSuchBucket' ? 'NoSuchBucket' : 'NoSuchKey', `No object \`${key}\` in data store \`${this.name}\` (bucket ${this.bucket})`);
        }
        if (error.$metadata.httpStatusCode === 403) throw new DataStoreError('AccessDenied', `Data store \`${this.name}\` refused access to \`${key}\` (bucket ${this.bucket}): ${error.message}`);
        throw new DataStoreError('DataStoreError', `Data store \`${this.name}\` answered ${error.name}: ${error.message}`);
      }
      throw new DataStoreError('DataStoreUnavailable', `Data store \`${this.name}\` cannot be reached: ${(error as Error).message}`);
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.send(key, () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body })));
  }

  async read(key: string, offset: number, length: number): Promise<{ data: Buffer; size: number }> {
    const head = await this.send(key, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
    const size = head.ContentLength ?? 0;
    const end = Math.min(size, offset + length);
    if (end <= offset) return { data: Buffer.alloc(0), size };
    const got = await this.send(key, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-${end - 1}` })));
    const data = got.Body === undefined ? Buffer.alloc(0) : Buffer.from(await got.Body.transformToByteArray());
    return { data, size };
  }

  async delete(key: string): Promise<void> {
    await this.send(key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.send(prefix, () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ...(token !== undefined && { ContinuationToken: token }) })));
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return keys.sort();
  }

  close(): void {
    this.client.destroy();
  }
}

