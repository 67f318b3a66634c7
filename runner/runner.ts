/**
 * The runner: takes jobs off the queue and carries them out. For a `run` job it marks the request
 * running, makes sure the function's image exists (building it on first need), executes the
 * request in a container, stores the outcome, and only then acks the job: a runner that dies
 * mid-request leaves the job unacked, and it is delivered again. A failed attempt that the
 * function's `retries` cover (a platform failure: they and `[runner] platform_retries`) goes back
 * to `queued` and its job comes back after a backoff; one with none left, or a request past
 * `max_request_age`, ends dead-lettered. A function that asks for network runs only on a runner
 * whose `[runner] network` gives one; elsewhere its requests fail.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import { VERSION_SETTINGS, type FunctionCode, type FunctionRecord, type Job, type LogRecord, type RequestRecord, type VersionRef } from '../common/domain.js';
import { coerceError } from '../common/errors.js';
import { now } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import { secondsBetween, type Metrics } from '../common/metrics.js';
import { requestChange, type Notifier, type RequestChange } from '../common/notifications/notifier.js';
import type { Consumer, Delivery, JobQueue } from '../common/queue/queue.js';
import type { Outcome, Store } from '../common/store/store.js';
import type { ContainerPool, RunSpec } from './container-pool.js';
import { ImageMissing, type BuildResult, type ContainerRuntime, type Execution } from './container-runtime.js';
import { callHandler, endCalls, type FunctionServices } from './function-services.js';
import type { HeartbeatReport, Registration } from './registration.js';
import type { Redactor } from './redaction.js';
import { capacityWaitMs, hasRetriesLeft, isRetryable, retryDelayMs } from './retry-policy.js';
import { prepareRun, type RunContextDeps } from './run-context.js';

export interface RunnerOptions {
  /** Unique among runners; names this runner's heartbeat. */
  name: string;
  /** Jobs handled at once: requests executing, images building. */
  concurrency: number;
  /**
   * Jobs the queue hands this runner before it has a free slot for them, as many as `concurrency`
   * or more: a broker's next job is then here when a slot frees, not a round trip away.
   */
  prefetch: number;
  heartbeatIntervalMs: number;
  /** How often it removes what runners that died left on its Docker engine (besides at its start). */
  reapIntervalMs: number;
  /** Deliveries of a build job after a platform failure before the build is given up. */
  buildRetries: number;
  /** Attempts a request gets beyond its function's `retries` after platform failures (`[runner] platform_retries`). */
  platformRetries: number;
  /** A request older than this when a runner takes it ends failed (RequestExpired); 0: no limit. */
  maxRequestAgeMs: number;
}

export interface RunnerDeps extends RunContextDeps {
  store: Store;
  queue: JobQueue;
  containers: ContainerRuntime;
  /** Where requests execute: warm containers per function, or a fresh one per request. */
  pool: ContainerPool;
  /** Where a request's start, log records and outcome are announced, once stored. */
  notifier: Notifier;
  /** The runner's heartbeat under its id, and what it says of other runners. */
  registration: Registration;
  /** What a running function may call over its channel, by service name (none: every call refused). */
  services?: FunctionServices;
  /** Where this runner counts what it finishes, builds and starts, and reports its containers. */
  metrics: Metrics;
  /** Told of each outcome once stored (the workflow engine advances its invocation); its failures are logged, never the request's. */
  afterOutcome?: (request: RequestRecord, outcome: Outcome) => Promise<void>;
  log: Logger;
}

/** The image of one version of a function's code. */
export const functionImageTag = (fn: Pick<FunctionRecord, 'function_id' | 'code_sha256'>): string =>
  `pratai/function-${fn.function_id}:${fn.code_sha256.slice(0, 16)}`;

/**
 * The settings a request runs with: its version's snapshot (code, runtime, limits, retries,
 * network, context, secret names) over the function, or the function as it is now (`latest`).
 */
