/**
 * A task a runner does on an interval (the sweeper's sweep, the retention's purge): at most one run
 * at a time (a run asked for while one is under way joins it), the timer never keeping the
 * process alive, and `stop` waiting for the run under way. The task reports its own failures.
 */
export class Periodic<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  constructor(
    private readonly task: () => Promise<T>,
    private readonly intervalMs: number,
  ) {}

  /** Runs the task every interval, and at once too when `immediately`. */
  start({ immediately = false } = {}): void {
    if (immediately) void this.run();
    this.timer = setInterval(() => void this.run(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for the run under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One run now, or the one under way. */
  run(): Promise<T> {
    this.running ??= this.task().finally(() => (this.running = undefined));
    return this.running;
  }
}
