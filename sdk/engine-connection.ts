/**
 * The SDK's connection to an engine: framing, handshake, request/reply, coalesced writes, and
 * failover between engines. It holds a list of engine addresses and uses one at a time; when a
 * connection attempt fails or a live connection drops, it moves to the next address at once (round
 * robin), and backs off only once a whole round has failed — so a worker whose engine dies reaches a
 * live one in milliseconds, well within the heartbeat timeout after which its attempts would be lost.
 *
 * Requests that are safe to repeat (awaiting a run) are re-sent after a reconnect; the others (a
 * trigger, which may or may not have been recorded) fail with a CONNECTION error that says so.
 *
 * Deadlines: a request may wait at most `requestTimeoutMs` for a connection — before it is sent, and
 * again after a drop for a repeatable one. Once written to a live connection it waits for its reply
 * without a deadline, because an await's reply comes only when the run ends, however long its tasks take.
 */
import net from 'node:net';
import { FrameDecoder, FrameWriter, encodeFrame } from '../shared/frame-codec.ts';
import { formatAddress, type EngineAddress } from '../shared/paths.ts';
import { DEFAULT_MAX_FRAME_BYTES, type ClientMessage, type EngineMessage, type HelloMessage, type WelcomeMessage } from '../shared/protocol.ts';
import { CleaverError, errorFromWire, toError, type WireError } from '../shared/errors.ts';

