/**
 * Listeners for workers and clients: the local socket (private to the user: 0600 in a 0700 directory)
 * and, optionally, TCP (which requires a token in the handshake).
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { CleaverError } from '../../shared/errors.ts';

export interface Listener {
  readonly description: string;
  readonly requiresToken: boolean;
  close(): Promise<void>;
}

/**
 * Creates the socket's directory 0700 (tightening it when we own it) and refuses one others can enter.
 * A shared directory (sticky bit: /tmp and its like) is never tightened, even when we own it — run as
 * root, tightening /tmp would lock every other user and service out of it.
 */
function preparePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = statSync(dir);
  if ((stat.mode & 0o1000) !== 0) {
    throw new CleaverError('CONNECTION', `socket directory ${dir} is a shared directory (sticky bit, like /tmp); put the socket in a directory of its own, e.g. --socket ${dir}/cleaver/engine.sock`);
  }
  if ((stat.mode & 0o077) !== 0) {
    if (typeof process.getuid === 'function' && stat.uid === process.getuid()) chmodSync(dir, 0o700);
    else throw new CleaverError('CONNECTION', `socket directory ${dir} is accessible to other users and not ours to tighten; choose another --socket`);
  }
}

/** Resolves true when something accepts connections at the path (a live engine). */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (alive: boolean) => {
      socket.destroy();
      resolve(alive);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

export async function listenLocal(path: string, onConnection: (socket: net.Socket) => void): Promise<Listener> {
  const isPipe = process.platform === 'win32';
  if (!isPipe) {
    preparePrivateDir(dirname(path));
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) {
        throw new CleaverError('CONNECTION', `${path} exists and is not a socket; remove it or choose another --socket`);
      }
      // Only a socket nobody answers on is stale; a live one means another engine owns this path.
      if (await probe(path)) {
        throw new CleaverError('CONNECTION', `another Cleaver engine is already listening on ${path}; stop it or choose another --socket`);
      }
      unlinkSync(path);
    }
  }
  const server = net.createServer({ noDelay: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (!isPipe) chmodSync(path, 0o600);
  return {
    description: isPipe ? path : `unix://${path}`,
    requiresToken: false,
    close: () => closeServer(server, isPipe ? undefined : path),
  };
}

export async function listenTcp(
  address: { host: string; port: number },
  onConnection: (socket: net.Socket) => void,
): Promise<Listener & { port: number }> {
  const server = net.createServer({ noDelay: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new CleaverError('CONNECTION', `cannot listen on tcp://${address.host}:${address.port}: ${e.message}`, { cause: e })),
    );
    server.listen(address.port, address.host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return { description: `tcp://${host}:${port}`, requiresToken: true, port, close: () => closeServer(server) };
}

async function closeServer(server: net.Server, socketPath?: string): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (socketPath) {
    try {
      unlinkSync(socketPath);
    } catch {
      // Already gone (closing the server may remove it): nothing to clean.
    }
  }
}
