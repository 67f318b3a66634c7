/**
 * The channel between the runner and the runtime in one container: a Unix socket the runner
 * listens on, in a folder of its own mounted read-only into that container only
 * (runtimes/README.md, PRATAI_SOCKET). The runtime connects first thing; the runner takes that one
 * connection and removes the socket and its folder. Lines then go straight between the two
 * processes, where over stdin/stdout each one passes through the Docker engine and its shim.
 *
 * Where no socket can be made (a path too long for one, a folder that cannot be written), there
 * is no channel and the runtime speaks over stdin/stdout, as it also does when its image holds a
 * runtime older than the socket or the Docker host does not see the runner's folder.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/** Where the folder is mounted in the container. */
export const CHANNEL_MOUNT = '/run/pratai';
const SOCKET_NAME = 'channel.sock';
/** Longest path a Unix socket takes on Linux (108 bytes with its terminating NUL). */
const MAX_SOCKET_PATH = 107;

export class ChannelListener {
  /** The runtime's connection, once it has connected. */
  readonly connected: Promise<Socket>;
  private closed = false;

  private constructor(
    /** The folder to mount at CHANNEL_MOUNT. */
    readonly folder: string,
    private readonly server: Server,
  ) {
    this.connected = new Promise((resolve) => {
      server.once('connection', (socket) => {
        // One connection: nobody else (the function, later) gets the runner's ear.
        void this.close();
        resolve(socket);
      });
    });
  }

  /**
   * Listens in a new folder under `root/runnerId` (made if missing, root's only: no other user
   * of the host reaches the socket); undefined where no socket can be made there.
   */
  static async open(root: string, runnerId: string): Promise<ChannelListener | undefined> {
    const parent = join(root, runnerId);
    if (join(parent, 'XXXXXX', SOCKET_NAME).length > MAX_SOCKET_PATH) return undefined;
    let folder: string | undefined;
    try {
      await mkdir(parent, { recursive: true, mode: 0o700 });
      folder = await mkdtemp(join(parent, 'c-'));
      // The container's user (65534) goes into the folder and connects to the socket.
      await chmod(folder, 0o755);
      const server = createServer();
      const path = join(folder, SOCKET_NAME);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
      // A failure to accept later (out of file descriptors) leaves the runtime unconnected: it
      // then speaks over stdin/stdout, or its request times out; never the runner's end.
      server.on('error', () => undefined);
      await chmod(path, 0o777);
      return new ChannelListener(folder, server);
    } catch {
      if (folder !== undefined) await rm(folder, { recursive: true, force: true });
      return undefined;
    }
  }

  /** Every channel folder of a runner: its own at a clean stop, or what a dead runner left. */
  static async removeAll(root: string, runnerId: string): Promise<void> {
    await rm(join(root, runnerId), { recursive: true, force: true });
  }

  /** Whether something else removed the socket (its folder) while the runner still listened on it. */
  removedFromUnder(): boolean {
    return !this.closed && !existsSync(join(this.folder, SOCKET_NAME));
  }

  /** Stops listening and removes the folder (the container keeps its mount of it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    await rm(this.folder, { recursive: true, force: true });
  }
}

/** The environment variable and mount that give a container its channel. */
export function channelConfig(listener: ChannelListener | undefined): { env: string[]; binds: string[] } {
  if (listener === undefined) return { env: [], binds: [] };
  return { env: [`PRATAI_SOCKET=${CHANNEL_MOUNT}/${SOCKET_NAME}`], binds: [`${listener.folder}:${CHANNEL_MOUNT}:ro`] };
}
