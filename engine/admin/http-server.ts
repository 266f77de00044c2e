/**
 * The admin contract over HTTP + WebSocket, as shared/admin-transport.ts lays it down, and the built
 * console (dist/renderer) beside it on the same origin:
 *
 *   POST /api/<method>   params as a JSON object, `Authorization: Bearer <token>` → AdminResult
 *   GET  /api/live       WebSocket, subprotocols [ADMIN_WS_PROTOCOL, 'token.<token>'] → AdminChange messages
 *   GET  /metrics        Prometheus text (docs/metrics.md), `Authorization: Bearer <token>`
 *   GET  /*              the console's files; paths without an extension fall back to index.html
 *
 * Generic over the contract: it knows method names, not what they do. Whoever reaches the port can
 * only read the console's files without the token; the Host check keeps a web page that rebinds its
 * own DNS name to 127.0.0.1 from talking to it at all.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { ADMIN_METHODS, type AdminApi, type AdminChange, type AdminMethod } from '../../shared/admin-api.ts';
import { ADMIN_WS_PROTOCOL, type AdminResult } from '../../shared/admin-transport.ts';
import { CleaverError, toError, type ErrorCode, type WireError } from '../../shared/errors.ts';
import type { Logger } from '../log.ts';
import type { StreamSubscriptions } from '../../shared/stream.ts';
import { serveLiveStreams } from './live-streams.ts';

/** Largest request body accepted; the biggest legitimate call (eventsPush of many events) fits well. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A live client this far behind is dropped; it reconnects and refetches what it shows. */
const MAX_WS_BUFFERED_BYTES = 4 * 1024 * 1024;
const KEEPALIVE_MS = 30_000;

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  BAD_PAYLOAD: 400,
  NOT_FOUND: 404,
  UNKNOWN_TASK: 404,
  UNAUTHORIZED: 401,
};

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cleaver console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The Cleaver console is not built</h1>
<p>The engine is running and its API answers on <code>/api</code>, but the console's files were not found.
Run <code>npm run build</code> in the Cleaver checkout, then reload this page.</p>
</body></html>
`;

/** Where the built console lives: dist/renderer at the package root, found from this module (source or dist/). */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'renderer');
    const parent = dirname(dir);
    if (parent === dir) return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'renderer');
    dir = parent;
  }
}

export interface AdminHttpOptions {
  admin: AdminApi;
  /** Changes to push to live clients; null when this process has none (they refresh on a timer). */
  changes: { subscribe(listener: (change: AdminChange) => void): () => void } | null;
  /** Runs' streams for live clients to follow; absent where nothing streams live (they read runStreamRead). */
  streams?: StreamSubscriptions | null;
  /** The Prometheus text served at /metrics; absent where no engine runs (nothing is counted here). */
  prometheus?: (() => Promise<{ contentType: string; text: string }>) | null;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
  /** The built console; null or missing serves a page saying how to build it. */
  staticDir: string | null;
  log: Logger;
}

export interface AdminHttpServer {
  /** e.g. http://127.0.0.1:7878 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttpServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.token.length === 0) throw new CleaverError('BAD_REQUEST', 'the admin HTTP server needs a token');
  const tokenDigest = digest(options.token);
  const staticDir = options.staticDir ? resolve(options.staticDir) : null;
  let port = options.port;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, handleProtocols: () => ADMIN_WS_PROTOCOL });
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    void handle(req, res).catch((e: unknown) => {
      const error = toError(e);
      options.log.error('admin HTTP request failed', { url: req.url, error: error.message });
      if (!res.headersSent) sendError(res, 500, { name: 'CleaverError', code: 'INTERNAL', message: `internal error: ${error.message}` });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req.headers.host, host, port)) {
      sendError(res, 421, wire('BAD_REQUEST', `this server answers only to 127.0.0.1:${port}, localhost:${port} or its address; the Host header ${JSON.stringify(req.headers.host ?? '')} is refused`));
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/api' || path.startsWith('/api/')) return handleApi(req, res, path.slice('/api/'.length));
    if (path === '/metrics') return serveMetrics(req, res);
    return serveStatic(req, res, path);
  }

  /** Refused without the token: a scrape is an admin read like any other. */
  function authorized(req: IncomingMessage, res: ServerResponse): boolean {
    if (tokenMatches(bearer(req.headers.authorization), tokenDigest)) return true;
    res.setHeader('WWW-Authenticate', 'Bearer');
    sendError(res, 401, wire('UNAUTHORIZED', 'missing or wrong token: send Authorization: Bearer <token>, the token `cleaver serve` printed (also in the console-token file of its data dir)'));
    return false;
  }

  async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, 405, wire('BAD_REQUEST', `/metrics is read with GET, not ${req.method}`));
      return;
    }
    if (!authorized(req, res)) return;
    if (!options.prometheus) {
      sendError(res, 404, wire('NOT_FOUND', 'this process runs no engine, so it counts nothing: scrape /metrics on the engines (`cleaver serve`) instead'));
      return;
    }
    const { contentType, text } = await options.prometheus();
    send(req, res, 200, contentType, Buffer.from(text));
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    if (method === 'live') {
      sendError(res, 426, wire('BAD_REQUEST', '/api/live is a WebSocket endpoint; open it with the subprotocols [cleaver-admin-v1, token.<token>]'));
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendError(res, 405, wire('BAD_REQUEST', `admin calls are POST /api/<method>, not ${req.method}`));
      return;
    }
    if (!authorized(req, res)) return;
    if (!(ADMIN_METHODS as readonly string[]).includes(method)) {
      sendError(res, 404, wire('NOT_FOUND', `no admin method ${JSON.stringify(method)}; methods: ${ADMIN_METHODS.join(', ')}`));
      return;
    }
    const body = await readBody(req);
    if (body === 'too-large') {
      res.setHeader('Connection', 'close');
      sendError(res, 413, wire('BAD_REQUEST', `the request body is larger than ${MAX_BODY_BYTES} bytes; send fewer items per call`));
      return;
    }
    let params: unknown = {};
    if (body.length > 0) {
      try {
        params = JSON.parse(body.toString('utf8'));
      } catch (e: unknown) {
        sendError(res, 400, wire('BAD_REQUEST', `the request body is not valid JSON (${toError(e).message}); send the params as a JSON object`));
        return;
      }
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      sendError(res, 400, wire('BAD_REQUEST', `${method}: the request body must be a JSON object of params (send {} for none)`));
      return;
    }
    let result: AdminResult;
    let status = 200;
    try {
      const call = options.admin[method as AdminMethod] as (params: unknown) => Promise<unknown>;
      result = { ok: true, data: await call.call(options.admin, params) };
    } catch (e: unknown) {
      const error = toError(e);
      if (error instanceof CleaverError) {
        status = STATUS_BY_CODE[error.code] ?? 500;
        result = { ok: false, error: error.toWire() };
      } else {
        status = 500;
        result = { ok: false, error: wire('INTERNAL', `internal error in ${method}: ${error.message}`) };
      }
      if (status >= 500) options.log.error('admin call failed', { method, error: error.message });
    }
    sendJson(res, status, result);
  }

  function serveStatic(req: IncomingMessage, res: ServerResponse, rawPath: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendText(res, 405, 'method not allowed');
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      sendText(res, 400, 'malformed path');
      return;
    }
    // Refused outright rather than normalized: no legitimate console URL climbs.
    if (path.includes('\0') || path.split(/[/\\]/).includes('..')) {
      sendText(res, 403, 'forbidden path');
      return;
    }
    const indexFile = staticDir ? join(staticDir, 'index.html') : null;
    if (!staticDir || !indexFile || !isFile(indexFile)) {
      res.setHeader('Cache-Control', 'no-cache');
      send(req, res, 503, 'text/html; charset=utf-8', Buffer.from(NOT_BUILT_PAGE));
      return;
    }
    const file = resolve(staticDir, `.${path}`);
    if (file !== staticDir && !file.startsWith(staticDir + sep)) {
      sendText(res, 403, 'forbidden path');
      return;
    }
    if (isFile(file)) {
      sendFile(req, res, file, path.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
      return;
    }
    // Client-side routes (/runs/…) load the app; a missing file with an extension is really missing.
    if (extname(path) === '') {
      sendFile(req, res, indexFile, 'no-cache');
      return;
    }
    sendText(res, 404, 'not found');
  }

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined);
    const reject = (status: number, reason: string) => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!hostAllowed(req.headers.host, host, port)) return reject(421, 'Misdirected Request');
    if ((req.url ?? '').split('?')[0] !== '/api/live') return reject(404, 'Not Found');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const token = offered.find((p) => p.startsWith('token.'))?.slice('token.'.length);
    if (!offered.includes(ADMIN_WS_PROTOCOL) || !tokenMatches(token, tokenDigest)) return reject(401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => live(ws));
  });

  function live(ws: WebSocket): void {
    let alive = true;
    const unsubscribe =
      options.changes?.subscribe((change) => {
        if (ws.readyState !== ws.OPEN) return;
        if (ws.bufferedAmount > MAX_WS_BUFFERED_BYTES) {
          ws.terminate();
          return;
        }
        ws.send(JSON.stringify(change));
      }) ?? (() => undefined);
    const stopStreams = options.streams ? serveLiveStreams(ws, options.streams) : () => undefined;
    const keepalive = setInterval(() => {
      if (!alive) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, KEEPALIVE_MS);
    keepalive.unref();
    ws.on('pong', () => (alive = true));
    ws.on('error', () => undefined);
    ws.on('close', () => {
      clearInterval(keepalive);
      unsubscribe();
      stopStreams();
    });
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${formatHost(host)}:${options.port}`;
      const why =
        e.code === 'EADDRINUSE'
          ? `${where} is already in use (another \`cleaver serve\`?); choose another address with --console HOST:PORT, or --console off`
          : `cannot listen on ${where}: ${e.message}`;
      reject(new CleaverError('CONNECTION', `cannot serve the console: ${why}`, { cause: e }));
    });
    server.listen(options.port, host, () => resolveListen());
  });
  port = (server.address() as AddressInfo).port;
  server.on('error', (e: unknown) => options.log.error('admin HTTP server error', { error: toError(e).message }));

  let closing: Promise<void> | null = null;
  return {
    url: `http://${formatHost(urlHost(host))}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolveClose) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolveClose());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function wire(code: ErrorCode, message: string): WireError {
  return { name: 'CleaverError', code, message };
}

function sendJson(res: ServerResponse, status: number, body: AdminResult): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': data.length });
  res.end(data);
}

function sendError(res: ServerResponse, status: number, error: WireError): void {
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, status, { ok: false, error });
}

function sendText(res: ServerResponse, status: number, text: string): void {
  const data = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': data.length });
  res.end(data);
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, data: Buffer): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': data.length });
  res.end(req.method === 'HEAD' ? undefined : data);
}

function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cacheControl: string): void {
  const size = statSync(file).size;
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': cacheControl,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads the body up to MAX_BODY_BYTES. Past it, the rest is read and dropped (so the client gets the
 * 413 instead of a reset connection) up to a bound, beyond which the connection is cut.
 */
function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolveBody, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = declared > MAX_BODY_BYTES;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      if (size > 16 * MAX_BODY_BYTES) req.destroy();
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => resolveBody(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    // Cut off (or gone) before the end: nobody will read an answer, but the handler must not hang.
    req.on('close', () => resolveBody('too-large'));
    req.on('error', reject);
  });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compared as digests so neither the token's content nor its length leaks through timing. */
function tokenMatches(offered: string | undefined, expected: Buffer): boolean {
  if (offered === undefined || offered.length === 0) return false;
  return timingSafeEqual(digest(offered), expected);
}

function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * DNS-rebinding guard: a page on evil.example whose name now resolves to 127.0.0.1 still sends
 * `Host: evil.example`. Names other than localhost and the bound host are refused; IP literals are
 * fine (they cannot be rebound).
 */
function hostAllowed(header: string | undefined, boundHost: string, port: number): boolean {
  if (!header) return false;
  let url: URL;
  try {
    url = new URL(`http://${header}`);
  } catch {
    return false;
  }
  if (url.username || url.password || url.pathname !== '/') return false;
  const headerPort = url.port === '' ? 80 : Number(url.port);
  if (headerPort !== port) return false;
  const name = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name === boundHost.toLowerCase() || isIP(name) !== 0;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A wildcard bind is reached locally through the loopback address. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** Whether only this machine can reach the address. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
