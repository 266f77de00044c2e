/**
 * The SDK's connection to an engine: framing, handshake, request/reply, coalesced writes, and
 * reconnection with backoff after the engine restarts. Requests that are safe to repeat (awaiting a
 * run) are re-sent after a reconnect; the others (a trigger, which may or may not have been recorded)
 * fail with a CONNECTION error that says so.
 */
import net from 'node:net';
import { FrameDecoder, FrameWriter, encodeFrame } from '../shared/frame-codec.ts';
import { formatAddress, type EngineAddress } from '../shared/paths.ts';
import { DEFAULT_MAX_FRAME_BYTES, type ClientMessage, type EngineMessage, type HelloMessage, type WelcomeMessage } from '../shared/protocol.ts';
import { CleaverError, errorFromWire, type WireError } from '../shared/errors.ts';

type RequestMessage = Extract<ClientMessage, { id: number }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type RequestBody = DistributiveOmit<RequestMessage, 'id'>;

interface PendingRequest {
  body: RequestBody;
  repeatable: boolean;
  resolve(data: unknown): void;
  reject(error: Error): void;
}

export interface EngineConnectionOptions {
  address: EngineAddress;
  token?: string;
  /** Built at every (re)connect, so a worker can report the attempts it is running. */
  hello: () => HelloMessage;
  onMessage?: (message: EngineMessage) => void;
  /** After every successful handshake, the first one included. */
  onWelcome?: (welcome: WelcomeMessage, reconnected: boolean) => void;
  onDisconnect?: (error: Error) => void;
  /** How long the first connection keeps retrying before start fails (default 5 s). */
  connectTimeoutMs?: number;
}

export class EngineConnection {
  private readonly o: EngineConnectionOptions;
  private socket: net.Socket | null = null;
  private decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES });
  private nextId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  private welcomed = false;
  private everConnected = false;
  private closed = false;
  private writer: FrameWriter | null = null;
  private outbox: ClientMessage[] = [];
  private connecting: Promise<WelcomeMessage> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private welcomeWaiters: Array<(welcome: WelcomeMessage) => void> = [];
  welcome: WelcomeMessage | null = null;

  constructor(options: EngineConnectionOptions) {
    this.o = options;
  }

  get connected(): boolean {
    return this.welcomed;
  }

  /** Connects (once; later calls share the same attempt), retrying until connectTimeoutMs. */
  connect(): Promise<WelcomeMessage> {
    if (this.welcome && this.welcomed) return Promise.resolve(this.welcome);
    // Reconnecting after a drop: wait for that to succeed rather than racing it with a second socket.
    if (this.everConnected) return new Promise((resolve) => this.welcomeWaiters.push(resolve));
    if (!this.connecting) {
      this.connecting = this.connectWithRetry(this.o.connectTimeoutMs ?? 5_000).finally(() => {
        this.connecting = null;
      });
    }
    return this.connecting;
  }

  /** Sends a request and resolves with the reply's data (or rejects with the engine's error). */
  request<T>(body: RequestBody, options: { repeatable: boolean }): Promise<T> {
    if (this.closed) return Promise.reject(new CleaverError('CONNECTION', 'the client is closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { body, repeatable: options.repeatable, resolve: resolve as (d: unknown) => void, reject });
      if (this.welcomed) this.write({ ...body, id } as ClientMessage);
      else void this.connect().catch((e: unknown) => this.failPending(e as Error));
    });
  }

  /** Fire-and-forget; kept (bounded) while reconnecting and sent after the next handshake. */
  send(message: ClientMessage): void {
    if (this.closed) return;
    if (this.welcomed) this.write(message);
    else if (this.outbox.length < 100_000) this.outbox.push(message);
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.failPending(new CleaverError('CONNECTION', 'the client was closed before the engine replied'));
    this.socket?.end();
    this.socket?.destroy();
    this.socket = null;
  }

  private async connectWithRetry(timeoutMs: number): Promise<WelcomeMessage> {
    const deadline = Date.now() + timeoutMs;
    let delay = 50;
    for (;;) {
      try {
        return await this.connectOnce();
      } catch (e: unknown) {
        if (refusedForGood(e) || this.closed || Date.now() + delay > deadline) throw e;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 1_000);
      }
    }
  }

  private connectOnce(): Promise<WelcomeMessage> {
    const where = formatAddress(this.o.address);
    return new Promise<WelcomeMessage>((resolve, reject) => {
      const socket =
        this.o.address.kind === 'unix'
          ? net.connect(this.o.address.path)
          : net.connect({ host: this.o.address.host, port: this.o.address.port, noDelay: true });
      let settled = false;
      const settle = (error: Error | null, welcome?: WelcomeMessage) => {
        if (settled) return;
        settled = true;
        if (error) {
          socket.destroy();
          reject(error);
        } else resolve(welcome!);
      };
      this.decoder = new FrameDecoder({ maxFrameBytes: DEFAULT_MAX_FRAME_BYTES });
      socket.setNoDelay?.(true);
      socket.once('connect', () => {
        this.socket = socket;
        socket.write(encodeFrame({ ...this.o.hello(), token: this.o.token }));
      });
      socket.on('data', (chunk: Buffer) => {
        for (const event of this.decoder.push(chunk)) {
          if (event.kind !== 'message') {
            socket.destroy(event.error);
            return;
          }
          const message = event.message as EngineMessage;
          if (!this.welcomed) {
            if (message.t === 'welcome') {
              this.onWelcomed(socket, message);
              settle(null, message);
            } else if (message.t === 'error') {
              settle(errorFromWire(message.error));
            }
            continue;
          }
          this.onMessage(message);
        }
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        if (!settled) {
          const hint = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? '; is `cleaver serve` running (or CLEAVER_ADDRESS set)?' : '';
          settle(new CleaverError('CONNECTION', `cannot reach the Cleaver engine at ${where}: ${e.message}${hint}`, { cause: e }));
        }
      });
      socket.on('close', () => {
        if (!settled) settle(new CleaverError('CONNECTION', `the engine at ${where} closed the connection during the handshake`));
        if (this.socket === socket) this.onClosed();
      });
    });
  }

  private onWelcomed(socket: net.Socket, welcome: WelcomeMessage): void {
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.welcomed = true;
    this.welcome = welcome;
    this.socket = socket;
    this.writer = new FrameWriter(socket);
    this.o.onWelcome?.(welcome, reconnected);
    for (const [id, p] of this.pending) this.write({ ...p.body, id } as ClientMessage);
    const outbox = this.outbox;
    this.outbox = [];
    for (const message of outbox) this.write(message);
    const waiters = this.welcomeWaiters;
    this.welcomeWaiters = [];
    for (const resolve of waiters) resolve(welcome);
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

  private onClosed(): void {
    this.welcomed = false;
    this.socket = null;
    this.writer = null;
    if (this.closed) return;
    const error = new CleaverError('CONNECTION', `lost the connection to the engine at ${formatAddress(this.o.address)}; reconnecting`);
    for (const [id, p] of this.pending) {
      if (p.repeatable) continue;
      this.pending.delete(id);
      p.reject(new CleaverError('CONNECTION', 'the connection to the engine dropped before it replied; the request may or may not have been recorded'));
    }
    this.o.onDisconnect?.(error);
    this.scheduleReconnect(100);
  }

  private scheduleReconnect(delay: number): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connectOnce().catch((e: unknown) => {
        if (refusedForGood(e)) {
          this.failPending(e as Error);
          this.o.onDisconnect?.(e as Error);
          return;
        }
        this.scheduleReconnect(Math.min(delay * 2, 2_000));
      });
    }, delay);
  }

  private failPending(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
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
