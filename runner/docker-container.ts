/**
 * DockerContainer: one started Docker container and the protocol session with the runtime inside
 * it (runtimes/README.md), held open for the container's whole life so that it can serve many
 * requests. A request the container does not answer normally (timeout, cancel, too much output,
 * the container ending) kills it, and it is never reusable again.
 */
import type { Socket } from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { LogRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import type { ChannelListener } from './channel.js';
import { FunctionCallError, ImageMissing, type Container, type Execution, type FunctionCall, type LoadSpec, type RunRequest } from './container-runtime.js';

export interface SessionLimits {
  maxLogBytes: number;
  maxResponseBytes: number;
  /** The container's pids limit: a function leaving half of it in threads loses its container. */
  pidsLimit: number;
  /** Told when a runtime that could use the channel's socket speaks over stdin/stdout instead, and why. */
  onChannelFallback?: (cause: ChannelFallbackCause) => void;
}

/**
 * Why a runtime did not find its channel's socket: it was `removed` from under the runner (its
 * folder deleted by something else), or the Docker host does not see the folder (`not-seen`).
 */
export type ChannelFallbackCause = 'removed' | 'not-seen';

/** Room for the protocol's own framing on top of logs and response. */
const PROTOCOL_OVERHEAD_BYTES = 64 * 1024;
const STDERR_KEEP_BYTES = 16 * 1024;
/** How long a timed-out function's runtime gets to hand over its logs before the kill. */
const LOGS_ON_TIMEOUT_WAIT_MS = 500;
/** The protocol version whose runtimes accept init and report what main left running. */
const INIT_PROTOCOL = 2;
/** The protocol version whose runtimes connect to PRATAI_SOCKET. */
const CHANNEL_PROTOCOL = 3;

/** How long an ended container's engine gets to record its exit before it is inspected. */
const EXIT_STATE_WAIT_MS = 5_000;

const delay = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());

export function platformError(action: string, error: unknown): PrataiError {
  return new PrataiError('ServiceUnavailable', `Docker ${action} failed: ${(error as Error).message}`, { cause: error });
}

/** A result message and the length of its line (ASCII: its bytes). */
interface Result {
  message: ResultMessage;
  lineLength: number;
}

interface ResultMessage {
  type: 'result';
  id: string;
  status: 'succeeded' | 'failed';
  response?: unknown;
  error?: Execution['error'];
  logs?: LogRecord[];
  duration_ms?: number;
  leftover?: { processes?: number; threads?: number };
}

export interface ContainerSize {
  /** MiB of memory, swap included. */
  memoryMiB: number;
  cpus: number;
}

/** Docker's resource settings for a size: memory equal to memory+swap, and a CPU quota. */
export function resources(size: ContainerSize): { Memory: number; MemorySwap: number; NanoCpus: number } {
  const memoryBytes = size.memoryMiB * 1024 * 1024;
  return { Memory: memoryBytes, MemorySwap: memoryBytes, NanoCpus: Math.round(size.cpus * 1e9) };
}

/** The request under way, waiting for its answer. */
interface Pending {
  readonly id: string;
  settle(outcome: Result | 'exited' | 'output-limit'): void;
  logs(records: LogRecord[]): void;
  /** One record as the function wrote it (a `log` message). */
  log?: (record: LogRecord) => void;
  call?: (call: FunctionCall) => Promise<unknown>;
}

export class DockerContainer implements Container {
  private buffered = '';
  /** Bytes of output since the current request was written; over the cap the container is killed. */
  private received = 0;
  /** What a request may send: its logs and response, and its logs once more when they are streamed. */
  private outputCap: number;
  private readonly baseOutputCap: number;
  private current: Pending | undefined;
  private stderrText = '';
  /** Set once the container must serve no other request (see Container.reusable). */
  private discarded = false;
  private removal: Promise<void> | undefined;
  private resolveReady: (ready: { acceptsInit: boolean }) => void = () => undefined;
  private rejectReady: (error: Error) => void = () => undefined;
  private readonly announced: Promise<{ acceptsInit: boolean }>;
  /** Where lines to the runtime go: the channel's socket, or stdin; undefined until the runtime shows which. */
  private sink: Writable | undefined;
  /** Lines written before the runtime showed which way it listens. */
  private unsent: string[] = [];
  private socket: Socket | undefined;
  /** Whether the channel's socket was gone, removed from under the runner, when the runtime spoke on stdout instead. */
  private channelRemoved = false;