type RunSettings = FunctionRecord & { readonly version: VersionRef };

/** Why a runner whose `[runner] network` is none fails the requests of a function that asks for network. */
const NO_NETWORK_HERE =
  "The function asks for network, but this runner's [runner] network is none: no function gets network here. Give the API and every runner the same [runner] network, or update the function with network=false";

/** How often a runner with requests under way checks whether one was cancelled. */
const CANCEL_POLL_MS = 500;

export class Runner {
  private consumer: Consumer | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private reaper: NodeJS.Timeout | undefined;
  /** Builds under way on this runner, so concurrent requests of one function share one build. */
  private readonly builds = new Map<string, Promise<BuildResult>>();
  /** Images known to exist on this engine, to skip an inspect per request. */
  private readonly images = new Set<string>();
  /** Requests executing now, each with the switch that kills its container when it is cancelled. */
  private readonly executing = new Map<string, AbortController>();
  private cancelWatch: NodeJS.Timeout | undefined;
  /** Run jobs being handled now, by request id. */
  private readonly requestsUnderWay = new Map<string, Promise<void>>();

  private readonly slots: LimitFunction;
  private unregisterGauges: (() => void) | undefined;
  /** Whether it takes jobs; an administrator's drain request stops that for good (until a restart). */
  private state: 'active' | 'draining' | 'drained' = 'active';

  constructor(
    private readonly deps: RunnerDeps,
    private readonly options: RunnerOptions,
  ) {
    this.slots = pLimit(options.concurrency);
  }

  async start(): Promise<void> {
    // Registered before anything is reaped or started: from now on every runner on this engine
    // sees this one alive, and leaves its containers alone.
    await this.deps.registration.register(await this.report());
    await this.reap(true);
    await this.deps.pool.start();
    this.unregisterGauges = this.deps.metrics.addRunner(this.options.name, {
      containers: () => this.deps.pool.counts(),
      waiting: () => this.slots.pendingCount,
      running: () => this.executing.size,
    });
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.heartbeat.unref();
    this.reaper = setInterval(() => void this.reap(false), this.options.reapIntervalMs);
    this.reaper.unref();
    this.cancelWatch = setInterval(() => void this.killCancelled(), CANCEL_POLL_MS);
    this.cancelWatch.unref();
    this.consumer = this.deps.queue.consume((delivery) => this.handle(delivery), { prefetch: Math.max(this.options.prefetch, this.options.concurrency) });
    this.deps.log.info(`runner ${this.options.name} started, ${this.options.concurrency} at once`);
  }

  /** Stops taking jobs and waits for those under way to finish. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    clearInterval(this.reaper);
    clearInterval(this.cancelWatch);
    await this.consumer?.stop();
    this.consumer = undefined;
    await this.deps.pool.close();
    await this.deps.containers.close?.();
    await this.deps.registration.release();
    this.unregisterGauges?.();
  }

  /**
   * Removes the containers and channels' folders of runners no longer alive on this engine (at
   * the start, also those of this runner's earlier life): a runner that died leaves its containers
   * running, and nobody else would remove them.
   */
  private async reap(atStart: boolean): Promise<void> {
    const { containers, registration, log } = this.deps;
    try {
      const reaped = await containers.reapContainers(() => registration.liveness(atStart));
      if (reaped > 0) log.warning(`removed ${reaped} container(s) left by runners no longer alive${atStart ? ` (or an earlier run of runner ${this.options.name})` : ''}`);
    } catch (error) {
      log.error(`could not remove what runners no longer alive left: ${(error as Error).message}`);
    }
  }

  /**
   * Cancellation reaches a runner through the store (`POST /v1/requests/<id>/cancel` marks the
   * request cancelled): whichever runner executes it notices here and kills its container.
   */
  private async killCancelled(): Promise<void> {
    if (this.executing.size === 0) return;
    try {
      for (const requestId of await this.deps.store.cancelledAmong([...this.executing.keys()])) {
        this.deps.log.info(`request ${requestId} was cancelled: killing its container`, requestId);
        this.executing.get(requestId)?.abort();
      }
    } catch (error) {
      this.deps.log.error(`could not check for cancelled requests: ${(error as Error).message}`);
    }
  }

