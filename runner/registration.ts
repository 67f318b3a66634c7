/**
 * A runner's identity among the runners sharing a database: its heartbeat, which one process at a
 * time holds under the runner's id. A runner registers (its first heartbeat) before it touches
 * Docker; a second process started under the id of a live runner is refused, while one restarted
 * under the id of a runner that died waits until that runner's last heartbeat is older than
 * `[runner] dead_after`, and takes the id over. Whether another runner is alive is read from the
 * same heartbeats: a runner removes only what runners no longer alive left behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../common/config.js';
import { now } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { RunnerHeartbeat, RunnerLoad, Store } from '../common/store/store.js';
import type { RunnerLiveness } from './container-runtime.js';

/** What identifies one runner process in its heartbeats. */
export interface RunnerIdentity {
  /** The runner's id: its configured name, or its host name and a suffix unique to the process. */
  name: string;
  host: string;
  pid: number;
  /** New at every start of a runner process. */
  instanceId: string;
  startedAt: string;
}

/** What a heartbeat reports besides the identity. */
export interface HeartbeatReport {
  dockerOk: boolean;
  images: string[];
  load: RunnerLoad;
}

export interface RegistrationOptions {
  identity: RunnerIdentity;
  heartbeatIntervalMs: number;
  /** Without a heartbeat for this long, a runner counts as dead. */
  deadAfterMs: number;
}

/** The longest wait between two looks at a name's holder while it may still be alive. */
const MAX_POLL_MS = 5_000;

export class Registration {
  private lostWarned = false;

  constructor(
    private readonly deps: { store: Store; log: Logger },
    private readonly options: RegistrationOptions,
  ) {}

  get name(): string {
    return this.options.identity.name;
  }

  /**
   * Records the first heartbeat. While another process holds the id, watches its heartbeat: one
   * that moves is a live runner, and this one is refused (ConfigError naming it); one that stays
   * until it is older than dead_after was a runner that died, and this one takes its id over.
   */
  async register(report: HeartbeatReport): Promise<void> {
    const { store, log } = this.deps;
    const { deadAfterMs, heartbeatIntervalMs } = this.options;
    let first: RunnerHeartbeat | undefined;
    for (;;) {
      const holder = await store.recordHeartbeat({ ...this.heartbeat(report), drainRequested: false }, this.staleBefore());
      if (holder === undefined) {
        if (first !== undefined) log.warning(`runner ${this.name}: took the name over from ${describe(first)}, which sent no heartbeat for ${deadAfterMs / 1000} s ([runner] dead_after)`);
        return;
      }
      if (first !== undefined && (holder.instanceId !== first.instanceId || holder.at !== first.at)) {
        throw new ConfigError(
          `Another runner named ${this.name} is alive: ${describe(holder)}. Give each runner its own [runner] name, or leave it empty (each process then gets one of its own)`,
        );
      }
      first ??= holder;
      const ageMs = Date.now() - Date.parse(holder.at);
      log.warning(
        `runner ${this.name} is held by ${describe(holder)}, ${Math.round(ageMs / 1000)} s ago; waiting to see whether it is alive: a runner that died is taken over once its last heartbeat is ${deadAfterMs / 1000} s old ([runner] dead_after)`,
      );
      const untilStaleMs = Math.max(0, deadAfterMs - ageMs) + 100;
      await sleep(Math.min(untilStaleMs, Math.max(250, Math.min(MAX_POLL_MS, heartbeatIntervalMs / 2))));
    }
  }

  /** Reports the runner alive; says so in the log if another process took its id meanwhile. */
  async beat(report: HeartbeatReport): Promise<void> {
    const holder = await this.deps.store.recordHeartbeat(this.heartbeat(report), this.staleBefore());
    if (holder === undefined) {
      this.lostWarned = false;
      return;
    }
    if (this.lostWarned) return;
    this.lostWarned = true;
    this.deps.log.error(
      `runner ${this.name}: ${describe(holder)} took this runner's name over, having seen no heartbeat of it for ${this.options.deadAfterMs / 1000} s ([runner] dead_after); two processes now run under one name`,
    );
  }

  /** Whether an administrator asked this runner to drain (`POST /v1/runners/ID/drain`). */
  async drainRequested(): Promise<boolean> {
    const { name, instanceId } = this.options.identity;
    const own = (await this.deps.store.listHeartbeats()).find((beat) => beat.name === name && beat.instanceId === instanceId);
    return own?.drainRequested ?? false;
  }

  /** Removes the heartbeat at a clean stop: the id is free at once, and nothing of it is left to remove. */
  async release(): Promise<void> {
    await this.deps.store.deleteHeartbeat(this.name, this.options.identity.instanceId).catch(() => false);
  }

  /**
   * Which runners are alive, by their heartbeats now. This runner's own id counts as dead at its
   * start (what carries it then was left by an earlier life) and alive later.
   */
  async liveness(atStart: boolean): Promise<RunnerLiveness> {
    const beats = new Map((await this.deps.store.listHeartbeats()).map((beat) => [beat.name, beat]));
    const staleBefore = this.staleBefore();
    return (runnerId) => {
      if (runnerId === this.name) return atStart ? 'dead' : 'alive';
      const beat = beats.get(runnerId);
      if (beat === undefined) return 'unknown';
      return beat.at >= staleBefore ? 'alive' : 'dead';
    };
  }

  private heartbeat(report: HeartbeatReport): RunnerHeartbeat {
    const { name, host, pid, instanceId, startedAt } = this.options.identity;
    return { name, host, pid, instanceId, startedAt, dockerOk: report.dockerOk, images: report.images, load: report.load, at: now() };
  }

  private staleBefore(): string {
    return new Date(Date.now() - this.options.deadAfterMs).toISOString();
  }
}

function describe(beat: RunnerHeartbeat): string {
  const who = beat.instanceId === '' ? 'a runner of an earlier version' : `host ${beat.host}, pid ${beat.pid}, started ${beat.startedAt}`;
  return `${who}, last heartbeat ${beat.at}`;
}
