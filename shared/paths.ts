/** Where things live by default, shared by `cleaver serve` and the SDK so they find each other. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  return env.CLEAVER_DATA_DIR && env.CLEAVER_DATA_DIR.length > 0 ? env.CLEAVER_DATA_DIR : join(homedir(), '.cleaver');
}

/** The engine's local socket in a data dir: a Unix domain socket, or a named pipe on Windows. */
export function defaultSocketPath(dataDir: string, platform: string = process.platform): string {
  if (platform === 'win32') return `\\\\.\\pipe\\cleaver-${dataDir.replace(/[^A-Za-z0-9]/g, '-')}`;
  return join(dataDir, 'engine.sock');
}

export type EngineAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses `unix:///path`, `tcp://host:port` (or a bare socket path). */
export function parseAddress(address: string): EngineAddress {
  if (address.startsWith('unix://')) return { kind: 'unix', path: address.slice('unix://'.length) };
  if (address.startsWith('tcp://')) {
    const url = new URL(address);
    const port = Number(url.port);
    if (!url.hostname || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`invalid address ${JSON.stringify(address)}: expected tcp://HOST:PORT with a port from 1 to 65535`);
    }
    return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port };
  }
  if (address.includes('://')) {
    throw new Error(`invalid address ${JSON.stringify(address)}: use unix:///path/to/engine.sock or tcp://HOST:PORT`);
  }
  return { kind: 'unix', path: address };
}

export function formatAddress(address: EngineAddress): string {
  return address.kind === 'unix' ? `unix://${address.path}` : `tcp://${address.host}:${address.port}`;
}
