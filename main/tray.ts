/**
 * The tray icon: which database the app is connected to, in which mode, with how many workers; and
 * the way back to the console (closing the window leaves the engine running) or out of the app.
 */
import type { Menu, NativeImage, Tray } from 'electron';
import type { AdminApi, AdminChange } from '../shared/admin-api.ts';
import type { ConnectionInfo } from './connections.ts';

/** The parts of Electron the tray uses (the real module fits; tests pass fakes). */
export interface TrayElectron {
  Tray: new (image: NativeImage | string) => TrayLike;
  Menu: Pick<typeof Menu, 'buildFromTemplate'>;
}

export type TrayLike = Pick<Tray, 'setToolTip' | 'setContextMenu' | 'on' | 'destroy'>;

export type TrayStatus =
  | { state: 'connected'; connection: ConnectionInfo; workers: number | null }
  | { state: 'disconnected' };

export interface StatusTrayOptions {
  icon: NativeImage | string;
  onOpenConsole(): void;
  onQuit(): void;
}

export class StatusTray {
  private readonly tray: TrayLike;

  constructor(
    private readonly electron: TrayElectron,
    private readonly options: StatusTrayOptions,
  ) {
    this.tray = new electron.Tray(options.icon);
    this.tray.on('click', () => options.onOpenConsole());
    this.show({ state: 'disconnected' });
  }

  show(status: TrayStatus): void {
    const line = statusLine(status);
    this.tray.setToolTip(`Cleaver — ${line}`);
    const menu = this.electron.Menu.buildFromTemplate([
      { label: line, enabled: false },
      { type: 'separator' },
      { label: 'Open console', click: () => this.options.onOpenConsole() },
      { label: 'Quit', click: () => this.options.onQuit() },
    ]);
    this.tray.setContextMenu(menu);
  }

  destroy(): void {
    this.tray.destroy();
  }
}

export function statusLine(status: TrayStatus): string {
  if (status.state === 'disconnected') return 'not connected';
  const { connection, workers } = status;
  const mode = connection.mode === 'engine' ? 'engine' : 'administer only';
  const count = workers === null ? 'workers unknown' : `${workers} worker${workers === 1 ? '' : 's'}`;
  return `${connection.name} (${mode}) · ${count}`;
}

/** What the tray follows: the ConnectionManager. */
export interface TraySource {
  readonly admin: AdminApi | null;
  readonly info: ConnectionInfo | null;
  subscribe(listener: (change: AdminChange) => void): () => void;
  onConnection(listener: (info: ConnectionInfo | null) => void): () => void;
}

/** Keeps the tray current: on every connection switch and whenever workers change. Returns a stop function. */
export function followConnections(tray: Pick<StatusTray, 'show'>, source: TraySource): () => void {
  let generation = 0;
  const refresh = async () => {
    const mine = ++generation;
    const info = source.info;
    const admin = source.admin;
    if (!info || !admin) {
      tray.show({ state: 'disconnected' });
      return;
    }
    let workers: number | null = null;
    try {
      workers = (await admin.workersList({})).workers.filter((w) => w.status !== 'disconnected').length;
    } catch {
      // Shown as "workers unknown"; the console itself shows what went wrong.
    }
    // A slower, older refresh must not overwrite a newer one.
    if (mine === generation) tray.show({ state: 'connected', connection: info, workers });
  };
  void refresh();
  const stops = [
    source.onConnection(() => void refresh()),
    source.subscribe((change) => {
      if (change.workers) void refresh();
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
