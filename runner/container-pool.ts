/**
 * The container pool: where a runner's requests are executed. Each function has its own warm
 * containers, which serve its requests one after another (or `containerConcurrency` at once,
 * taking turns) so that only the first request of a burst waits for a container. Idle ones are
 * paused, then removed; the whole runner keeps at most `size` of them, and when a new one is
 * needed at the cap, the function holding the most gives up its least recently used idle one.
 *
 * A container is handed out again only if its last request ended normally and left nothing
 * running (Container.reusable): after a crash, timeout, cancel, memory or output limit it is
 * removed, and the requests that waited their turn in it go to another container. Containers
 * are never shared between functions, nor between versions, limits or network settings of one
 * function: a PATCH that changes any of them retires the warm containers made before it.
 *
 * With `size` 0 every request gets a fresh container, removed after it: the cold path.
 */
import type { FunctionCode, RuntimeRecord } from '../common/domain.js';
import type { Logger } from '../common/log.js';
import type { ContainerCounts, Metrics } from '../common/metrics.js';
import { hasRequirements, type Container, type ContainerRuntime, type Execution, type RunRequest } from './container-runtime.js';
import { PrewarmPool, type PrewarmOptions } from './prewarm-pool.js';

/** One request to execute, in a container of its function. */
export interface RunSpec extends RunRequest {
  /** The function's image. */
  image: string;
  functionId: string;
  /** The function's runtime (`python3`): a prewarmed container of it may serve the request. */
  runtime: string;
  /** MiB of memory, swap included. */
  memoryMiB: number;
  cpus: number;
  /** Whether the function asks for network: its containers join `[runner] network`, and never come from the prewarmed ones. */
  network: boolean;
  /** Reads the function's code, to load it into a prewarmed container. */
  loadCode(): Promise<FunctionCode | undefined>;
}

export interface PoolOptions {
  /** Most warm containers (busy or idle) across functions; 0: a fresh container per request. */
  size: number;
  /** Requests one warm container is given at once; they run in it one after another. */
  containerConcurrency: number;
  /** Idle time after which a warm container is paused; 0: never paused. */
  pauseAfterMs: number;
  /** Idle time after which a warm container is removed. */
  idleTimeoutMs: number;
  prewarm: PrewarmOptions;
}

export interface PoolDeps {
  containers: ContainerRuntime;
  /** The runtimes to prewarm containers for. */
  runtimes(): Promise<RuntimeRecord[]>;
  log: Logger;
  /** Where container starts are counted; none in tests that do not look. */
  metrics?: Metrics;
}

/** A warm container and what the pool knows of it. */
interface Warm {
  readonly container: Container;
  readonly functionId: string;
  /** The image, limits and network it was made with: only requests with the same key may use it. */
  readonly key: string;
  /** Requests given to it that have not finished: the one running and those waiting their turn. */
  assigned: number;
  /** Settles when every request given to it so far is done: the next one runs after it. */
  turn: Promise<unknown>;
  lastUsedAt: number;
  /** Set before pausing starts, so that a request taking it waits for the pause and resumes it. */
  pausing: Promise<void> | undefined;
  /** Out of the pool: never handed out again, removed once its last request is done. */
  retired: boolean;
}

/** A request that waited its turn in a container that broke before it: it goes elsewhere. */
const NOT_STARTED = Symbol('not started');

/** What a container is made with: a request whose function changed any of it needs another container. */
const keyOf = (spec: RunSpec): string => `${spec.image} ${spec.memoryMiB} ${spec.cpus} ${spec.network ? 'network' : 'no-network'}`;

