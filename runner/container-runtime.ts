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

/** What a container is started from. */
export interface ContainerSpec {
  /** A function's image; or a runtime's image, for a prewarmed container. */
  image: string;
  /** The function it serves. Absent for a prewarmed container: load() gives it its function. */
  functionId?: string;
  /** MiB of memory, swap included. */
  memoryMiB: number;
  cpus: number;
  /**
   * Whether it joins the operator's `[runner] network`: only for a function that asks for network.
   * False for a prewarmed container, which no such function ever takes.
   */
  network: boolean;
}

/** A function's code and limits, loaded into a prewarmed container. */
export interface LoadSpec {
  functionId: string;
  /** The source of new_module.py. */
  module: string;
  memoryMiB: number;
  cpus: number;
}

/** A token of a function's OpenStack identity, as the function gets it (`context.openstack`). */
export interface OpenStackContext {
  /** The Keystone v3 endpoint the token is valid at. */
  auth_url: string;
  token: string;
  project_id: string;
  /** The region the function's runner is configured for; empty when none is. */
  region: string;
  /** ISO time the token expires. */
  expires_at: string;
}

/**
 * What the function is given beside its payload (`context` in the run message; the container
 * adds `deadline_ms` when it writes the run, as its timeout starts then).
 */
export interface RunContext {
  values: Record<string, string>;
  secrets: Record<string, string>;
  function_id: string;
  function_name: string;
  attempt: number;
  headers: Record<string, string>;
  openstack?: OpenStackContext;
}

/** One request for a started container. */
export interface RunRequest {
  requestId: string;
  payload: unknown;
  timeoutMs: number;
  /** Aborting kills the container: the request was cancelled. */
  signal?: AbortSignal;
  /**
   * Told each log record as the function writes it (runtimes of protocol 4 send them as they
   * come); the Execution's `logs` still hold them all, in the same order.
   */
  onLog?: (record: LogRecord) => void;
  /**
   * Answers the function's calls to the runner while it runs (protocol 5: storage, coordination):
   * resolves with the JSON result, or throws a FunctionCallError the function sees by its type.
   * Without it every call is refused (CallUnavailable).
   */
  onCall?: (call: FunctionCall) => Promise<unknown>;
  /** Sent to the runtime with the run, never anywhere else (main(payload, context) reads it). */
  context?: RunContext;
}

/** A call of the function to one of the runner's services (runtimes/README.md, `call`). */
export interface FunctionCall {
  service: string;
  method: string;
  args: Record<string, unknown>;
}

/** A call refused or failed in a way the function should handle: `type` is its stable name (NoNode, NoSuchKey…). */
export class FunctionCallError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'FunctionCallError';
  }
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
 * A started, hardened container whose runtime program serves requests one at a time over the
 * protocol of runtimes/README.md. Only a platform failure throws; whatever the function does is
 * an Execution, after which `reusable` says whether the container may serve another request.
 */
export interface Container {
  readonly id: string;
  /**
   * False once the container must not serve another request: it ended, was killed (timeout,
   * cancel, output limit), or its function left processes (or half the pids limit in threads)
   * running after main returned. Such a container is removed, never handed out again.
   */
  readonly reusable: boolean;
  /** Resolves once the runtime announced itself, telling whether it accepts `load` (init). */
  ready(): Promise<{ acceptsInit: boolean }>;
  /** Gives a prewarmed container its function: its limits, then its module (an init message). */
  load(spec: LoadSpec): Promise<void>;
  /** Runs one request; never call it again before it settles. */
  run(request: RunRequest): Promise<Execution>;
  /** Freezes every process of the container (no CPU) until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Kills and removes the container; calling it again does nothing. */
  remove(): Promise<void>;
}

/**
 * Whether the runner of an id is alive, by its heartbeat: `dead` when its last one is older than
 * `[runner] dead_after`, `unknown` when the database holds none of it.
 */
export type RunnerLiveness = (runnerId: string) => 'alive' | 'dead' | 'unknown';

/**
 * The container-runtime port: builds function images and starts hardened containers.
 * Adapter: DockerContainerRuntime (dockerode). Throws only for platform failures (the engine is
 * unusable); anything the function does (raise, crash, time out, exhaust memory) is an Execution.
 */
export interface ContainerRuntime {
  /** Whether a container started with `network` gets one: false when the operator's `[runner] network` is `none`. */
  readonly networkAvailable: boolean;
  ping(): Promise<void>;
  hasImage(tag: string): Promise<boolean>;
  /** Of the given images, those present on this engine. */
  presentImages(tags: readonly string[]): Promise<string[]>;
  buildImage(build: ImageBuild): Promise<BuildResult>;
  /** Removes the images of a function, but those tagged with one of `keepTags`; returns how many. */
  removeFunctionImages(functionId: string, keepTags?: readonly string[]): Promise<number>;
  /** Starts a container; its runtime may still be importing the function when this resolves. */
  start(spec: ContainerSpec): Promise<Container>;
  /**
   * Removes what runners no longer alive left on this engine: their containers, and the channels'
   * folders of runners known dead; never a live runner's. `liveness` is asked only after the
   * containers are listed: a runner registers before it starts any, so one listed is never of a
   * runner too new to be seen alive. Returns how many containers were removed.
   */
  reapContainers(liveness: () => Promise<RunnerLiveness>): Promise<number>;
  /** Removes what it keeps on this host for the runner (channels' folders), once no container is left. */
  close?(): Promise<void>;
}

/**
 * `start` found no image of that name on the engine: someone removed it (`docker rmi`, an image
 * prune) after it was built. The runner builds it again rather than failing requests.
 */
export class ImageMissing extends Error {
  constructor(readonly image: string) {
    super(`No such image: ${image}`);
    this.name = 'ImageMissing';
  }
}

/** Whether a requirements.txt asks for anything (comments and blank lines do not). */
export const hasRequirements = (requirements: string): boolean =>
  requirements.split('\n').some((line) => line.replace(/#.*/, '').trim() !== '');
