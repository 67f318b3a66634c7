/**
 * The platform's Prometheus metrics (prom-client), one registry per process: the API counts what
 * it accepts and how fast its webhooks answer, a runner what it finishes, builds and starts, and
 * its containers by state. `GET /metrics` serves the registry in Prometheus's text format (the
 * API's port; a pratai-runner's `[runner] metrics_port`).
 *
 * Label values stay bounded: `function` (a function id) grows with the number of functions, and
 * `runner` with the number of runners; every other label takes a handful of fixed values.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How a request ended, as `outcome` labels say it. */
export type OutcomeLabel = 'succeeded' | 'failed' | 'timeout' | 'cancelled';

/** Containers a runner holds now, by state (warm: idle in the pool; busy: running a request). */
export interface ContainerCounts {
  warm: number;
  busy: number;
  prewarmed: number;
}

/** What a runner reports when scraped. */
export interface RunnerGauges {
  containers(): ContainerCounts;
  /** Jobs this runner holds waiting for one of its `concurrency` slots. */
  waiting(): number;
  /** Requests executing now. */
  running(): number;
}

/** Seconds, from a few milliseconds (a warm call) to a long function (timeouts go to 900 s). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
/** Image builds take seconds to minutes. */
const BUILD_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class Metrics {
  readonly registry = new Registry();

  readonly requestsAccepted = new Counter({
    name: 'pratai_requests_accepted_total',
    help: "Requests accepted (stored queued, their job published), by function: webhook calls (one or bulk), jobs' ticks, events' messages and node changes.",
    labelNames: ['function'] as const,
    registers: [this.registry],
  });

  readonly requestsFinished = new Counter({
    name: 'pratai_requests_finished_total',
    help: 'Requests that ended, by function and outcome (succeeded, failed, timeout, cancelled).',
    labelNames: ['function', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'pratai_request_duration_seconds',
    help: 'End to end: from a request being accepted to its outcome being stored, retries and waits included.',
    labelNames: ['function', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly runDuration = new Histogram({
    name: 'pratai_request_run_duration_seconds',
    help: "An attempt's run in its container, as the runtime measured it.",
    labelNames: ['function', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: 'pratai_request_queue_wait_seconds',
    help: 'From a request being accepted to its first attempt starting.',
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly webhookLatency = new Histogram({
    name: 'pratai_webhook_response_seconds',
    help: 'Time a webhook took to answer, by mode (async: the 202; sync: the outcome) and HTTP status code.',
    labelNames: ['mode', 'code'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly retries = new Counter({
    name: 'pratai_request_retries_total',
    help: 'Attempts that failed and were queued again for another, by function.',
    labelNames: ['function'] as const,
    registers: [this.registry],
  });

  readonly deadLetters = new Counter({
    name: 'pratai_requests_dead_lettered_total',
    help: 'Requests dead-lettered (retries used up, or older than [runner] max_request_age), by function.',
    labelNames: ['function'] as const,
    registers: [this.registry],
  });

  readonly imageBuilds = new Counter({
    name: 'pratai_image_builds_total',
    help: "Function images built, by result (ok, error).",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly imageBuildDuration = new Histogram({
    name: 'pratai_image_build_duration_seconds',
    help: "Time an image build took, by result (ok, error).",
    labelNames: ['result'] as const,
    buckets: BUILD_BUCKETS,
    registers: [this.registry],
  });

  readonly containerStarts = new Counter({
    name: 'pratai_container_starts_total',
    help: 'Containers made ready for a function, by kind (new: created from its image; prewarmed: a prewarmed one loaded with its code).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly containerStartDuration = new Histogram({
    name: 'pratai_container_start_duration_seconds',
    help: 'Time to make a container ready for a function, by kind (new, prewarmed).',
    labelNames: ['kind'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  private readonly runners = new Map<string, RunnerGauges>();

  constructor() {
    const runners = this.runners;
    new Gauge({
      name: 'pratai_containers',
      help: 'Containers a runner holds now, by state (warm: idle in its pool; busy: running requests; prewarmed: started without a function).',
      labelNames: ['runner', 'state'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [runner, gauges] of runners) {
          const counts = gauges.containers();
          for (const state of ['warm', 'busy', 'prewarmed'] as const) this.set({ runner, state }, counts[state]);
        }
      },
    });
    new Gauge({
      name: 'pratai_requests_waiting',
      help: 'Jobs a runner holds that wait for one of its [runner] concurrency slots.',
      labelNames: ['runner'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [runner, gauges] of runners) this.set({ runner }, gauges.waiting());
      },
    });
    new Gauge({
      name: 'pratai_requests_running',
      help: 'Requests a runner executes now.',
      labelNames: ['runner'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [runner, gauges] of runners) this.set({ runner }, gauges.running());
      },
    });
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which promtool rejects; `nodejs_active_handles` and the rest,
    // by type, say the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }

  /** Reports a runner's gauges at every scrape, until it stops (the returned function). */
  addRunner(name: string, gauges: RunnerGauges): () => void {
    this.runners.set(name, gauges);
    return () => {
      if (this.runners.get(name) === gauges) this.runners.delete(name);
    };
  }

  /** The registry in Prometheus's text format, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Seconds between two ISO times, or undefined when either is missing or they are out of order. */
export function secondsBetween(from: string | null | undefined, to: string | null | undefined): number | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
}
