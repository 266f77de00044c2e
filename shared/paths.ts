/** Where things live by default, shared by `cleaver serve` and the SDK so they find each other. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CleaverError, toError } from './errors.ts';

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
      throw new CleaverError('BAD_REQUEST', `invalid address ${JSON.stringify(address)}: expected tcp://HOST:PORT with a port from 1 to 65535`);
    }
    return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port };
  }
  if (address.includes('://')) {
    throw new CleaverError('BAD_REQUEST', `invalid address ${JSON.stringify(address)}: use unix:///path/to/engine.sock or tcp://HOST:PORT`);
  }
  return { kind: 'unix', path: address };
}

/**
 * Parses the engines a client or worker may use, in order of preference: a comma-separated string
 * (`CLEAVER_ADDRESS=unix:///a.sock,tcp://b:7077`) or a list. Entries are trimmed and repeats dropped;
 * an empty list, an empty entry or a malformed one is an error that names the entry.
 */
export function parseAddresses(addresses: string | readonly string[]): EngineAddress[] {
  const entries = typeof addresses === 'string' ? addresses.split(',') : [...addresses];
  if (entries.length === 0) throw new CleaverError('BAD_REQUEST', 'no engine address given: pass at least one, e.g. unix:///path/to/engine.sock or tcp://HOST:PORT');
  const parsed = new Map<string, EngineAddress>();
  entries.forEach((entry, i) => {
    const where = entries.length > 1 ? `address ${i + 1} of ${entries.length} in ${JSON.stringify(addresses)}` : 'the address';
    if (typeof entry !== 'string' || entry.trim() === '') {
      throw new CleaverError('BAD_REQUEST', `${where} is empty; separate engine addresses with single commas, e.g. unix:///a.sock,tcp://HOST:PORT`);
    }
    try {
      const address = parseAddress(entry.trim());
      parsed.set(formatAddress(address), address);
    } catch (e: unknown) {
      throw new CleaverError('BAD_REQUEST', entries.length > 1 ? `${where}: ${toError(e).message}` : toError(e).message, { cause: e });
    }
  });
  return [...parsed.values()];
}

export function formatAddress(address: EngineAddress): string {
  return address.kind === 'unix' ? `unix://${address.path}` : `tcp://${address.host}:${address.port}`;
}
