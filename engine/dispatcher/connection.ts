/**
 * One client or worker connection: framing, the versioned handshake, token check on TCP, and
 * coalesced writes (every message sent in one tick leaves in one write). Bad frames and bad messages
 * get an error back and the connection goes on; an oversized frame closes it, since the stream can no
 * longer be trusted. Nothing a client sends can throw out of here into the engine.
 *
 * Until the peer is authenticated it can make the engine hold at most one small hello frame
 * (`maxHelloBytes`): the frame limit is raised only once the token checked out, and reading pauses
 * while the hello is processed. `closed` is reported exactly once, and only after the hello handler
 * settled, so a session registered by a hello whose socket closed meanwhile is always removed again.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';
import { FrameDecoder, FrameWriter } from '../../shared/frame-codec.ts';
import { PROTOCOL_VERSION, type ClientMessage, type EngineMessage, type HelloMessage, type WelcomeMessage } from '../../shared/protocol.ts';
import { CleaverError, toError } from '../../shared/errors.ts';
import type { Logger } from '../log.ts';
import { validateClientMessage } from './validate-message.ts';

export interface ConnectionHandlers {
  /** Validates and registers the peer; throws a CleaverError to refuse it. */
  hello(connection: Connection, hello: HelloMessage): Promise<WelcomeMessage>;
  message(connection: Connection, message: ClientMessage): void;
  /** Every connection, once: after its hello handler settled when one was running. */
  closed(connection: Connection): void;
}

let nextConnectionId = 1;

export class Connection {
  readonly id = nextConnectionId++;
  readonly remote: string;
  role: 'client' | 'worker' | null = null;
  /** Set by the engine once a worker's hello is accepted. */
  workerId: string | null = null;
  private state: 'handshake' | 'open' | 'closed' = 'handshake';
  /** The hello handler while it runs: `closed` waits for it, so what it registers is undone. */
  private helloInFlight: Promise<void> | null = null;
  private closeReported = false;
  private readonly maxFrameBytes: number;
  private readonly socket: net.Socket;
  private readonly decoder: FrameDecoder;
  private readonly handlers: ConnectionHandlers;
  private readonly log: Logger;
  private readonly token: string | null;
  private readonly handshakeTimer: NodeJS.Timeout;
  private readonly writer: FrameWriter;
  private early: ClientMessage[] = [];