  /** Reports this runner alive, with whether Docker answers and which runtime images it has. */
  private async beat(): Promise<void> {
    try {
      await this.deps.registration.beat(await this.report());
      if (this.state === 'active' && this.consumer !== undefined && (await this.deps.registration.drainRequested())) void this.drain();
    } catch (error) {
      this.deps.log.error(`heartbeat failed: ${(error as Error).message}`);
    }
  }

  /**
   * Stops taking jobs (the queue gives those it held to other runners), finishes the ones under
   * way, and says so in its heartbeats: `draining`, then `drained`, when the machine may go.
   */
  private async drain(): Promise<void> {
    this.state = 'draining';
    this.deps.log.warning(`runner ${this.options.name} asked to drain: taking no new jobs, finishing the ${this.requestsUnderWay.size} under way`);
    await this.beat();
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.stop();
    this.state = 'drained';
    this.deps.log.warning(`runner ${this.options.name} drained: it holds no job`);
    await this.beat();
  }

  private async report(): Promise<HeartbeatReport> {
    const { store, containers, pool, log } = this.deps;
    const { warm, busy, prewarmed } = pool.counts();
    const load = { concurrency: this.options.concurrency, running: this.executing.size, warm, busy, prewarmed, state: this.state };
    const runtimes = await store.listRuntimes();
    try {
      await containers.ping();
      return { dockerOk: true, images: await containers.presentImages(runtimes.map((runtime) => runtime.image)), load };
    } catch (error) {
      log.error(`Docker is not usable: ${(error as Error).message}`);
      return { dockerOk: false, images: [], load };
    }
  }

  /** Handles a delivery once one of the `concurrency` slots is free, in delivery order. */
  private handle(delivery: Delivery): Promise<void> {
    return this.slots(() => this.handleNow(delivery));
  }

  private async handleNow(delivery: Delivery): Promise<void> {
    const job: Job = delivery.job;
    switch (job.kind) {
      case 'run':
        return this.runOnce(job, delivery);
      case 'build':
        return this.buildFunction(job.function_id, job.code_sha256, delivery);
      case 'forget':
        return job.version === undefined ? this.forgetFunction(job.function_id, delivery) : this.forgetVersion(job.function_id, job.version, delivery);
    }
  }

  /**
   * A broker that lost this runner's connection delivers its unacked jobs again, possibly back
   * to this very runner while the first delivery still runs (or is being stopped: see `lost` in
   * runRequest): that copy waits for the run under way, never running the request beside it,
   * then goes the usual way, where startRequest finds the request final (and it is acked) or
   * still running under its job, stopped before its end (and it runs again).
   */
  private async runOnce(job: Extract<Job, { kind: 'run' }>, delivery: Delivery): Promise<void> {
    const underWay = this.requestsUnderWay.get(job.request_id);
    if (underWay !== undefined) {
      this.deps.log.info(`request ${job.request_id} delivered again while this runner still runs it; waiting for that run`, job.request_id);
      await underWay;
      return this.runOnce(job, delivery);
    }
    const run = this.runRequest(job, delivery).finally(() => this.requestsUnderWay.delete(job.request_id));
    this.requestsUnderWay.set(job.request_id, run.catch(() => undefined));
    return run;
  }

