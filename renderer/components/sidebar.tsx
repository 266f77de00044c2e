import { useMemo } from 'react';
import { desktopConnections } from '../api/connections-client.ts';
import { useRoute } from '../router.ts';
import { useApp } from '../state/app-store.ts';
import { useAdminQuery } from '../hooks/use-admin-query.ts';
import { durationFormat } from '../../shared/duration.ts';

const ITEMS = [
  { id: 'overview', label: 'Overview', key: 'g o', icon: 'M2.5 13.5h11M4 11V8M7 11V4.5M10 11V6.5M13 11V3' },
  { id: 'runs', label: 'Runs', key: 'g r', icon: 'M3 4h10M3 8h10M3 12h6' },
  { id: 'workflows', label: 'Workflows', key: 'g w', icon: 'M4 3.5a1.5 1.5 0 1 0 0 .01M12 8a1.5 1.5 0 1 0 0 .01M4 12.5a1.5 1.5 0 1 0 0 .01M5.5 4l5 3.5M5.5 12l5-3.5' },
  { id: 'workers', label: 'Workers', key: 'g k', icon: 'M2.5 4h11v3h-11zM2.5 9h11v3h-11zM5 5.5h.01M5 10.5h.01' },
  { id: 'events', label: 'Events', key: 'g e', icon: 'M9 2 4 9h4l-1 5 5-7H8z' },
  { id: 'logs', label: 'Logs', key: 'g l', icon: 'M2.5 4h11M2.5 7.5h5M2.5 11h4M10.5 12.5a2 2 0 1 0 0-4 2 2 0 0 0 0 4zM12 12l1.8 1.8' },
] as const;

/** Only in the desktop app, whose bridge can switch databases; the browser console is tied to its server. */
const CONNECTIONS_ITEM = { id: 'connections', label: 'Connections', key: 'g c', icon: 'M3 4.5c0-1.1 2.2-2 5-2s5 .9 5 2-2.2 2-5 2-5-.9-5-2zM3 4.5v7c0 1.1 2.2 2 5 2s5-.9 5-2v-7M3 8c0 1.1 2.2 2 5 2s5-.9 5-2' } as const;

export function Sidebar() {
  const route = useRoute();
  const section = route.path[0] ?? 'runs';
  const live = useApp((s) => s.live);
  const theme = useApp((s) => s.theme);
  const toggleTheme = useApp((s) => s.toggleTheme);
  const client = useApp((s) => s.client);
  // A connection switch announces that everything changed: the footer then names the new database at once.
  const info = useAdminQuery('engineInfo', (c) => c.call('engineInfo', {}), { keepPrevious: true, refreshOn: (c) => c.workers && c.workflows });
  const items = useMemo(() => (desktopConnections() ? [...ITEMS, CONNECTIONS_ITEM] : ITEMS), []);
  return (
    <nav className="sidebar">
      <div className="brand">
        <svg width="18" height="18" viewBox="0 0 16 16" aria-hidden>
          <path d="M2 11 10.5 2.5a2 2 0 0 1 2.8 2.8L5 13.5H2z" className="brand-mark" />
        </svg>
        <span>Cleaver</span>
      </div>
      <ul className="nav">
        {items.map((item) => (
          <li key={item.id}>
            <a href={`#/${item.id}`} className={section === item.id ? 'nav-item active' : 'nav-item'} data-testid={`nav-${item.id}`}>
              <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden>
                <path d={item.icon} />
              </svg>
              <span>{item.label}</span>
              <kbd>{item.key}</kbd>
            </a>
          </li>
        ))}
      </ul>
      <div className="sidebar-foot">
        <div className={`live live-${live}`} data-testid="live-state" title={live === 'live' ? 'changes are pushed as they happen' : 'refreshing every 5 s until the live connection is back'}>
          <span className="live-dot" />
          {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </div>
        {info.data && (
          <div className="engine-info" title={info.data.database}>
            <div>
              {info.data.mode === 'admin' ? 'admin only' : 'engine'} · v{info.data.version}
            </div>
            {info.data.mode === 'engine' && (
              <div
                className="engine-db"
                data-testid="engine-retention"
                title={info.data.retentionMs === null ? 'retention is off: every run is kept' : `runs that ended more than ${durationFormat(info.data.retentionMs)} ago are deleted, with their logs`}
              >
                retention {info.data.retentionMs === null ? 'off' : durationFormat(info.data.retentionMs)}
              </div>
            )}
            <div className="engine-db">{info.data.database}</div>
            <div className="engine-db">{client?.transport === 'ipc' ? 'desktop' : location.host}</div>
          </div>
        )}
        <button className="btn btn-ghost theme-toggle" onClick={toggleTheme} data-testid="theme-toggle" title="Toggle theme (t)">
          {theme === 'dark' ? '☾ Dark' : '☀ Light'}
        </button>
      </div>
    </nav>
  );
}