  /**
   * Creates, attaches and starts a container; a half-made one is removed before this throws.
   * With a `listener`, the runtime is expected on its socket (the container's config names it).
   */
  static async start(docker: Docker, config: Docker.ContainerCreateOptions, limits: SessionLimits, size: ContainerSize, listener?: ChannelListener): Promise<DockerContainer> {
    let container: Docker.Container;
    try {
      container = await docker.createContainer(config);
    } catch (error) {
      const { statusCode, message } = error as { statusCode?: number; message?: string };
      if (statusCode === 404 && /no such image/i.test(message ?? '') && config.Image !== undefined) throw new ImageMissing(config.Image);
      throw platformError('container create', error);
    }
    let stream: Duplex;
    try {
      stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    } catch (error) {
      await container.remove({ force: true }).catch(() => undefined);
      throw platformError('container attach', error);
    }
    const session = new DockerContainer(docker, container, stream, limits, size, listener);
    try {
      await container.start();
    } catch (error) {
      await session.remove();
      throw platformError('container start', error);
    }
    return session;
  }

  private constructor(
    docker: Docker,
    private readonly container: Docker.Container,
    private readonly stream: Duplex,
    private readonly limits: SessionLimits,
    private size: ContainerSize,
    private readonly listener: ChannelListener | undefined,
  ) {
    this.baseOutputCap = limits.maxLogBytes + limits.maxResponseBytes + PROTOCOL_OVERHEAD_BYTES;
    this.outputCap = this.baseOutputCap;
    this.announced = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.announced.catch(() => undefined); // nobody may ask; an unasked rejection is no error
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    docker.modem.demuxStream(stream, stdout, stderr);
    stdout.on('data', (chunk: Buffer) => {
      // Output on stdout first: a runtime that did not connect (an older one, or no socket in
      // its folder) speaks over stdin/stdout. Once it speaks over the socket, stdout is no
      // channel: nothing there is read as protocol.
      if (this.sink === undefined) {
        this.channelRemoved = listener?.removedFromUnder() ?? false;
        this.speakOver(stream);
      }
      if (this.sink === stream) this.onOutput(chunk);
    });
    if (listener === undefined) {
      this.speakOver(stream);
    } else {
      void listener.connected.then((socket) => {
        if (this.sink !== undefined || this.removal !== undefined) {
          socket.destroy();
          return;
        }
        this.socket = socket;
        socket.on('data', (chunk: Buffer) => this.onOutput(chunk));
        socket.on('error', () => undefined); // its end is the container's: the attachment tells
        this.speakOver(socket);
      });
    }
    stderr.on('data', (chunk: Buffer) => {
      if (this.stderrText.length < STDERR_KEEP_BYTES) this.stderrText += chunk.toString('utf8');
    });
    // demuxStream does not end its outputs: the end of the attached stream is the exit.
    const onEnd = (): void => this.onExit();
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onEnd);
  }

  get id(): string {
    return this.container.id;
  }

  get reusable(): boolean {
    return !this.discarded && this.removal === undefined;
  }

  ready(): Promise<{ acceptsInit: boolean }> {
    return this.announced;
  }

  async load(spec: LoadSpec): Promise<void> {
    if (spec.memoryMiB !== this.size.memoryMiB || spec.cpus !== this.size.cpus) {
      try {
        await this.container.update(resources(spec));
      } catch (error) {
        throw platformError('container update', error);
      }
      this.size = { memoryMiB: spec.memoryMiB, cpus: spec.cpus };
    }
    this.write({ type: 'init', function_id: spec.functionId, module: spec.module });
  }

  async pause(): Promise<void> {
    await this.container.pause().catch((error: unknown) => {
      throw platformError('container pause', error);
    });
  }

  async resume(): Promise<void> {
    await this.container.unpause().catch((error: unknown) => {
      throw platformError('container unpause', error);
    });
  }

  remove(): Promise<void> {
    // Force removal also kills: whatever the function left running dies with its container.
    this.removal ??= this.container
      .remove({ force: true })
      .catch(() => undefined)
      .finally(async () => {
        this.stream.destroy();
        this.socket?.destroy();
        await this.listener?.close();
      });
    return this.removal;
  }

  async run(request: RunRequest): Promise<Execution> {
    if (this.current !== undefined) throw new Error(`container ${this.id} is already running request ${this.current.id}`);
    if (!this.reusable) throw new Error(`container ${this.id} cannot serve another request`);
    const started = performance.now();
    const wallMs = (): number => Math.round(performance.now() - started);

    // On a timeout the runtime is asked (SIGUSR1) for the logs written so far, sent as a `logs` message.
    let resolveLogs: (logs: LogRecord[]) => void = () => undefined;
    const logsSoFar = new Promise<LogRecord[]>((resolve) => (resolveLogs = resolve));
    const answered = new Promise<Result | 'exited' | 'output-limit'>((settle) => {
      this.current = { id: request.requestId, settle, logs: resolveLogs, ...(request.onLog && { log: request.onLog }), ...(request.onCall && { call: request.onCall }) };
    });
    this.received = 0;
    // Streamed records travel twice (in `log` messages, then in the result), each `log` line with
    // less framing than a record's own JSON: twice the logs' cap bounds them. A runtime older
    // than protocol 4 ignores the flag and sends them once.
    const streamLogs = request.onLog !== undefined;
    this.outputCap = streamLogs ? this.baseOutputCap + 2 * this.limits.maxLogBytes : this.baseOutputCap;
    const context = request.context && { ...request.context, deadline_ms: Date.now() + request.timeoutMs };
    this.write({ type: 'run', id: request.requestId, payload: request.payload, ...(streamLogs && { stream_logs: true }), ...(context && { context }) });

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), request.timeoutMs);
    });
    const { signal } = request;
    let onAbort: () => void = () => undefined;
    const cancelled = new Promise<'cancelled'>((resolve) => {
      onAbort = () => resolve('cancelled');
      if (signal?.aborted) resolve('cancelled');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const ended = await Promise.race([answered, timedOut, cancelled]);
      clearTimeout(timer);
      if (ended === 'cancelled') {
        await this.kill();
        return failure('cancelled', 'Cancelled', 'The request was cancelled while it ran; its container was killed', wallMs());
      }
      if (ended === 'timeout') {
        await this.container.kill({ signal: 'SIGUSR1' }).catch(() => undefined);
        const logs = await Promise.race([logsSoFar, delay(LOGS_ON_TIMEOUT_WAIT_MS, [] as LogRecord[])]);
        await this.kill();
        const timeout = failure('timeout', 'Timeout', `main() did not finish within the function's timeout of ${request.timeoutMs / 1000} s; its container was killed`, wallMs());
        return { ...timeout, logs };
      }
      if (ended === 'output-limit') {
        await this.kill();
        return failure('failed', 'OutputLimitExceeded', `The function wrote more than ${this.outputCap} bytes of output; its container was killed`, wallMs());
      }
      if (ended === 'exited') return await this.whyItExited(wallMs());
      if (!leftNothingRunning(ended.message, this.limits.pidsLimit)) this.discarded = true;
      return toExecution(ended, this.limits.maxResponseBytes);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.current = undefined;
    }
  }

  private write(message: unknown): void {
    const line = `${JSON.stringify(message)}\n`;
    if (this.sink === undefined) this.unsent.push(line);
    else this.sink.write(line);
  }

  /** From now on lines go to `sink` (those written so far first); the listener is done with. */
  private speakOver(sink: Writable): void {
    this.sink = sink;
    for (const line of this.unsent) sink.write(line);
    this.unsent = [];
    void this.listener?.close();
  }

  private async kill(): Promise<void> {
    this.discarded = true;
    await this.container.kill().catch(() => undefined);
  }

  private onOutput(chunk: Buffer): void {
    if (this.discarded) return;
    this.received += chunk.length;
    if (this.received > this.outputCap) {
      this.discarded = true;
      this.buffered = '';
      if (this.current) this.current.settle('output-limit');
      else void this.kill();
      return;
    }
    // The runtime's lines are pure ASCII: decoding chunk by chunk never splits a character.
    this.buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      const message = parseMessage(line);
      if (message?.type === 'ready') {
        const protocol = typeof message.protocol === 'number' ? message.protocol : 0;
        // It could have connected, had a socket been there: removed, or the Docker host does not see the folder.
        if (this.listener !== undefined && this.sink === this.stream && protocol >= CHANNEL_PROTOCOL) this.limits.onChannelFallback?.(this.channelRemoved ? 'removed' : 'not-seen');
        this.resolveReady({ acceptsInit: protocol >= INIT_PROTOCOL });
      } else if (this.current !== undefined && message?.id === this.current.id) {
        if (message.type === 'result') this.current.settle({ message: message as unknown as ResultMessage, lineLength: line.length });
        else if (message.type === 'log') {
          const record = asLogRecord(message.record);
          if (record !== undefined) this.current.log?.(record);
        }
        else if (message.type === 'logs') this.current.logs(Array.isArray(message.logs) ? (message.logs as LogRecord[]) : []);
        else if (message.type === 'call') {
          // A call and its reply are consumed, not kept: they do not count toward the output cap.
          this.received -= line.length + 1;
          void this.answer(this.current, message);
        }
      }
    }
  }

  /** Answers one `call` line of the request under way, unless that request ended meanwhile. */
  private async answer(pending: Pending, message: Record<string, unknown>): Promise<void> {
    const { call: number, service, method, args } = message;
    let reply: Record<string, unknown>;
    if (typeof service !== 'string' || typeof method !== 'string' || (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args)))) {
      reply = { error: { type: 'InvalidCall', message: 'a call needs a string service and method, and its args as an object' } };
    } else if (pending.call === undefined) {
      reply = { error: { type: 'CallUnavailable', message: `this runner offers no service \`${service}\` to this request` } };
    } else {
      try {
        const result = await pending.call({ service, method, args: (args ?? {}) as Record<string, unknown> });
        reply = { result: result ?? null };
      } catch (error) {
        const known = error instanceof FunctionCallError;
        reply = { error: { type: known ? error.type : 'PlatformError', message: (error as Error).message } };
      }
    }
    if (this.current !== pending) return;
    this.write({ type: 'reply', call: number, ...reply });
  }

  private onExit(): void {
    this.discarded = true;
    this.rejectReady(new PrataiError('ServiceUnavailable', `The container ${this.id} ended before its runtime was ready: ${this.stderrText.trim().split('\n').at(-1) ?? ''}`));
    this.current?.settle('exited');
  }

  /**
   * The container ended without answering. Docker's final state says why: its memory limit
   * (OOMKilled), or the runtime's own end (the function called os._exit, crashed the
   * interpreter): outcomes of the function. A container gone (removed from outside), killed from
   * outside (SIGKILL without OOMKilled: `docker kill`, another runner reaping it) or whose engine
   * cannot say is no fault of the function: a platform failure, thrown.
   */
  private async whyItExited(wallMs: number): Promise<Execution> {
    // The attachment may end a moment before the engine has recorded the exit.
    await Promise.race([this.container.wait({ condition: 'not-running' }).catch(() => undefined), delay(EXIT_STATE_WAIT_MS, undefined)]);
    let state: Docker.ContainerInspectInfo['State'];
    try {
      state = (await this.container.inspect()).State;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) {
        throw new PrataiError('ServiceUnavailable', `The container ${this.id} vanished while it ran the request (removed from outside the runner)`, { cause: error });
      }
      throw platformError(`inspect of the ended container ${this.id}`, error);
    }
    if (state.OOMKilled) {
      return failure('failed', 'MemoryLimitExceeded', `The function used more than its ${this.size.memoryMiB} MiB of memory and was killed`, wallMs);
    }
    if (state.Running || state.ExitCode === 137) {
      const how = state.Running ? 'its runtime stopped answering while Docker reports it running' : 'it was killed (SIGKILL, exit 137) from outside the runner, not for its memory';
      throw new PrataiError('ServiceUnavailable', `The container ${this.id} ended before the request's result: ${how}`);
    }
    const tail = this.stderrText.trim().split('\n').slice(-20).join('\n');
    return failure('failed', 'ContainerExited', `The function's container exited with code ${state.ExitCode} before main() returned${tail ? `: ${tail.split('\n').at(-1)}` : ''}`, wallMs, tail);
  }
}

