import type { FunctionCode, LogRecord, RequestError } from '../common/domain.js';

/** What a function image is built from. */
export interface ImageBuild {
  /** Tag of the image to build, e.g. pratai/function-<id>:<sha>. */
  tag: string;
  /** The runtime image it is built on. */
  runtimeImage: string;
  functionId: string;
  codeSha256: string;
  code: FunctionCode;
}

export interface BuildResult {
  ok: boolean;
  /** The build's output (pip's included); on failure it ends with the reason. */
  log: string;
}

/** One request to execute in a container of a function's image. */
export interface RunSpec {
  image: string;
  functionId: string;
  requestId: string;
  payload: unknown;
  /** MiB of memory, swap included. */
  memoryMiB: number;
  cpus: number;
  timeoutMs: number;
  /** Aborting kills the container: the request was cancelled. */
  signal?: AbortSignal;
}

/** How an execution ended, as seen from outside the container. */
export interface Execution {
  status: 'succeeded' | 'failed' | 'timeout' | 'cancelled';
  response: unknown;
  error: RequestError | null;
  logs: LogRecord[];
  /** Time main() ran as the runtime measured it, or the wall time when it never answered. */
  durationMs: number;
}

/**
 * The container-runtime port: builds function images and runs requests in hardened containers.
 * Adapter: DockerContainerRuntime (dockerode). Throws only for platform failures (the engine is
 * unusable); anything the function does (raise, crash, time out, exhaust memory) is an Execution.
 */
export interface ContainerRuntime {
  ping(): Promise<void>;
  hasImage(tag: string): Promise<boolean>;
  /** Of the given images, those present on this engine. */
  presentImages(tags: readonly string[]): Promise<string[]>;
  buildImage(build: ImageBuild): Promise<BuildResult>;
  /** Removes the images of a function, but `keepTag` when given; returns how many. */
  removeFunctionImages(functionId: string, keepTag?: string): Promise<number>;
  run(spec: RunSpec): Promise<Execution>;
  /** Removes containers a previous life of this runner left behind; returns how many. */
  reapContainers(): Promise<number>;
}