  constructor(options: {
    socket: net.Socket;
    remote: string;
    maxFrameBytes: number;
    /** The largest hello accepted before the peer is authenticated. */
    maxHelloBytes: number;
    /** When set, the hello must carry this token (TCP). */
    token: string | null;
    handshakeTimeoutMs: number;
    handlers: ConnectionHandlers;
    log: Logger;
  }) {
    this.socket = options.socket;
    this.remote = options.remote;
    this.maxFrameBytes = options.maxFrameBytes;
    this.decoder = new FrameDecoder({ maxFrameBytes: Math.min(options.maxHelloBytes, options.maxFrameBytes) });
    this.writer = new FrameWriter(options.socket);
    this.handlers = options.handlers;
    this.log = options.log;
    this.token = options.token;
    this.socket.setNoDelay?.(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', () => {
      // A reset by the peer is an ordinary disconnect: 'close' follows and does the cleanup.
    });
    this.socket.on('close', () => this.onClose());
    this.handshakeTimer = setTimeout(
      () =>
        this.fail(
          this.role === null
            ? new CleaverError('PROTOCOL_VERSION', 'no hello received within the handshake timeout')
            : new CleaverError('CONNECTION', 'the engine could not register this connection within the handshake timeout (is its database answering?); reconnect to try again'),
        ),
      options.handshakeTimeoutMs,
    );
    this.handshakeTimer.unref();
  }

  get open(): boolean {
    return this.state === 'open';
  }

  /** Bytes written to the peer that the socket has not sent yet (a peer that does not read makes it grow). */
  get backlog(): number {
    return this.socket.writableLength;
  }

  send(message: EngineMessage): void {
    if (this.state === 'closed') return;
    this.writer.write(message);
  }


  sendError(error: CleaverError, fatal: boolean, requestId?: number): void {
    if (requestId !== undefined && !fatal) this.send({ t: 'reply', id: requestId, ok: false, error: error.toWire() });
    else this.send({ t: 'error', error: error.toWire(), fatal });
  }

  /** Ends the connection after flushing what was sent; reads nothing more from it. */
  close(): void {
    if (this.state === 'closed') return;
    this.decoder.discard();
    this.socket.end();
    setTimeout(() => this.destroy(), 1000).unref();
  }

  /**
   * Drops the connection now. Reports it closed even when the socket is already dead and will emit no
   * close event (a socket destroyed earlier), so the session never outlives it.
   */
  destroy(): void {
    this.decoder.discard();
    this.socket.destroy();
    this.onClose();
  }

  private fail(error: CleaverError): void {
    this.log.warn('connection refused', { conn: this.id, remote: this.remote, code: error.code, error: error.message });
    this.sendError(error, true);
    this.close();
  }

  private onData(chunk: Buffer): void {
    for (const event of this.decoder.push(chunk)) {
      if (event.kind === 'fatal') {
        const error =
          this.state === 'handshake' && event.error.code === 'FRAME_TOO_LARGE'
            ? new CleaverError('FRAME_TOO_LARGE', `${event.error.message.split(';')[0]} before the handshake completed; a hello must be smaller`)
            : event.error;
        this.fail(error);
        return;
      }
      if (event.kind === 'bad-frame') {
        this.sendError(event.error, false);
        continue;
      }
      const checked = validateClientMessage(event.message);
      if ('error' in checked) {
        this.sendError(checked.error, false, checked.requestId);
        continue;
      }
      this.dispatch(checked.message);
    }
  }

  private dispatch(message: ClientMessage): void {
    if (this.state === 'open') {
      try {
        this.handlers.message(this, message);
      } catch (e: unknown) {
        const error = e instanceof CleaverError ? e : new CleaverError('INTERNAL', toError(e).message);
        this.sendError(error, false, 'id' in message ? message.id : undefined);
      }
      return;
    }
    if (this.state === 'closed') return;
    if (this.role !== null) {
      // Arrived with the hello, in the chunk that carried it (reading is paused until it is processed).
      this.early.push(message);
      return;
    }
    if (message.t !== 'hello') {
      this.fail(new CleaverError('PROTOCOL_VERSION', `the first message must be hello, got ${message.t}`));
      return;
    }
    this.role = message.role;
    this.helloInFlight = this.handshake(message).finally(() => {
      this.helloInFlight = null;
    });
  }

  private async handshake(hello: HelloMessage): Promise<void> {
    if (hello.protocol !== PROTOCOL_VERSION) {
      this.fail(new CleaverError('PROTOCOL_VERSION', `client speaks protocol ${hello.protocol}, this engine speaks ${PROTOCOL_VERSION}; use a matching SDK version`));
      return;
    }
    if (this.token !== null && !tokenMatches(this.token, hello.token)) {
      this.fail(new CleaverError('UNAUTHORIZED', hello.token ? 'invalid token' : 'this listener requires a token: set CLEAVER_TOKEN (or pass token to Cleaver.connect)'));
      return;
    }
    // Authenticated: full-size frames from here on. Nothing more is read until the hello is processed,
    // so a peer cannot queue work behind a slow registration. The handshake timer still runs: a hello
    // the engine cannot process in time (the database is down) ends the connection, and the SDK retries.
    this.decoder.setMaxFrameBytes(this.maxFrameBytes);
    this.socket.pause();
    try {
      const welcome = await this.handlers.hello(this, hello);
      if (this.state === 'closed') return; // `closed` runs once this settles and undoes the registration
      clearTimeout(this.handshakeTimer);
      this.state = 'open';
      this.send(welcome);
      this.socket.resume();
      const early = this.early;
      this.early = [];
      for (const message of early) this.dispatch(message);
    } catch (e: unknown) {
      this.fail(e instanceof CleaverError ? e : new CleaverError('INTERNAL', toError(e).message));
    }
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.handshakeTimer);
    this.state = 'closed';
    this.early = [];
    this.decoder.discard();
    const report = () => {
      if (this.closeReported) return;
      this.closeReported = true;
      this.handlers.closed(this);
    };
    if (this.helloInFlight) void this.helloInFlight.then(report);
    else report();
  }
}

function tokenMatches(expected: string, given: string | undefined): boolean {
  if (typeof given !== 'string') return false;
  // Compare digests so neither the length nor the content leaks through timing.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