  private async runRequest(job: Extract<Job, { kind: 'run' }>, delivery: Delivery): Promise<void> {
    const { store, log } = this.deps;
    const requestId = job.request_id;
    let fn: RunSettings | undefined;
    let request: RequestRecord | undefined;
    try {
      const asked = job.function_id === undefined ? await store.getRequest(requestId, 'all-tenants') : undefined;
      const functionId = job.function_id ?? asked?.function_id;
      if (functionId === undefined) {
        log.info(`request ${requestId} is gone (purged); not run`, requestId);
        return await delivery.ack();
      }
      fn = await this.runSettings(functionId, job.version ?? asked?.version ?? 'latest');
      // The request waits in `queued` while its function's image is built. startRequest says
      // whether it may start: not when final (a redelivered job never runs it again) nor expired.
      let image = fn ? await this.ensureImage(fn) : undefined;
      const expire = this.expiry();
      const start = await store.startRequest(requestId, { jobId: job.job_id, at: now(), ...(expire && { expire }) });
      if (!start.started) return await this.notStarted(requestId, start.reason, delivery);
      request = start.request;
      if (request.attempts === 1) {
        const waited = secondsBetween(request.created_at, request.started_at);
        if (waited !== undefined) this.deps.metrics.queueWait.observe(waited);
      }
      if (fn !== undefined && request.version !== fn.version) {
        // A job that did not carry the request's version (one published before versions were).
        fn = await this.runSettings(fn.function_id, request.version);
        image = fn ? await this.ensureImage(fn) : undefined;
      }
      this.deps.notifier.publish({ kind: 'request', request: requestChange(request) });
      if (request.attempts > 1) log.warning(`request ${requestId} started again (attempt ${request.attempts})`, requestId);
      if (fn === undefined || image === undefined) {
        const gone = request.version === 'latest' ? 'The function was deleted before the request ran' : `Version ${request.version} of the function was deleted before the request ran`;
        await this.finish(request, failedOutcome('cancelled', 'Cancelled', gone));
        return await delivery.ack();
      }
      if (!image.ok) {
        await this.finish(request, failedOutcome('failed', 'BuildFailed', `The function's image could not be built:\n${lastLines(image.log)}`));
        return await delivery.ack();
      }
      if (fn.network && !this.deps.containers.networkAvailable) {
        // The API allowed it (or the function asked before the operator took network away): this
        // runner will not run it without the network it asked for, which could fail it in ways
        // harder to understand than saying so.
        await this.finish(request, failedOutcome('failed', 'NetworkNotAllowed', NO_NETWORK_HERE));
        return await delivery.ack();
      }
      // The function's context and secrets, opened for this run only.
      const prepared = await prepareRun(this.deps, fn, request);
      if (!prepared.ok) {
        await this.finish(request, failedOutcome('failed', prepared.type, prepared.message));
        return await delivery.ack();
      }
      const cancel = new AbortController();
      // The broker gives the job to a runner again once this one's connection is lost: the run
      // stops (its container killed) rather than go on beside the next one.
      const stopWhenLost = (): void => cancel.abort();
      delivery.lost?.addEventListener('abort', stopWhenLost);
      this.executing.set(requestId, cancel);
      let execution: Execution;
      const spec: RunSpec = {
        image: functionImageTag(fn),
        functionId: fn.function_id,
        runtime: fn.runtime,
        loadCode: () => this.codeOf(fn as RunSettings),
        requestId,
        payload: request.payload,
        memoryMiB: fn.memory,
        cpus: fn.cpus,
        network: fn.network,
        timeoutMs: fn.timeout * 1000,
        signal: cancel.signal,
        onLog: streamLogs(this.deps.notifier, request, prepared.redactor),
        context: prepared.context,
        ...(this.deps.services !== undefined && { onCall: callHandler(this.deps.services, { request, fn }) }),
      };
      try {
        execution = await this.execute(fn, spec);
      } finally {
        this.executing.delete(requestId);
        delivery.lost?.removeEventListener('abort', stopWhenLost);
        // Before the outcome is stored: whoever sees the request ended sees its session gone.
        await endCalls(this.deps.services, { request, fn });
      }
      if (execution.status === 'cancelled' && delivery.lost?.aborted) {
        // Stopped before its end, nothing stored: the request stays running under its job, which
        // starts it again. (A run that ended before it was stopped is stored as usual.)
        log.warning(`request ${requestId}: the connection to the broker was lost while it ran; stopped, to run again where the broker delivers its job`, requestId);
        return;
      }
      // A cancelled request's outcome was stored by the cancel itself.
      if (execution.status === 'cancelled') return await delivery.ack();
      // No secret's value is stored, nor announced.
      const outcome = toOutcome(prepared.redactor.execution(execution));
      if (isRetryable(fn, outcome, false)) return await this.attemptFailed(request, fn, outcome, false, delivery);
      await this.finish(request, outcome);
      return await delivery.ack();
    } catch (thrown) {
      const error = coerceError(thrown);
      if (request !== undefined && fn !== undefined) {
        log.error(`request ${requestId} hit a platform failure: ${error.message}`, requestId);
        return this.attemptFailed(request, fn, failedOutcome('failed', 'PlatformError', error.message), true, delivery);
      }
      // Not started: the store or Docker (building the image) failed before the request was
      // attempted. Its job comes back until they work again; max_request_age bounds the wait.
      const delayMs = retryDelayMs(delivery.deliveryCount);
      log.error(`request ${requestId} could not be started, trying again in ${delayMs} ms: ${error.message}`, requestId);
      return delivery.retry(delayMs);
    }
  }

