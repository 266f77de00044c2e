/** App-wide state: the engine connection, whether changes are live, the theme and notices. */
import { create } from 'zustand';
import type { AdminClient, LiveState } from '../api/admin-client.ts';

export type Theme = 'dark' | 'light';
export interface Notice {
  id: number;
  kind: 'error' | 'info';
  message: string;
}

const THEME_KEY = 'cleaver.theme';

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'dark' || saved === 'light') return saved;
  return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

interface AppState {
  client: AdminClient | null;
  needsToken: boolean;
  /** The engine refused the token this tab had (it changed, or was mistyped). */
  tokenRejected: boolean;
  live: LiveState;
  theme: Theme;
  notices: Notice[];
  setClient(client: AdminClient | null, needsToken: boolean, tokenRejected?: boolean): void;
  setLive(live: LiveState): void;
  toggleTheme(): void;
  notify(kind: Notice['kind'], message: string): void;
  dismiss(id: number): void;
}

let nextNoticeId = 1;

export const useApp = create<AppState>((set, get) => ({
  client: null,
  needsToken: false,
  tokenRejected: false,
  live: 'connecting',
  theme: initialTheme(),
  notices: [],
  setClient: (client, needsToken, tokenRejected = false) => set({ client, needsToken, tokenRejected }),
  setLive: (live) => set({ live }),
  toggleTheme: () => {
    const theme = get().theme === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, theme);
    set({ theme });
  },
  notify: (kind, message) => {
    const id = nextNoticeId++;
    set({ notices: [...get().notices, { id, kind, message }].slice(-4) });
    setTimeout(() => get().dismiss(id), kind === 'error' ? 8000 : 4000);
  },
  dismiss: (id) => set({ notices: get().notices.filter((n) => n.id !== id) }),
}));

/** The connected client; pages render only once there is one. */
export function useClient(): AdminClient {
  const client = useApp((s) => s.client);
  if (!client) throw new Error('no engine connection yet');
  return client;
}