/**
 * Whether main left nothing running that could weigh on the next request: no other process
 * (a fork bomb that gave up, a daemon it started), and fewer threads than half the pids limit.
 * A runtime that does not report it (an image built on an older runtime) gets no second request.
 */
function leftNothingRunning(result: ResultMessage, pidsLimit: number): boolean {
  const { processes, threads } = result.leftover ?? {};
  return processes === 0 && typeof threads === 'number' && threads < pidsLimit / 2;
}

/**
 * A streamed record as the runtime sent it, when it has a record's shape. The function shares the
 * runtime's process and could write to the channel itself: what it sends is checked, not trusted.
 */
function asLogRecord(value: unknown): LogRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { time, level, source, message } = value as Record<string, unknown>;
  if (typeof time !== 'string' || typeof level !== 'string' || typeof source !== 'string' || typeof message !== 'string') return undefined;
  return { time, level, source, message };
}

function parseMessage(line: string): Record<string, unknown> | undefined {
  try {
    const message = JSON.parse(line) as unknown;
    return typeof message === 'object' && message !== null ? (message as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How much longer the response's JSON may be written here than in its line: the runtime escapes
 * every non-ASCII character (6 bytes, at most 3 here) but writes a float such as 1e+20 in 5
 * characters where JSON.stringify writes 21.
 */
const MAX_JSON_GROWTH = 5;

function toExecution({ message, lineLength }: Result, maxResponseBytes: number): Execution {
  const logs = Array.isArray(message.logs) ? message.logs : [];
  const durationMs = typeof message.duration_ms === 'number' ? message.duration_ms : 0;
  if (message.status === 'succeeded') {
    // Measured only when it could be too large: a short line cannot hold too large a response.
    const size = lineLength * MAX_JSON_GROWTH <= maxResponseBytes ? 0 : Buffer.byteLength(JSON.stringify(message.response ?? null));
    if (size > maxResponseBytes) {
      return { ...failure('failed', 'ResponseTooLarge', `main() returned ${size} bytes of JSON; the limit is ${maxResponseBytes}`, durationMs), logs };
    }
    return { status: 'succeeded', response: message.response ?? null, error: null, logs, durationMs };
  }
  const error = message.error ?? { type: 'UnknownError', message: 'The runtime reported a failure without details', traceback: '' };
  return { status: 'failed', response: null, error, logs, durationMs };
}

export function failure(status: 'failed' | 'timeout' | 'cancelled', type: string, message: string, durationMs: number, traceback = ''): Execution {
  return { status, response: null, error: { type, message, traceback }, logs: [], durationMs };
}