  /**
   * Runs the request in the pool. An image removed from Docker since it was built (`docker rmi`,
   * a prune) is built again, and the request runs on it in the same attempt.
   */
  private async execute(fn: RunSettings, spec: RunSpec): Promise<Execution> {
    try {
      return await this.deps.pool.run(spec);
    } catch (thrown) {
      if (!(thrown instanceof ImageMissing) || thrown.image !== spec.image) throw thrown;
      this.deps.log.warning(`image ${spec.image} is gone from Docker; building it again`, spec.requestId);
      this.images.delete(spec.image);
      const rebuilt = await this.ensureImage(fn);
      if (!rebuilt.ok) {
        const message = `The function's image was removed from Docker and could not be built again:\n${lastLines(rebuilt.log)}`;
        return { status: 'failed', response: null, error: { type: 'BuildFailed', message, traceback: '' }, logs: [], durationMs: 0 };
      }
      return this.deps.pool.run(spec);
    }
  }

  /** What a request of `version` runs with; undefined when the function, or that version of it, is gone. */
  private async runSettings(functionId: string, version: VersionRef): Promise<RunSettings | undefined> {
    const fn = await this.deps.store.getFunction(functionId, 'all-tenants');
    if (fn === undefined || version === 'latest') return fn && { ...fn, version };
    const snapshot = await this.deps.store.getVersion(functionId, version);
    if (snapshot === undefined) return undefined;
    return { ...fn, ...Object.fromEntries(VERSION_SETTINGS.map((setting) => [setting, snapshot[setting]])), version };
  }

  private codeOf(fn: RunSettings): Promise<FunctionCode | undefined> {
    return fn.version === 'latest' ? this.deps.store.getFunctionCode(fn.function_id) : this.deps.store.getVersionCode(fn.function_id, fn.version);
  }

  /** The cutoff of `max_request_age` now, as the store takes it. */
  private expiry(): { createdBefore: string; message: string } | undefined {
    const maxAgeMs = this.options.maxRequestAgeMs;
    if (maxAgeMs <= 0) return undefined;
    const message = `The request waited longer than [runner] max_request_age (${maxAgeMs / 1000} s) to be started`;
    return { createdBefore: new Date(Date.now() - maxAgeMs).toISOString(), message };
  }

