/**
 * DockerContainerRuntime: the ContainerRuntime port over dockerode.
 *
 * Every function container is hardened the same way (see hostConfig): non-root, no capabilities,
 * no-new-privileges, read-only root with a small tmpfs, a pids limit, memory equal to memory+swap,
 * a CPU quota, and no network: only the containers of a function that asks for network join the
 * one the operator named (`[runner] network`), and none at all when that is `none`. The runtime
 * program inside speaks the line protocol of runtimes/README.md over a Unix socket of the runner
 * (runner/channel.ts) or the container's stdin/stdout, held open by a DockerContainer for as long
 * as the container lives.
 */
import { copyFile, mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { hasRequirements, type BuildResult, type Container, type ContainerRuntime, type ContainerSpec, type ImageBuild, type RunnerLiveness } from './container-runtime.js';
import { ChannelListener, channelConfig } from './channel.js';
import { DockerContainer, platformError, resources, type ChannelFallbackCause } from './docker-container.js';

export interface DockerOptions {
  socketPath: string;
  /** The runner's id: labels every container and names its channels' folder, so that what it leaves can be told from a live runner's. */
  runnerId: string;
  /**
   * Labels every container with the database its runner reports to (a digest of its URL): only
   * there can a runner see whether another is alive, so it never removes containers of another
   * deployment that shares the Docker engine.
   */
  deployment: string;
  /** Docker network joined by the containers of functions that ask for network; `none` (the default): no container gets one. */
  network: string;
  pidsLimit: number;
  tmpfsMiB: number;
  maxLogBytes: number;
  maxResponseBytes: number;
  /**
   * Folder (as the Docker host sees it) where each container's channel socket is made
   * (runner/channel.ts); undefined: no sockets, every runtime speaks over stdin/stdout.
   */
  channelRoot?: string;
  /** Where the adapter says what an operator should know (once): the runner's log. */
  warn?: (message: string) => void;
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
const LABEL_DEPLOYMENT = 'pratai.deployment';
const LABEL_FUNCTION = 'pratai.function_id';
const LABEL_PREWARMED = 'pratai.prewarmed';

export class DockerContainerRuntime implements ContainerRuntime {
  private readonly docker: Docker;
  /** The causes of a channel fallback already told to the operator: each is told once. */
  private readonly fallbackWarned = new Set<ChannelFallbackCause>();

  constructor(private readonly options: DockerOptions) {
    this.docker = new Docker({ socketPath: options.socketPath });
  }

  get networkAvailable(): boolean {
    return this.options.network !== 'none';
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

  async removeFunctionImages(functionId: string, keepTags: readonly string[] = []): Promise<number> {
    try {
      const images = await this.docker.listImages({ filters: { label: [`${LABEL_FUNCTION}=${functionId}`] } });
      const doomed = images.filter((image) => !(image.RepoTags ?? []).some((tag) => keepTags.includes(tag)));
      for (const image of doomed) await this.docker.getImage(image.Id).remove({ force: true });
      return doomed.length;
    } catch (error) {
      throw platformError('image remove', error);
    }
  }

  async reapContainers(liveness: () => Promise<RunnerLiveness>): Promise<number> {
    const { channelRoot } = this.options;
    let containers: Docker.ContainerInfo[];
    try {
      containers = await this.docker.listContainers({ all: true, filters: { label: [LABEL_RUNNER] } });
    } catch (error) {
      throw platformError('container list', error);
    }
    const alive = await liveness();
    let reaped: number;
    try {
      const doomed = containers.filter((c) => this.leftBehind(c.Labels, alive));
      await Promise.all(
        doomed.map((c) =>
          this.docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch((error: unknown) => {
              // Removed meanwhile (by its runner's last moments, or another runner reaping too).
              if ((error as { statusCode?: number }).statusCode !== 404 && (error as { statusCode?: number }).statusCode !== 409) throw error;
            }),
        ),
      );
      reaped = doomed.length;
      // Channels' folders of dead runners, left when they ended before a runtime connected.
      if (channelRoot !== undefined) {
        const folders = await readdir(channelRoot).catch(() => [] as string[]);
        await Promise.all(folders.filter((folder) => alive(folder) === 'dead').map((folder) => ChannelListener.removeAll(channelRoot, folder).catch(() => undefined)));
      }
    } catch (error) {
      throw platformError('container cleanup', error);
    }
    return reaped;
  }

  /**
   * Whether a container was left by a runner no longer alive: one of this deployment whose runner
   * is dead or unknown to its database, or one made before containers carried their deployment
   * whose runner this database knows dead. Another deployment's containers are never touched.
   */
  private leftBehind(labels: Record<string, string>, alive: RunnerLiveness): boolean {
    const runner = labels[LABEL_RUNNER];
    const deployment = labels[LABEL_DEPLOYMENT];
    if (runner === undefined || (deployment !== undefined && deployment !== this.options.deployment)) return false;
    const verdict = alive(runner);
    return verdict === 'dead' || (verdict === 'unknown' && deployment !== undefined);
  }

  async close(): Promise<void> {
    if (this.options.channelRoot !== undefined) await ChannelListener.removeAll(this.options.channelRoot, this.options.runnerId).catch(() => undefined);
  }

  async start(spec: ContainerSpec): Promise<Container> {
    const { maxLogBytes, maxResponseBytes, pidsLimit, channelRoot, runnerId } = this.options;
    const listener = channelRoot === undefined ? undefined : await ChannelListener.open(channelRoot, runnerId);
    try {
      const onChannelFallback = (cause: ChannelFallbackCause): void => this.channelFallback(cause, listener);
      return await DockerContainer.start(this.docker, this.containerConfig(spec, listener), { maxLogBytes, maxResponseBytes, pidsLimit, onChannelFallback }, spec, listener);
    } catch (error) {
      await listener?.close();
      throw error;
    }
  }

  private channelFallback(cause: ChannelFallbackCause, listener: ChannelListener | undefined): void {
    if (this.fallbackWarned.has(cause)) return;
    this.fallbackWarned.add(cause);
    const root = this.options.channelRoot ?? '';
    this.options.warn?.(
      cause === 'removed' ?
        `a function container speaks over stdin/stdout through the Docker engine, not over its channel socket: its channel folder (${listener?.folder ?? root}) was removed from under this runner before the runtime connected; something else removes folders in ${join(root, this.options.runnerId)} (another process running as runner ${this.options.runnerId}?)`
      : `function containers speak over stdin/stdout through the Docker engine, not over their channel sockets: the Docker host does not see [runner] channel_dir (${root}) at the same path; mount it there (docs/deployment.md) for the faster path`,
    );
  }

  /** The create options of a hardened container for `spec`, whose runtime is told of `listener`'s socket. */
  containerConfig(spec: ContainerSpec, listener: ChannelListener | undefined): Docker.ContainerCreateOptions {
    const { functionId } = spec;
    const labels: Record<string, string> = { [LABEL_MANAGED]: 'true', [LABEL_RUNNER]: this.options.runnerId, [LABEL_DEPLOYMENT]: this.options.deployment };
    const channel = channelConfig(listener);
    const env = [`PRATAI_MAX_LOG_BYTES=${this.options.maxLogBytes}`, ...channel.env];
    if (functionId === undefined) {
      // A prewarmed container: its runtime waits for an init message carrying the function.
      labels[LABEL_PREWARMED] = 'true';
      env.push('PRATAI_AWAIT_INIT=1');
    } else {
      labels[LABEL_FUNCTION] = functionId;
      env.push(`PRATAI_FUNCTION_ID=${functionId}`);
    }
    const network = this.networkOf(spec);
    return {
      Image: spec.image,
      Labels: labels,
      Env: env,
      User: '65534:65534',
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      OpenStdin: true,
      StdinOnce: true,
      Tty: false,
      NetworkDisabled: network === 'none',
      HostConfig: {
        ...resources(spec),
        NetworkMode: network,
        PidsLimit: this.options.pidsLimit,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${this.options.tmpfsMiB}m` },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        IpcMode: 'none',
        LogConfig: { Type: 'none', Config: {} },
        Binds: channel.binds,
      },
    };
  }

  /**
   * The operator's network for a container of a function that asks for it, when there is one;
   * `none` for every other container, whatever the operator configured. (The runner fails the
   * requests of a function that asks for network where there is none before they get here.)
   */
  private networkOf(spec: ContainerSpec): string {
    return spec.network && this.networkAvailable ? this.options.network : 'none';
  }
}
