/**
 * DockerContainerRuntime: the ContainerRuntime port over dockerode.
 *
 * Every function container is hardened the same way (see hostConfig): non-root, no capabilities,
 * no-new-privileges, read-only root with a small tmpfs, a pids limit, memory equal to memory+swap,
 * a CPU quota, and no network unless the operator configured one. The runtime program inside
 * speaks the line protocol of runtimes/README.md on the container's stdin/stdout.
 */
import { copyFile, mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import type { LogRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import type { BuildResult, ContainerRuntime, Execution, ImageBuild, RunSpec } from './container-runtime.js';

export interface DockerOptions {
  socketPath: string;
  /** Labels every container, so a restarted runner can find and remove what it left. */
  runnerName: string;
  /** Docker network mode of function containers (`none` by default). */
  network: string;
  pidsLimit: number;
  tmpfsMiB: number;
  maxLogBytes: number;
  maxResponseBytes: number;
  build: {
    timeoutMs: number;
    network: string;
    pipIndexUrl: string;
    pipExtraIndexUrl: string;
    pipFindLinks: readonly string[];
    pipNoIndex: boolean;
  };
}

const LABEL_MANAGED = 'pratai.managed';
const LABEL_RUNNER = 'pratai.runner';
const LABEL_FUNCTION = 'pratai.function_id';
/** Room for the protocol's own framing on top of logs and response. */
const PROTOCOL_OVERHEAD_BYTES = 64 * 1024;
const STDERR_KEEP_BYTES = 16 * 1024;
/** How long a timed-out function's runtime gets to hand over its logs before the kill. */
const LOGS_ON_TIMEOUT_WAIT_MS = 500;

const delay = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());

interface ResultMessage {
  type: 'result';
  id: string;
  status: 'succeeded' | 'failed';
  response?: unknown;
  error?: Execution['error'];
  logs?: LogRecord[];
  duration_ms?: number;
}

function platformError(action: string, error: unknown): PrataiError {
  return new PrataiError('ServiceUnavailable', `Docker ${action} failed: ${(error as Error).message}`, { cause: error });
}

/** Whether a requirements.txt asks for anything (comments and blank lines do not). */
export const hasRequirements = (requirements: string): boolean =>
  requirements.split('\n').some((line) => line.replace(/#.*/, '').trim() !== '');

export class DockerContainerRuntime implements ContainerRuntime {
  private readonly docker: Docker;

  constructor(private readonly options: DockerOptions) {
    this.docker = new Docker({ socketPath: options.socketPath });
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      throw platformError('ping', error);
    }
  }

  async hasImage(tag: string): Promise<boolean> {
    try {
      await this.docker.getImage(tag).inspect();
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      throw platformError('image inspect', error);
    }
  }

  async presentImages(tags: readonly string[]): Promise<string[]> {
    const present = await Promise.all(tags.map(async (tag) => ((await this.hasImage(tag)) ? tag : undefined)));
    return present.filter((tag): tag is string => tag !== undefined);
  }

  async buildImage(build: ImageBuild): Promise<BuildResult> {
    const context = await mkdtemp(join(tmpdir(), 'pratai-build-'));
    try {
      const files = await this.writeBuildContext(context, build);
      let stream: NodeJS.ReadableStream;
      try {
        stream = await this.docker.buildImage(
          { context, src: files },
          { t: build.tag, networkmode: this.options.build.network, rm: true, forcerm: true, abortSignal: AbortSignal.timeout(this.options.build.timeoutMs) },
        );
      } catch (error) {
        throw platformError('build', error);
      }
      return await this.followBuild(stream);
    } finally {
      await rm(context, { recursive: true, force: true });
    }
  }

  private async writeBuildContext(context: string, build: ImageBuild): Promise<string[]> {
    const { pipIndexUrl, pipExtraIndexUrl, pipFindLinks, pipNoIndex } = this.options.build;
    await writeFile(join(context, 'new_module.py'), build.code.module);
    await writeFile(join(context, 'requirements.txt'), build.code.requirements);
    const files = ['Dockerfile', 'new_module.py', 'requirements.txt'];
    const labels = `LABEL ${LABEL_MANAGED}="true" ${LABEL_FUNCTION}="${build.functionId}" pratai.code_sha256="${build.codeSha256}"`;
    const lines = [`FROM ${build.runtimeImage}`, labels, 'COPY new_module.py requirements.txt /opt/pratai/function/'];
    if (hasRequirements(build.code.requirements)) {
      // Dependencies are installed in a stage of their own, so wheels offered to pip never reach
      // the function's image.
      const pip = ['python3', '-m', 'pip', 'install', '--no-cache-dir', '--disable-pip-version-check', '--no-warn-script-location', '--target', '/opt/pratai/deps', '-r', '/tmp/requirements.txt'];
      if (pipNoIndex) pip.push('--no-index');
      if (pipIndexUrl) pip.push('--index-url', pipIndexUrl);
      if (pipExtraIndexUrl) pip.push('--extra-index-url', pipExtraIndexUrl);
      await mkdir(join(context, 'wheels'));
      await writeFile(join(context, 'wheels', '.keep'), '');
      files.push('wheels/.keep');
      for (const folder of pipFindLinks) {
        for (const name of await readdir(folder)) {
          if (!/\.(whl|tar\.gz|zip)$/.test(name)) continue;
          await copyFile(join(folder, name), join(context, 'wheels', name));
          files.push(`wheels/${name}`);
        }
      }
      if (pipFindLinks.length > 0) pip.push('--find-links', '/tmp/wheels');
      lines.splice(
        0,
        0,
        `FROM ${build.runtimeImage} AS deps`,
        'USER 0',
        'COPY requirements.txt /tmp/requirements.txt',
        'COPY wheels/ /tmp/wheels/',
        `RUN ${JSON.stringify(pip)}`,
        '',
      );
      lines.push('COPY --from=deps /opt/pratai/deps /opt/pratai/deps');
    }
    await writeFile(join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
    return files;
  }

  private followBuild(stream: NodeJS.ReadableStream): Promise<BuildResult> {
    return new Promise((resolve) => {
      let log = '';
      this.docker.modem.followProgress(
        stream,
        (error: Error | null) => {
          if (error) resolve({ ok: false, log: `${log}\n${error.message}`.trim() });
          else resolve({ ok: true, log });
        },
        (event: { stream?: string; error?: string; errorDetail?: { message?: string } }) => {
          if (event.stream) log += event.stream;
          if (event.error) log += `${event.errorDetail?.message ?? event.error}\n`;
        },
      );
    }).then((result) => {
      const { ok, log } = result as BuildResult;
      // The classic builder reports a failed RUN as an error event, not a stream error.
      return { ok: ok && !/returned a non-zero code|^error/im.test(log.split('\n').slice(-3).join('\n')), log };
    });
  }

  async removeFunctionImages(functionId: string, keepTag?: string): Promise<number> {
    try {
      const images = await this.docker.listImages({ filters: { label: [`${LABEL_FUNCTION}=${functionId}`] } });
      const doomed = images.filter((image) => keepTag === undefined || !(image.RepoTags ?? []).includes(keepTag));
      for (const image of doomed) await this.docker.getImage(image.Id).remove({ force: true });
      return doomed.length;
    } catch (error) {
      throw platformError('image remove', error);
    }
  }

  async reapContainers(): Promise<number> {
    try {
      const containers = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL_RUNNER}=${this.options.runnerName}`] } });
      await Promise.all(containers.map((c) => this.docker.getContainer(c.Id).remove({ force: true })));
      return containers.length;
    } catch (error) {
      throw platformError('container cleanup', error);
    }
  }

  async run(spec: RunSpec): Promise<Execution> {
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(this.containerConfig(spec));
    } catch (error) {
      throw platformError('container create', error);
    }
    try {
      return await this.execute(container, spec);
    } finally {
      // Force removal also kills: whatever the function left running dies with its container.
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  private containerConfig(spec: RunSpec): Docker.ContainerCreateOptions {
    const memoryBytes = spec.memoryMiB * 1024 * 1024;
    return {
      Image: spec.image,
      Labels: { [LABEL_MANAGED]: 'true', [LABEL_RUNNER]: this.options.runnerName, [LABEL_FUNCTION]: spec.functionId, 'pratai.request_id': spec.requestId },
      Env: [`PRATAI_MAX_LOG_BYTES=${this.options.maxLogBytes}`, `PRATAI_FUNCTION_ID=${spec.functionId}`, `PRATAI_REQUEST_ID=${spec.requestId}`],
      User: '65534:65534',
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      OpenStdin: true,
      StdinOnce: true,
      Tty: false,
      NetworkDisabled: this.options.network === 'none',
      HostConfig: {
        NetworkMode: this.options.network,
        Memory: memoryBytes,
        MemorySwap: memoryBytes,
        NanoCpus: Math.round(spec.cpus * 1e9),
        PidsLimit: this.options.pidsLimit,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${this.options.tmpfsMiB}m` },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        IpcMode: 'none',
        LogConfig: { Type: 'none', Config: {} },
      },
    };
  }

  private async execute(container: Docker.Container, spec: RunSpec): Promise<Execution> {
    let stream: NodeJS.ReadWriteStream;
    try {
      stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }));
    } catch (error) {
      throw platformError('container attach', error);
    }
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.docker.modem.demuxStream(stream, stdout, stderr);
    let stderrText = '';
    stderr.on('data', (chunk: Buffer) => {
      if (stderrText.length < STDERR_KEEP_BYTES) stderrText += chunk.toString('utf8');
    });

    const started = performance.now();
    const wallMs = (): number => Math.round(performance.now() - started);
    const outputCap = this.options.maxLogBytes + this.options.maxResponseBytes + PROTOCOL_OVERHEAD_BYTES;

    // On a timeout the runtime is asked (SIGUSR1) for the logs written so far, sent as a `logs` message.
    let resolveLogs: (logs: LogRecord[]) => void = () => undefined;
    const logsSoFar = new Promise<LogRecord[]>((resolve) => (resolveLogs = resolve));
    const result = new Promise<Execution | 'exited' | 'output-limit'>((resolve) => {
      let buffered = '';
      let received = 0;
      stdout.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > outputCap) {
          resolve('output-limit');
          return;
        }
        buffered += chunk.toString('utf8');
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          const message = parseMessage(line);
          if (message?.id !== spec.requestId) continue;
          if (message.type === 'result') resolve(toExecution(message as ResultMessage, this.options.maxResponseBytes));
          else if (message.type === 'logs') resolveLogs(Array.isArray((message as { logs?: unknown }).logs) ? (message as { logs: LogRecord[] }).logs : []);
        }
      });
      // demuxStream does not end its outputs: the end of the attached stream is the exit.
      stream.on('end', () => resolve('exited'));
      stream.on('close', () => resolve('exited'));
    });

    try {
      await container.start();
    } catch (error) {
      throw platformError('container start', error);
    }
    stream.write(`${JSON.stringify({ type: 'run', id: spec.requestId, payload: spec.payload })}\n`);

    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), spec.timeoutMs);
    });
    const cancelled = new Promise<'cancelled'>((resolve) => {
      if (spec.signal?.aborted) resolve('cancelled');
      spec.signal?.addEventListener('abort', () => resolve('cancelled'), { once: true });
    });
    const ended = await Promise.race([result, timedOut, cancelled]);
    clearTimeout(timer);
    stream.end();

    if (ended === 'cancelled') {
      await container.kill().catch(() => undefined);
      return failure('cancelled', 'Cancelled', 'The request was cancelled while it ran; its container was killed', wallMs());
    }
    if (ended === 'timeout') {
      await container.kill({ signal: 'SIGUSR1' }).catch(() => undefined);
      const logs = await Promise.race([logsSoFar, delay(LOGS_ON_TIMEOUT_WAIT_MS, [] as LogRecord[])]);
      await container.kill().catch(() => undefined);
      const timedOut = failure('timeout', 'Timeout', `main() did not finish within the function's timeout of ${spec.timeoutMs / 1000} s; its container was killed`, wallMs());
      return { ...timedOut, logs };
    }
    if (ended === 'output-limit') {
      await container.kill().catch(() => undefined);
      return failure('failed', 'OutputLimitExceeded', `The function wrote more than ${outputCap} bytes of output; its container was killed`, wallMs());
    }
    if (ended !== 'exited') return ended;

    // The container ended without answering: find out why.
    const state = await container.inspect().then((info) => info.State).catch(() => undefined);
    if (state?.OOMKilled || state?.ExitCode === 137) {
      return failure('failed', 'MemoryLimitExceeded', `The function used more than its ${spec.memoryMiB} MiB of memory and was killed`, wallMs());
    }
    const tail = stderrText.trim().split('\n').slice(-20).join('\n');
    return failure('failed', 'ContainerExited', `The function's container exited with code ${state?.ExitCode ?? 'unknown'} before main() returned${tail ? `: ${tail.split('\n').at(-1)}` : ''}`, wallMs(), tail);
  }
}