  private async notStarted(requestId: string, reason: 'final' | 'duplicate' | 'at_capacity' | 'expired', delivery: Delivery): Promise<void> {
    const { log } = this.deps;
    switch (reason) {
      case 'final':
        log.info(`request ${requestId} is already final; not run again`, requestId);
        return delivery.ack();
      case 'duplicate':
        // A second job for a request another job started (the sweeper published it again): only
        // the job that started it may take it over, when it comes back after its runner died.
        log.info(`request ${requestId} is running under another job; duplicate job dropped`, requestId);
        return delivery.ack();
      case 'at_capacity':
        return delivery.retry(capacityWaitMs(delivery.deliveryCount));
      case 'expired': {
        log.warning(`request ${requestId} expired before it could start; dead-lettered`, requestId);
        const expired = await this.deps.store.getRequest(requestId, 'all-tenants');
        if (expired !== undefined) {
          this.deps.notifier.publish({ kind: 'request', request: requestChange(expired) });
          this.countFinished(expired.function_id, 'failed', expired.created_at, expired.finished_at, null);
          this.deps.metrics.deadLetters.inc({ function: expired.function_id });
        }
        return delivery.deadLetter();
      }
    }
  }

  /**
   * An attempt ended in a way the function's retries cover, or through a `platform` failure,
   * which `[runner] platform_retries` cover too: the request goes back to `queued` (its error
   * visible) and its job comes back after a backoff; with no retry left it ends with that
   * outcome, dead-lettered, and so does its job.
   */
  private async attemptFailed(request: RequestRecord, fn: RunSettings, outcome: Outcome, platform: boolean, delivery: Delivery): Promise<void> {
    const { store, log } = this.deps;
    const requestId = request.request_id;
    if (hasRetriesLeft(fn, request.attempts, platform ? this.options.platformRetries : 0)) {
      const delayMs = retryDelayMs(request.attempts);
      if (!(await store.requeueRequest(requestId, { attempt: request.attempts, error: outcome.error, logs: outcome.logs, at: now() }))) {
        log.info(`request ${requestId} was cancelled or started again meanwhile; attempt ${request.attempts} not retried`, requestId);
        return delivery.ack();
      }
      this.deps.notifier.publish({ kind: 'request', request: { ...requestChange(request), status: 'queued' } });
      this.deps.metrics.retries.inc({ function: request.function_id });
      log.warning(`request ${requestId} attempt ${request.attempts} ended ${outcome.status} (${outcome.error?.type ?? ''}); retrying in ${delayMs} ms`, requestId);
      return delivery.retry(delayMs);
    }
    log.warning(`request ${requestId} ended ${outcome.status} after ${request.attempts} attempt(s), its retries used up; dead-lettered`, requestId);
    if (await this.finish(request, { ...outcome, deadLetter: true })) this.deps.metrics.deadLetters.inc({ function: request.function_id });
    return delivery.deadLetter();
  }

  /**
   * A platform failure (Docker or the store unusable) of a build is not the function's fault: it
   * is tried again with backoff, and given up with `giveUp` after `[runner] build_retries`.
   */
  private async buildFailure(functionId: string, thrown: unknown, delivery: Delivery, giveUp: () => Promise<unknown>): Promise<void> {
    const error = coerceError(thrown);
    if (delivery.deliveryCount <= this.options.buildRetries) {
      const delayMs = retryDelayMs(delivery.deliveryCount);
      this.deps.log.error(`build of function ${functionId} hit a platform failure, retrying in ${delayMs} ms: ${error.message}`);
      return delivery.retry(delayMs);
    }
    this.deps.log.error(`build of function ${functionId} given up after ${delivery.deliveryCount} platform failures: ${error.message}`);
    await giveUp();
    return delivery.deadLetter();
  }