export class ContainerPool {
  private readonly warm = new Set<Warm>();
  /** Containers being made for the pool: they count against the cap already. */
  private creating = 0;
  /** Fresh containers of the cold path running their one request. */
  private cold = 0;
  /** Requests waiting for room under the cap. */
  private readonly waitingForRoom = new Set<() => void>();
  private readonly prewarmed: PrewarmPool;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: PoolDeps,
    private readonly options: PoolOptions,
  ) {
    this.prewarmed = new PrewarmPool(deps, options.prewarm);
  }

  /** Starts the prewarmed containers and the idle sweep. Never throws: the pool works without them. */
  async start(): Promise<void> {
    const { pauseAfterMs, idleTimeoutMs } = this.options;
    const shortest = pauseAfterMs > 0 ? Math.min(pauseAfterMs, idleTimeoutMs) : idleTimeoutMs;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, shortest / 4)));
    this.sweeper.unref();
    try {
      await this.prewarmed.start(await this.deps.runtimes());
    } catch (error) {
      this.deps.log.error(`prewarmed containers could not be started: ${(error as Error).message}`);
    }
  }

  /** Executes one request in a container of its function. Throws only for platform failures. */
  async run(spec: RunSpec): Promise<Execution> {
    if (this.options.size === 0) return this.runInFreshContainer(spec);
    for (;;) {
      const warm = await this.acquire(spec);
      if (warm === undefined) return cancelledBeforeRun();
      const execution = await this.runIn(warm, spec);
      if (execution !== NOT_STARTED) return execution;
    }
  }

  /** Containers held now, by state, for the `pratai_containers` gauge and the runner's heartbeat. */
  counts(): ContainerCounts {
    let busy = this.cold;
    for (const warm of this.warm) if (warm.assigned > 0) busy += 1;
    return { warm: this.warm.size - (busy - this.cold), busy, prewarmed: this.prewarmed.size };
  }

  /**
   * The function was deleted (or, with `keepImages`, the versions of other images were): its
   * containers (of other images) go, the busy ones once their request is done.
   */
  forget(functionId: string, keepImages: readonly string[] = []): void {
    for (const warm of this.warm) {
      if (warm.functionId === functionId && !keepImages.some((image) => warm.key.startsWith(`${image} `))) this.retire(warm);
    }
  }

  /** Removes every container. The runner calls it once no request runs any more. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const removals = [...this.warm].map((warm) => {
      this.warm.delete(warm);
      warm.retired = true;
      return warm.container.remove();
    });
    await Promise.all([...removals, this.prewarmed.close()]);
  }

  /** The cold path: a container for this request alone, removed after it. */
  private async runInFreshContainer(spec: RunSpec): Promise<Execution> {
    const container = await this.newContainer(spec);
    this.cold += 1;
    try {
      return await container.run(spec);
    } finally {
      this.cold -= 1;
      await container.remove();
    }
  }

  /**
   * A container of the request's function with room for it, counted as assigned; undefined
   * when the request was cancelled while it waited for one.
   */
  private async acquire(spec: RunSpec): Promise<Warm | undefined> {
    const key = keyOf(spec);
    for (;;) {
      if (spec.signal?.aborted) return undefined;
      let best: Warm | undefined;
      for (const warm of this.warm) {
        if (warm.functionId !== spec.functionId) continue;
        if (warm.key !== key) {
          // Another version of the function's code, other limits or another network: never used again.
          if (warm.assigned === 0) this.retire(warm);
          continue;
        }
        if (!warm.container.reusable || warm.assigned >= this.options.containerConcurrency) continue;
        // The least loaded; among those the most recently used, so that the others go idle.
        if (best === undefined || warm.assigned < best.assigned || (warm.assigned === best.assigned && warm.lastUsedAt > best.lastUsedAt)) best = warm;
      }
      if (best !== undefined) {
        best.assigned += 1;
        return best;
      }
      if (this.warm.size + this.creating < this.options.size || this.evictOne()) return this.create(spec, key);
      await this.roomOrAbort(spec.signal);
    }
  }

  private async create(spec: RunSpec, key: string): Promise<Warm> {
    this.creating += 1;
    try {
      const container = await this.newContainer(spec);
      const warm: Warm = { container, functionId: spec.functionId, key, assigned: 1, turn: Promise.resolve(), lastUsedAt: Date.now(), pausing: undefined, retired: false };
      this.warm.add(warm);
      return warm;
    } finally {
      this.creating -= 1;
      this.wakeWaiters(); // a failed creation leaves room
    }
  }

  /** A prewarmed container loaded with the function when one fits, else a new one of its image. */
  private async newContainer(spec: RunSpec): Promise<Container> {
    const started = performance.now();
    const prewarmed = await this.loadPrewarmed(spec);
    if (prewarmed !== undefined) {
      this.countStart('prewarmed', started);
      return prewarmed;
    }
    const fresh = performance.now();
    const container = await this.deps.containers.start({ image: spec.image, functionId: spec.functionId, memoryMiB: spec.memoryMiB, cpus: spec.cpus, network: spec.network });
    this.countStart('new', fresh);
    return container;
  }

  private countStart(kind: 'new' | 'prewarmed', startedMs: number): void {
    const metrics = this.deps.metrics;
    if (metrics === undefined) return;
    metrics.containerStarts.inc({ kind });
    metrics.containerStartDuration.observe({ kind }, (performance.now() - startedMs) / 1000);
  }

  /**
   * Only functions without requirements: their dependencies live in their own image, and a
   * prewarmed container (read-only root, a small tmpfs counted against its memory) has nowhere
   * to put them that would be quicker than starting a container of that image. Nor functions
   * that ask for network: prewarmed containers are made without one (Docker joins a network only
   * at creation here), and keeping ready ones per network would cost containers nobody may use.
   */
  private async loadPrewarmed(spec: RunSpec): Promise<Container | undefined> {
    if (spec.network) return undefined;
    const code = await spec.loadCode();
    if (code === undefined || hasRequirements(code.requirements)) return undefined;
    const container = this.prewarmed.take(spec.runtime);
    if (container === undefined) return undefined;
    try {
      await container.load({ functionId: spec.functionId, module: code.module, memoryMiB: spec.memoryMiB, cpus: spec.cpus });
      return container;
    } catch (error) {
      this.deps.log.warning(`a prewarmed container could not be loaded with function ${spec.functionId}: ${(error as Error).message}`);
      await container.remove();
      return undefined;
    }
  }

  /** Runs the request in its turn; NOT_STARTED when the container broke before the turn came. */
  private async runIn(warm: Warm, spec: RunSpec): Promise<Execution | typeof NOT_STARTED> {
    const previous = warm.turn;
    let done: () => void = () => undefined;
    warm.turn = Promise.all([previous, new Promise<void>((resolve) => (done = resolve))]);
    try {
      if ((await Promise.race([previous.then(() => 'turn' as const), aborted(spec.signal)])) === 'cancelled') return cancelledBeforeRun();
      if (warm.pausing !== undefined) {
        const pausing = warm.pausing;
        warm.pausing = undefined;
        await pausing;
        if (!warm.retired) await warm.container.resume();
      }
      if (warm.retired || !warm.container.reusable) return NOT_STARTED;
      return await warm.container.run(spec);
    } catch (error) {
      this.retire(warm); // pause or resume failed: Docker is in trouble, and this container with it
      throw error;
    } finally {
      done();
      warm.assigned -= 1;
      warm.lastUsedAt = Date.now();
      if (!warm.container.reusable) this.retire(warm);
      if (warm.retired && warm.assigned === 0) void warm.container.remove();
      this.wakeWaiters();
    }
  }

  /** Takes a container out of the pool; it is removed now if idle, else after its last request. */
  private retire(warm: Warm): void {
    if (!warm.retired) {
      warm.retired = true;
      this.warm.delete(warm);
      this.wakeWaiters();
    }
    if (warm.assigned === 0) void warm.container.remove();
  }

  /**
   * Makes room at the cap: among the functions holding an idle container, the one holding the
   * most containers gives up its least recently used idle one. False when none is idle.
   */
  private evictOne(): boolean {
    const held = new Map<string, number>();
    for (const warm of this.warm) held.set(warm.functionId, (held.get(warm.functionId) ?? 0) + 1);
    let victim: Warm | undefined;
    for (const warm of this.warm) {
      if (warm.assigned > 0) continue;
      if (victim === undefined) {
        victim = warm;
        continue;
      }
      const more = (held.get(warm.functionId) ?? 0) - (held.get(victim.functionId) ?? 0);
      if (more > 0 || (more === 0 && warm.lastUsedAt < victim.lastUsedAt)) victim = warm;
    }
    if (victim === undefined) return false;
    this.deps.log.debug(`pool full: removing an idle container of function ${victim.functionId}`);
    this.retire(victim);
    return true;
  }

  /** Pauses containers idle for pauseAfterMs, removes those idle for idleTimeoutMs. */
  private sweep(): void {
    const { pauseAfterMs, idleTimeoutMs } = this.options;
    const now = Date.now();
    for (const warm of this.warm) {
      if (warm.assigned > 0) continue;
      const idleMs = now - warm.lastUsedAt;
      if (idleMs >= idleTimeoutMs) {
        this.retire(warm);
      } else if (pauseAfterMs > 0 && idleMs >= pauseAfterMs && warm.pausing === undefined && warm.container.reusable) {
        warm.pausing = warm.container.pause().catch((error: unknown) => {
          this.deps.log.warning(`could not pause an idle container of function ${warm.functionId}: ${(error as Error).message}`);
          this.retire(warm);
        });
      }
    }
  }

  private roomOrAbort(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.waitingForRoom.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.waitingForRoom.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  private wakeWaiters(): void {
    for (const wake of [...this.waitingForRoom]) wake();
  }
}

function aborted(signal: AbortSignal | undefined): Promise<'cancelled'> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve('cancelled');
    signal.addEventListener('abort', () => resolve('cancelled'), { once: true });
  });
}

function cancelledBeforeRun(): Execution {
  return { status: 'cancelled', response: null, error: { type: 'Cancelled', message: 'The request was cancelled before it ran', traceback: '' }, logs: [], durationMs: 0 };
}