function parseMessage(line: string): { type?: string; id?: string } | undefined {
  try {
    const message = JSON.parse(line) as unknown;
    return typeof message === 'object' && message !== null ? (message) : undefined;
  } catch {
    return undefined;
  }
}

function toExecution(message: ResultMessage, maxResponseBytes: number): Execution {
  const logs = Array.isArray(message.logs) ? message.logs : [];
  const durationMs = typeof message.duration_ms === 'number' ? message.duration_ms : 0;
  if (message.status === 'succeeded') {
    const size = Buffer.byteLength(JSON.stringify(message.response ?? null));
    if (size > maxResponseBytes) {
      return { ...failure('failed', 'ResponseTooLarge', `main() returned ${size} bytes of JSON; the limit is ${maxResponseBytes}`, durationMs), logs };
    }
    return { status: 'succeeded', response: message.response ?? null, error: null, logs, durationMs };
  }
  const error = message.error ?? { type: 'UnknownError', message: 'The runtime reported a failure without details', traceback: '' };
  return { status: 'failed', response: null, error, logs, durationMs };
}

function failure(status: 'failed' | 'timeout' | 'cancelled', type: string, message: string, durationMs: number, traceback = ''): Execution {
  return { status, response: null, error: { type, message, traceback }, logs: [], durationMs };
}