type RequestMessage = Extract<ClientMessage, { id: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type RequestBody = DistributiveOmit<RequestMessage, 'id'>;

interface PendingRequest {
  body: RequestBody;
  repeatable: boolean;
  resolve(data: unknown): void;
  reject(error: Error): void;
  /** Runs while the request waits for a connection; fails it when no engine answered in time. */
  deadline: NodeJS.Timeout | null;
  sent: boolean;
}

interface WelcomeWaiter {
  resolve(welcome: WelcomeMessage): void;
  reject(error: Error): void;
  deadline: NodeJS.Timeout;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** A peer that accepts the socket but never answers the hello (a stopped process) is skipped after this. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const FIRST_BACKOFF_MS = 100;
// At most 1 s: a worker must be back within the heartbeat timeout of its engine restarting to keep its attempts.
const MAX_BACKOFF_MS = 1_000;

export interface EngineConnectionOptions {
  /** The engines to use, in order of preference; at least one. */
  addresses: readonly EngineAddress[];
  token?: string;
  /** Built at every (re)connect, so a worker can report the attempts it holds. */
  hello: () => HelloMessage;
  onMessage?: (message: EngineMessage) => void;
  /** After every successful handshake, the first one included. */
  onWelcome?: (welcome: WelcomeMessage, reconnected: boolean) => void;
  onDisconnect?: (error: Error) => void;
  /** How long a request, or connect(), may wait for a connection before it fails (default 30 s). */
  requestTimeoutMs?: number;
  /**
   * Reconnect after a drop even when no request is waiting (workers, which the engine must be able to
   * reach). Clients reconnect only when they next need the engine, so an idle one holds no timers.
   */
  stayConnected?: boolean;
}

export class EngineConnection {
  private readonly o: EngineConnectionOptions;
  private readonly requestTimeoutMs: number;
  /** The socket being handshaken or in use. */
  private socket: net.Socket | null = null;
  private decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES });
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private welcomed = false;
  private everConnected = false;
  private closed = false;
  private writer: FrameWriter | null = null;
  private outbox: ClientMessage[] = [];
  /** Index into addresses of the engine to use (or try) next. */
  private current = 0;
  private loop: Promise<void> | null = null;
  private backoff: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  private welcomeWaiters: WelcomeWaiter[] = [];
  private lastError: Error | null = null;
  welcome: WelcomeMessage | null = null;

  constructor(options: EngineConnectionOptions) {
    if (options.addresses.length === 0) throw new CleaverError('BAD_REQUEST', 'an engine connection needs at least one address');
    this.o = options;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  get connected(): boolean {
    return this.welcomed;
  }

  /** Resolves once connected to an engine; fails after requestTimeoutMs without one. */
  connect(): Promise<WelcomeMessage> {
    if (this.closed) return Promise.reject(closedError());
    if (this.welcomed && this.welcome) return Promise.resolve(this.welcome);
    return new Promise<WelcomeMessage>((resolve, reject) => {
      const waiter: WelcomeWaiter = {
        resolve,
        reject,
        deadline: setTimeout(() => {
          this.welcomeWaiters = this.welcomeWaiters.filter((w) => w !== waiter);
          reject(this.unreachable({ unsentRequest: false }));
        }, this.requestTimeoutMs),
      };
      this.welcomeWaiters.push(waiter);
      this.ensureConnecting();
    });
  }

  /** Sends a request and resolves with the reply's data (or rejects with the engine's error). */
  request<T>(body: RequestBody, options: { repeatable: boolean }): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const p: PendingRequest = { body, repeatable: options.repeatable, resolve: resolve as (d: unknown) => void, reject, deadline: null, sent: false };
      this.pending.set(id, p);
      if (this.welcomed) this.sendPending(id, p);
      else this.awaitConnection(id, p);
    });
  }

  /** Fire-and-forget; kept (bounded) while reconnecting and sent after the next handshake. */
  send(message: ClientMessage): void {
    if (this.closed) return;
    if (this.welcomed) this.write(message);
    else if (this.outbox.length < 100_000) this.outbox.push(message);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.backoff) {
      clearTimeout(this.backoff.timer);
      this.backoff.wake();
    }
    this.failWaiting(new CleaverError('CONNECTION', 'the client was closed before the engine replied'));
    this.socket?.end();
    this.socket?.destroy();
    this.socket = null;
  }

  /** Whether anyone needs a connection now: otherwise a client stops retrying until its next request. */
  private wanted(): boolean {
    return !this.closed && (this.o.stayConnected === true || this.pending.size > 0 || this.welcomeWaiters.length > 0);
  }

  private ensureConnecting(): void {
    if (this.closed || this.welcomed || this.loop || !this.wanted()) return;
    this.loop = this.connectLoop().then((refused) => {
      this.loop = null;
      // The connection made by this loop may already have dropped (its onClosed found the loop still set).
      if (!refused) this.ensureConnecting();
    });
  }

  /**
   * Tries the addresses in turn from `current`, each at once after the previous one failed; sleeps
   * (doubling, up to MAX_BACKOFF_MS) only after a whole round failed, so that a dead engine costs a
   * failover one refused connection, not a backoff. Resolves true when an engine refused the handshake
   * for good (bad token, protocol version): what waited has failed with that error, and no retry follows.
   */
  private async connectLoop(): Promise<boolean> {
    const count = this.o.addresses.length;
    let failures = 0;
    let delay = FIRST_BACKOFF_MS;
    while (this.wanted()) {
      try {
        await this.connectOnce(this.o.addresses[this.current]!);
        return false;
      } catch (e: unknown) {
        const error = toError(e);
        this.lastError = error;
        if (refusedForGood(error)) {
          this.failWaiting(error);
          this.o.onDisconnect?.(error);
          return true;
        }
        this.current = (this.current + 1) % count;
        failures += 1;
        if (failures % count === 0) {
          await this.sleep(delay);
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);
        }
      }
    }
    return false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        this.backoff = null;
        resolve();
      };
      this.backoff = { timer: setTimeout(wake, ms), wake };
    });
  }

  private connectOnce(address: EngineAddress): Promise<WelcomeMessage> {
    const where = formatAddress(address);
    return new Promise<WelcomeMessage>((resolve, reject) => {
      const socket = address.kind === 'unix' ? net.connect(address.path) : net.connect({ host: address.host, port: address.port, noDelay: true });
      this.socket = socket;
      let welcomed = false;
      let settled = false;
      const handshakeTimer = setTimeout(() => settle(new CleaverError('CONNECTION', `${where} accepted the connection but did not answer the handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`)), HANDSHAKE_TIMEOUT_MS);
      const settle = (error: Error | null, welcome?: WelcomeMessage) => {
        if (settled) return;
        settled = true;
        clearTimeout(handshakeTimer);
        if (error) {
          socket.destroy();
          reject(error);
        } else resolve(welcome!);
      };
      this.decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES });
      socket.once('connect', () => {
        socket.write(encodeFrame({ ...this.o.hello(), token: this.o.token }));
      });
      socket.on('data', (chunk: Buffer) => {
        for (const event of this.decoder.push(chunk)) {
          if (event.kind !== 'message') {
            socket.destroy(event.error);
            return;
          }
          const message = event.message as EngineMessage;
          if (!welcomed) {
            if (message.t === 'welcome') {
              welcomed = true;
              settle(null, message);
              this.onWelcomed(socket, message);
            } else if (message.t === 'error') {
              settle(errorFromWire(message.error));
            }
            continue;
          }
          this.onMessage(message);
        }
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        settle(new CleaverError('CONNECTION', `${where}: ${e.message}`, { cause: e }));
      });
      socket.on('close', () => {
        settle(new CleaverError('CONNECTION', `${where} closed the connection during the handshake`));
        if (this.socket !== socket) return;
        this.socket = null;
        if (welcomed) this.onClosed(address);
      });
    });
  }

  private onWelcomed(socket: net.Socket, welcome: WelcomeMessage): void {
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.welcomed = true;
    this.welcome = welcome;
    this.lastError = null;
    this.writer = new FrameWriter(socket);
    // Taken first: requests made inside onWelcome are written as they are made, and must not go twice.
    const waiting = [...this.pending];
    this.o.onWelcome?.(welcome, reconnected);
    for (const [id, p] of waiting) if (this.pending.get(id) === p) this.sendPending(id, p);
    const outbox = this.outbox;
    this.outbox = [];
    for (const message of outbox) this.write(message);
    const waiters = this.welcomeWaiters;
    this.welcomeWaiters = [];
    for (const w of waiters) {
      clearTimeout(w.deadline);
      w.resolve(welcome);
    }
  }

  private onMessage(message: EngineMessage): void {
    if (message.t === 'reply') {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (message.ok) p.resolve(message.data);
      else p.reject(errorFromWire(message.error as WireError));
      return;
    }
    if (message.t === 'error' && !message.fatal) {
      // A problem with something we sent that had no request id: surface it, don't crash.
      process.emitWarning(`Cleaver engine reported: ${message.error.message}`, { code: message.error.code });
      return;
    }
    this.o.onMessage?.(message);
  }

  /** A live connection dropped: fail what cannot be repeated, and move on to the next engine. */
  private onClosed(address: EngineAddress): void {
    this.welcomed = false;
    this.writer = null;
    if (this.closed) return;
    this.current = (this.current + 1) % this.o.addresses.length;
    const error = new CleaverError('CONNECTION', `lost the connection to the engine at ${formatAddress(address)}; reconnecting`);
    for (const [id, p] of this.pending) {
      if (p.repeatable) this.awaitConnection(id, p);
      else {
        this.pending.delete(id);
        p.reject(new CleaverError('CONNECTION', 'the connection to the engine dropped before it replied; the request may or may not have been recorded'));
      }
    }
    this.o.onDisconnect?.(error);
    this.ensureConnecting();
  }

  private sendPending(id: number, p: PendingRequest): void {
    if (p.deadline) clearTimeout(p.deadline);
    p.deadline = null;
    p.sent = true;
    this.write({ ...p.body, id } as ClientMessage);
  }

  /** Starts the request's connection deadline and makes sure a connection is being sought. */
  private awaitConnection(id: number, p: PendingRequest): void {
    p.deadline = setTimeout(() => {
      if (this.pending.get(id) !== p) return;
      this.pending.delete(id);
      p.reject(this.unreachable({ unsentRequest: !p.sent }));
    }, this.requestTimeoutMs);
    this.ensureConnecting();
  }

  private unreachable(options: { unsentRequest: boolean }): CleaverError {
    const where = this.o.addresses.map(formatAddress).join(', ');
    const last = this.lastError ? ` (last error: ${this.lastError.message})` : '';
    const unsent = options.unsentRequest ? '; the request was not sent' : '';
    return new CleaverError(
      'CONNECTION',
      `the Cleaver engine at ${where} is unreachable: no connection within ${formatMs(this.requestTimeoutMs)}${last}${unsent}. ` +
        'Start one with `cleaver serve`, or point CLEAVER_ADDRESS (or the address option) at an engine that is running.',
      { cause: this.lastError ?? undefined },
    );
  }

  private failWaiting(error: Error): void {
    for (const p of this.pending.values()) {
      if (p.deadline) clearTimeout(p.deadline);
      p.reject(error);
    }
    this.pending.clear();
    const waiters = this.welcomeWaiters;
    this.welcomeWaiters = [];
    for (const w of waiters) {
      clearTimeout(w.deadline);
      w.reject(error);
    }
  }

  private write(message: ClientMessage): void {
    this.writer?.write(message);
  }
}

/** The engine refused the handshake itself (token, protocol version, registration): retrying cannot help. */
function refusedForGood(error: unknown): boolean {
  const code = (error as CleaverError).code;
  return code === 'UNAUTHORIZED' || code === 'PROTOCOL_VERSION' || code === 'BAD_REQUEST';
}

function closedError(): CleaverError {
  return new CleaverError('CONNECTION', 'the client is closed');
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