  /** Stores the outcome of the attempt `started` is, unless the request moved on meanwhile; whether it did. */
  private async finish(started: RequestRecord, outcome: Outcome): Promise<boolean> {
    const { store, log } = this.deps;
    const requestId = started.request_id;
    if (await store.finishRequest(requestId, { ...outcome, attempt: started.attempts })) {
      const { response, error } = outcome;
      this.deps.notifier.publish({ kind: 'request', request: finishedChange(started, outcome), outcome: { response, error } });
      this.countFinished(started.function_id, outcome.status, started.created_at, outcome.finishedAt, outcome.durationMs);
      await this.deps.afterOutcome?.(started, outcome).catch((error: Error) => log.error(`after the outcome of request ${requestId}: ${error.message}`, requestId));
      return true;
    }
    const now = await store.getRequest(requestId, 'all-tenants');
    if (now !== undefined && now.attempts !== started.attempts) {
      // This runner lost its broker connection mid-request; the broker gave the job to another
      // runner, which started the request again before this attempt ended: that attempt's outcome counts.
      log.warning(`request ${requestId} was started again (attempt ${now.attempts}) while attempt ${started.attempts} ran; its ${outcome.status} not stored`, requestId);
      return false;
    }
    log.warning(`request ${requestId} already had an outcome; ${outcome.status} not stored`, requestId);
    return false;
  }

  private countFinished(functionId: string, outcome: Outcome['status'], createdAt: string, finishedAt: string | null, runMs: number | null): void {
    const { metrics } = this.deps;
    const labels = { function: functionId, outcome };
    metrics.requestsFinished.inc(labels);
    const total = secondsBetween(createdAt, finishedAt);
    if (total !== undefined) metrics.requestDuration.observe(labels, total);
    if (runMs !== null) metrics.runDuration.observe(labels, runMs / 1000);
  }

  private async buildFunction(functionId: string, codeSha256: string, delivery: Delivery): Promise<void> {
    const { store } = this.deps;
    try {
      const fn = await this.runSettings(functionId, 'latest');
      if (fn !== undefined && fn.code_sha256 === codeSha256) await this.ensureImage(fn);
      return await delivery.ack();
    } catch (thrown) {
      return this.buildFailure(functionId, thrown, delivery, () =>
        store.setFunctionBuild(functionId, codeSha256, 'error', `The image could not be built: ${coerceError(thrown).message}`),
      );
    }
  }

  /**
   * A version was deleted: once no request of it is queued or running, the images and warm
   * containers of the function that neither `latest` nor a remaining version uses go.
   */
  private async forgetVersion(functionId: string, version: number, delivery: Delivery): Promise<void> {
    const { store, log } = this.deps;
    try {
      const pending = await Promise.all(
        (['running', 'queued'] as const).map((status) => store.listRequests('all-tenants', { functionId, version, status, limit: 1 })),
      );
      if (pending.some((requests) => requests.length > 0)) return await delivery.retry(retryDelayMs(delivery.deliveryCount));
      const removed = await this.pruneImages(functionId);
      log.info(`version ${version} of function ${functionId} deleted: removed ${removed} image(s)`);
      return await delivery.ack();
    } catch (error) {
      log.error(`could not remove the image of version ${version} of function ${functionId}: ${coerceError(error).message}`);
      return delivery.retry(retryDelayMs(delivery.deliveryCount));
    }
  }

  /** Removes the function's images (and warm containers) that neither `latest` nor a published version uses; returns how many images. */
  private async pruneImages(functionId: string): Promise<number> {
    const { store, containers } = this.deps;
    const fn = await store.getFunction(functionId, 'all-tenants');
    if (fn === undefined) return 0;
    const keep = [fn, ...(await store.listVersions(functionId))].map((used) => functionImageTag({ function_id: functionId, code_sha256: used.code_sha256 }));
    for (const tag of this.images) if (tag.startsWith(`pratai/function-${functionId}:`) && !keep.includes(tag)) this.images.delete(tag);
    this.deps.pool.forget(functionId, keep);
    return containers.removeFunctionImages(functionId, keep);
  }

  private async forgetFunction(functionId: string, delivery: Delivery): Promise<void> {
    for (const tag of this.images) if (tag.startsWith(`pratai/function-${functionId}:`)) this.images.delete(tag);
    this.deps.pool.forget(functionId);
    const removed = await this.deps.containers.removeFunctionImages(functionId);
    this.deps.log.info(`function ${functionId} deleted: removed ${removed} image(s)`);
    return delivery.ack();
  }

