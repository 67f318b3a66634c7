/**
 * Prewarmed containers: a few containers per runtime, of the runtime's image and without a
 * function, started before anything needs them. The first request of a function without
 * requirements takes one, loads the function's module into it (an init message) and runs there,
 * instead of waiting for a container to be created; a taken one is replaced in the background.
 *
 * A prewarmed container has run nobody's code until it is taken, and once taken it belongs to
 * that one function until it is removed: it never comes back here. It has no network, so the
 * pool never gives one to a function that asks for network (container-pool.ts, loadPrewarmed).
 */
import type { RuntimeRecord } from '../common/domain.js';
import type { Logger } from '../common/log.js';
import type { Container, ContainerRuntime } from './container-runtime.js';

export interface PrewarmOptions {
  /** Containers kept ready per runtime; 0: none. */
  perRuntime: number;
  /** The limits they start with (the defaults of a function); load() resizes for other limits. */
  memoryMiB: number;
  cpus: number;
}

/** How long a runtime may take to say ready before its prewarmed container is given up. */
const READY_TIMEOUT_MS = 60_000;
/** Wait before trying again after a prewarmed container could not be started. */
const RETRY_DELAY_MS = 5_000;

export class PrewarmPool {
  /** Runtime name → its image, for the runtimes prewarmed here. */
  private readonly images = new Map<string, string>();
  /** Runtime name → containers ready to be taken, oldest first. */
  private readonly ready = new Map<string, Container[]>();
  /** Runtime name → containers being started. */
  private readonly starting = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly deps: { containers: ContainerRuntime; log: Logger },
    private readonly options: PrewarmOptions,
  ) {}

  /** Starts keeping containers ready for the runtimes whose images this engine has. */
  async start(runtimes: readonly RuntimeRecord[]): Promise<void> {
    if (this.options.perRuntime === 0) return;
    const present = new Set(await this.deps.containers.presentImages(runtimes.map((runtime) => runtime.image)));
    for (const runtime of runtimes) {
      if (!present.has(runtime.image)) {
        this.deps.log.warning(`runtime ${runtime.name}: image ${runtime.image} is missing, nothing prewarmed for it`);
        continue;
      }
      this.images.set(runtime.name, runtime.image);
      this.ready.set(runtime.name, []);
      this.fill(runtime.name);
    }
  }

  /** A prewarmed container of the runtime, or undefined when none is ready now. */
  /** Containers ready to be taken now, across runtimes. */
  get size(): number {
    let count = 0;
    for (const containers of this.ready.values()) count += containers.length;
    return count;
  }

  take(runtime: string): Container | undefined {
    const ready = this.ready.get(runtime);
    let container = ready?.shift();
    while (container !== undefined && !container.reusable) {
      void container.remove(); // it ended while it waited
      container = ready?.shift();
    }
    this.fill(runtime);
    return container;
  }

  /** Removes every prewarmed container and starts no more. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries) clearTimeout(timer);
    await Promise.all(this.pending);
    const all = [...this.ready.values()].flat();
    this.ready.clear();
    await Promise.all(all.map((container) => container.remove()));
  }

  private fill(runtime: string): void {
    const image = this.images.get(runtime);
    if (this.closed || image === undefined) return;
    const missing = this.options.perRuntime - (this.ready.get(runtime)?.length ?? 0) - (this.starting.get(runtime) ?? 0);
    for (let i = 0; i < missing; i += 1) {
      this.starting.set(runtime, (this.starting.get(runtime) ?? 0) + 1);
      const started: Promise<void> = this.startOne(runtime, image).finally(() => {
        this.starting.set(runtime, (this.starting.get(runtime) ?? 1) - 1);
        this.pending.delete(started);
      });
      this.pending.add(started);
    }
  }

  private async startOne(runtime: string, image: string): Promise<void> {
    const { containers, log } = this.deps;
    let container: Container | undefined;
    try {
      container = await containers.start({ image, memoryMiB: this.options.memoryMiB, cpus: this.options.cpus, network: false });
      let timer: NodeJS.Timeout | undefined;
      const tooSlow = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`its runtime did not say ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      });
      const { acceptsInit } = await Promise.race([container.ready(), tooSlow]).finally(() => clearTimeout(timer));
      if (!acceptsInit) {
        // An image built from an older runtime: it would import a function that is not there.
        log.warning(`runtime ${runtime}: image ${image} does not accept init messages (rebuild it), nothing prewarmed for it`);
        this.images.delete(runtime);
        await container.remove();
        return;
      }
      if (this.closed) {
        await container.remove();
        return;
      }
      this.ready.get(runtime)?.push(container);
    } catch (error) {
      await container?.remove();
      if (this.closed) return;
      log.error(`runtime ${runtime}: a prewarmed container could not be started, trying again in ${RETRY_DELAY_MS} ms: ${(error as Error).message}`);
      const timer = setTimeout(() => {
        this.retries.delete(timer);
        this.fill(runtime);
      }, RETRY_DELAY_MS);
      timer.unref();
      this.retries.add(timer);
    }
  }
}
