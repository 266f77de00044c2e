/**
 * Stand-ins for the Electron objects main/ is handed, recording what is done to them. Electron's
 * binary cannot run here; the modules take these in place of the real ones.
 */
type Listener = (...args: any[]) => unknown;

export class FakeEmitter {
  readonly listeners = new Map<string, Listener[]>();
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  once(event: string, listener: Listener): this {
    return this.on(event, listener);
  }
  emit(event: string, ...args: unknown[]): void {
    for (const listener of this.listeners.get(event) ?? []) listener(...args);
  }
  count(event: string): number {
    return this.listeners.get(event)?.length ?? 0;
  }
}

export class FakeEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

let nextId = 1;

export class FakeWebContents extends FakeEmitter {
  readonly id = nextId++;
  windowOpenHandler: ((details: { url: string }) => { action: string }) | null = null;
  readonly sent: Array<{ channel: string; args: unknown[] }> = [];
  destroyed = false;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  /** What the page would see when it tries to navigate: whether main let it. */
  navigate(url: string, event = 'will-navigate'): FakeEvent {
    const e = new FakeEvent();
    this.emit(event, e, url);
    return e;
  }
}

export class FakeBrowserWindow extends FakeEmitter {
  static created: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loaded: { file: string } | { url: string } | null = null;
  shown = false;
  constructor(readonly options: Record<string, any>) {
    super();
    FakeBrowserWindow.created.push(this);
  }
  loadFile(file: string): Promise<void> {
    this.loaded = { file };
    return Promise.resolve();
  }
  loadURL(url: string): Promise<void> {
    this.loaded = { url };
    return Promise.resolve();
  }
  show(): void {
    this.shown = true;
  }
}

export class FakeSession {
  headersListener: Listener | null = null;
  requestHandler: Listener | null = null;
  checkHandler: Listener | null = null;
  readonly webRequest = {
    onHeadersReceived: (listener: Listener) => {
      this.headersListener = listener;
    },
  };
  setPermissionRequestHandler(handler: Listener): void {
    this.requestHandler = handler;
  }
  setPermissionCheckHandler(handler: Listener): void {
    this.checkHandler = handler;
  }
}

export class FakeShell {
  readonly opened: string[] = [];
  openExternal(url: string): Promise<void> {
    this.opened.push(url);
    return Promise.resolve();
  }
}

export class FakeIpcMain {
  readonly handlers = new Map<string, Listener>();
  handle(channel: string, listener: Listener): void {
    // Electron refuses a second handler for one channel; so does the fake.
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** ipcRenderer.invoke as Electron runs it: no handler rejects. */
  invoke(event: unknown, channel: string, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) return Promise.reject(new Error(`No handler registered for '${channel}'`));
    return Promise.resolve(handler(event, ...args));
  }
}

/** The preload's side: invoke goes to a FakeIpcMain as if sent from `event`'s frame. */
export class FakeIpcRenderer extends FakeEmitter {
  readonly invoked: string[] = [];
  constructor(
    private readonly ipcMain: FakeIpcMain,
    private readonly event: unknown,
  ) {
    super();
  }
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push(channel);
    // Like Electron, what crosses is a structured clone.
    return this.ipcMain.invoke(this.event, channel, ...args.map((a) => structuredClone(a))).then((r) => structuredClone(r));
  }
  removeListener(event: string, listener: Listener): this {
    this.listeners.set(event, (this.listeners.get(event) ?? []).filter((l) => l !== listener));
    return this;
  }
}

export class FakeMenu {
  static built: FakeMenu[] = [];
  constructor(readonly template: Array<Record<string, any>>) {}
  static buildFromTemplate(template: Array<Record<string, any>>): FakeMenu {
    const menu = new FakeMenu(template);
    FakeMenu.built.push(menu);
    return menu;
  }
  click(label: string): void {
    const item = this.template.find((i) => i.label === label);
    if (!item) throw new Error(`no menu item ${label}`);
    item.click();
  }
}

export class FakeTray extends FakeEmitter {
  static created: FakeTray[] = [];
  toolTip = '';
  menu: FakeMenu | null = null;
  destroyed = false;
  constructor(readonly image: unknown) {
    super();
    FakeTray.created.push(this);
  }
  setToolTip(toolTip: string): void {
    this.toolTip = toolTip;
  }
  setContextMenu(menu: FakeMenu): void {
    this.menu = menu;
  }
  destroy(): void {
    this.destroyed = true;
  }
}