  /** Builds the function's image unless it exists, and records the build's result on the function. */
  private ensureImage(fn: RunSettings): Promise<BuildResult> {
    const tag = functionImageTag(fn);
    if (this.images.has(tag)) return Promise.resolve({ ok: true, log: '' });
    let build = this.builds.get(tag);
    if (build === undefined) {
      build = this.build(fn, tag).finally(() => this.builds.delete(tag));
      this.builds.set(tag, build);
    }
    return build;
  }

  private async build(fn: RunSettings, tag: string): Promise<BuildResult> {
    const { store, containers, log } = this.deps;
    if (await containers.hasImage(tag)) {
      this.images.add(tag);
      if (fn.status !== 'ready') await store.setFunctionBuild(fn.function_id, fn.code_sha256, 'ready', fn.build_log);
      return { ok: true, log: '' };
    }
    const [runtime, code] = await Promise.all([store.getRuntime(fn.runtime), this.codeOf(fn)]);
    if (runtime === undefined || code === undefined) {
      return { ok: false, log: runtime === undefined ? `The runtime \`${fn.runtime}\` no longer exists` : fn.version === 'latest' ? 'The function was deleted' : `Version ${fn.version} of the function was deleted` };
    }
    log.info(`building image ${tag}`);
    const buildStarted = performance.now();
    const result = await containers.buildImage({ tag, runtimeImage: runtime.image, functionId: fn.function_id, codeSha256: fn.code_sha256, code });
    const buildResult = result.ok ? 'ok' : 'error';
    this.deps.metrics.imageBuilds.inc({ result: buildResult });
    this.deps.metrics.imageBuildDuration.observe({ result: buildResult }, (performance.now() - buildStarted) / 1000);
    if (result.ok) {
      this.images.add(tag);
      // Earlier code of the function that no published version keeps is not run any more.
      const removed = fn.version === 'latest' ? await this.pruneImages(fn.function_id).catch(() => 0) : 0;
      if (removed > 0) log.info(`removed ${removed} earlier image(s) of function ${fn.function_id}`);
    } else {
      log.warning(`image ${tag} failed to build`);
    }
    await store.setFunctionBuild(fn.function_id, fn.code_sha256, result.ok ? 'ready' : 'error', result.log);
    return result;
  }
}

function toOutcome(execution: Execution): Outcome {
  return {
    status: execution.status,
    response: execution.response,
    error: execution.error,
    logs: execution.logs,
    finishedAt: now(),
    durationMs: execution.durationMs,
  };
}

function finishedChange(started: RequestRecord, outcome: Outcome): RequestChange {
  const { status, finishedAt, durationMs, deadLetter } = outcome;
  return { ...requestChange(started), status, finished_at: finishedAt, duration_ms: durationMs, dead_letter: deadLetter ?? false };
}

/**
 * Announces an attempt's log records as the function writes them: those of one turn of the event
 * loop go out together, numbered by their place among the attempt's records.
 */
function streamLogs(notifier: Notifier, request: RequestRecord, redactor: Redactor): (record: LogRecord) => void {
  let sent = 0;
  let pending: LogRecord[] = [];
  const flush = (): void => {
    const records = pending;
    pending = [];
    const { request_id, function_id, tenant_id, attempts: attempt } = request;
    notifier.publish({ kind: 'log', request_id, function_id, tenant_id, attempt, index: sent, records });
    sent += records.length;
  };
  return (record) => {
    if (pending.push(redactor.record(record)) === 1) setImmediate(flush);
  };
}

/** The end of a build log: what says why it failed. */
const lastLines = (log: string): string => log.split('\n').slice(-20).join('\n');

function failedOutcome(status: 'failed' | 'cancelled', type: string, message: string): Outcome {
  return { status, response: null, error: { type, message, traceback: '' }, logs: [], finishedAt: now(), durationMs: null };
}
