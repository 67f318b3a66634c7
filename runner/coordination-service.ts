/**
 * The `coordination` service a running function calls (pratai_runtime.coordination): the
 * project's tree in the request's tenant, through a session of the request's own.
 *
 * A run's session is opened at its first call and closed when the run ends, however it ends
 * (`ended`, from the runner): its ephemeral nodes (a lock, a leader) go with it. While it runs,
 * the runner keeps it alive; a runner that dies stops doing so, and the session expires a
 * `[coordination] session_timeout_ms` later, when any process's sweep closes it.
 *
 * Watch events reach the function without the runner writing anything but replies: every reply
 * of a session that set watches carries the events pending for it (taken after the call's own
 * work, so an answer that shows a change comes with the event of that change, and the module
 * runs the callbacks before it returns), and the module's poller asks with `events` while
 * watches are outstanding.
 */
import type { Coordination } from '../common/coordination/coordination.js';
import type { Read, ReadResult, WatchEvent } from '../common/coordination/nodes.js';
import { flagOf, opOf, opsOf } from '../common/coordination/ops.js';
import { validatePath } from '../common/coordination/paths.js';
import { PrataiError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { FunctionCallError } from './container-runtime.js';
import type { Caller, FunctionService } from './function-services.js';

interface RunSession {
  tenantId: string;
  opened: Promise<string>;
  /** Whether it ever set a watch: only then can it have events. */
  watching: boolean;
}

const runKey = ({ request }: Caller): string => `${request.request_id}:${request.attempts}`;

type Args = Record<string, unknown>;

function statView(result: ReadResult): unknown {
  switch (result.read) {
    case 'get':
      return { data: result.data.toString('base64'), stat: result.stat };
    case 'exists':
      return { stat: result.stat };
    case 'children':
      return { children: result.children, stat: result.stat };
  }
}

export class CoordinationService implements FunctionService {
  private readonly sessions = new Map<string, RunSession>();
  private readonly keeper: NodeJS.Timeout;

  constructor(
    private readonly deps: { coordination: Coordination; log: Logger },
    private readonly options: { sessionTimeoutMs: number },
  ) {
    this.keeper = setInterval(() => void this.keepAlive(), Math.max(100, Math.floor(options.sessionTimeoutMs / 3)));
    this.keeper.unref();
  }

  async call(method: string, args: Args, caller: Caller): Promise<unknown> {
    try {
      const run = this.sessionOf(caller);
      const sessionId = await run.opened;
      const value = await this.invoke(method, args, run, sessionId);
      const events: WatchEvent[] = run.watching ? await this.deps.coordination.takeEvents(run.tenantId, sessionId) : [];
      return { value, events };
    } catch (error) {
      if (error instanceof PrataiError) throw new FunctionCallError(error.code, error.message);
      throw error;
    }
  }

  /** The run ended: its session closes, its ephemeral nodes deleted. */
  async ended(caller: Caller): Promise<void> {
    const key = runKey(caller);
    const run = this.sessions.get(key);
    if (run === undefined) return;
    this.sessions.delete(key);
    try {
      await this.deps.coordination.closeSession(run.tenantId, await run.opened);
    } catch (error) {
      // Its expiry closes it then: a session timeout later.
      this.deps.log.warning(`request ${caller.request.request_id}: its coordination session could not be closed (${(error as Error).message}); it expires instead`);
    }
  }

  stop(): void {
    clearInterval(this.keeper);
  }

  private sessionOf(caller: Caller): RunSession {
    const key = runKey(caller);
    let run = this.sessions.get(key);
    if (run === undefined) {
      const tenantId = caller.request.tenant_id;
      const opened = this.deps.coordination.openSession(tenantId, this.options.sessionTimeoutMs, caller.request.request_id).then((session) => session.session_id);
      run = { tenantId, opened, watching: false };
      this.sessions.set(key, run);
      opened.catch(() => this.sessions.get(key) === run && this.sessions.delete(key));
    }
    return run;
  }

  private async invoke(method: string, args: Args, run: RunSession, sessionId: string): Promise<unknown> {
    const { coordination } = this.deps;
    const { tenantId } = run;
    const read = async (kind: Read['read']): Promise<unknown> => {
      const watch = flagOf('watch', args.watch);
      if (watch) run.watching = true;
      return statView(await coordination.read(tenantId, sessionId, { read: kind, path: validatePath(args.path), watch }));
    };
    switch (method) {
      case 'create':
      case 'set':
      case 'delete':
      case 'check': {
        const { results } = await coordination.write(tenantId, sessionId, [opOf({ ...args, op: method })]);
        return results[0];
      }
      case 'multi':
        return (await coordination.write(tenantId, sessionId, opsOf(args.ops))).results;
      case 'get':
        return read('get');
      case 'exists':
        return read('exists');
      case 'children':
        return read('children');
      case 'events':
        return null; // the reply carries them
      case 'session':
        return { session_id: sessionId, timeout_ms: this.options.sessionTimeoutMs };
      default:
        throw new FunctionCallError('UnknownMethod', `No method \`${method}\` in coordination; expected one of: create, set, delete, check, multi, get, exists, children, events, session`);
    }
  }

  private async keepAlive(): Promise<void> {
    for (const [key, run] of [...this.sessions]) {
      try {
        await this.deps.coordination.keepAlive(run.tenantId, await run.opened, this.options.sessionTimeoutMs);
      } catch (error) {
        // Expired (the runner stalled past the timeout): its calls now get SessionExpired, as ZooKeeper's would.
        if (!(error instanceof PrataiError && error.code === 'SessionExpired')) this.deps.log.warning(`coordination keep-alive failed for ${key}: ${(error as Error).message}`);
      }
    }
  }
}
