/** The shell: connection, theme, sidebar, page routing and the global keys. */
import { useEffect, useLayoutEffect, useMemo } from 'react';
import { connect } from './api/connect.ts';
import { desktopConnections } from './api/connections-client.ts';
import { forgetToken } from './api/token.ts';
import { Notices } from './components/notices.tsx';
import { Sidebar } from './components/sidebar.tsx';
import { TokenScreen } from './components/token-screen.tsx';
import { focusFilter, useHotkeys } from './hooks/use-hotkeys.ts';
import { ConnectionsPage } from './pages/connections/index.tsx';
import { EventsPage } from './pages/events/index.tsx';
import { LogsPage } from './pages/logs/index.tsx';
import { NotFoundPage } from './pages/not-found/index.tsx';
import { OverviewPage } from './pages/overview/index.tsx';
import { RunDetailPage } from './pages/run-detail/index.tsx';
import { RunsPage } from './pages/runs/index.tsx';
import { WorkersPage } from './pages/workers/index.tsx';
import { WorkflowsPage } from './pages/workflows/index.tsx';
import { navigate, useRoute } from './router.ts';
import { useApp } from './state/app-store.ts';

let connecting: Promise<void> | null = null;

async function startConnection(): Promise<void> {
  const store = useApp.getState();
  store.client?.close();
  const connection = await connect({
    onUnauthorized: () => {
      forgetToken();
      useApp.getState().client?.close();
      useApp.getState().setClient(null, true, true);
    },
  });
  if (connection.kind === 'needs-token') {
    store.setClient(null, true);
    return;
  }
  store.setClient(connection.client, false);
  connection.client.onLiveState((live) => useApp.getState().setLive(live));
}

export function App() {
  const client = useApp((s) => s.client);
  const needsToken = useApp((s) => s.needsToken);
  const tokenRejected = useApp((s) => s.tokenRejected);
  const theme = useApp((s) => s.theme);

  useLayoutEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  useEffect(() => {
    // Once per page load (StrictMode runs effects twice in development).
    if (!useApp.getState().client && !connecting) connecting = startConnection().finally(() => (connecting = null));
  }, []);

  useHotkeys({
    'g o': () => navigate('/overview'),
    'g r': () => navigate('/runs'),
    'g w': () => navigate('/workflows'),
    'g k': () => navigate('/workers'),
    'g e': () => navigate('/events'),
    'g l': () => navigate('/logs'),
    'g c': () => {
      if (desktopConnections()) navigate('/connections');
    },
    '/': () => focusFilter(),
    t: () => useApp.getState().toggleTheme(),
  });

  if (needsToken) return <TokenScreen onToken={() => void startConnection()} rejected={tokenRejected} />;
  if (!client) return null;
  return (
    <div className="shell">
      <Sidebar />
      <main className="content">
        <Page />
      </main>
      <Notices />
    </div>
  );
}

function Page() {
  const route = useRoute();
  const [section, id, ...rest] = route.path;
  const connections = useMemo(() => desktopConnections(), []);
  // A path this console does not have gets a page saying so, not another page in its place.
  if (rest.length > 0) return <NotFoundPage path={route.path} />;
  switch (section) {
    case undefined:
    case 'runs':
      return id ? <RunDetailPage key={id} runId={id} query={route.query} /> : <RunsPage query={route.query} />;
    case 'overview':
      return id ? <NotFoundPage path={route.path} /> : <OverviewPage query={route.query} />;
    case 'workflows':
      return <WorkflowsPage name={id ?? null} query={route.query} />;
    case 'workers':
      return id ? <NotFoundPage path={route.path} /> : <WorkersPage />;
    case 'events':
      return id ? <NotFoundPage path={route.path} /> : <EventsPage query={route.query} />;
    case 'logs':
      return id ? <NotFoundPage path={route.path} /> : <LogsPage query={route.query} />;
    case 'connections':
      return connections && !id ? <ConnectionsPage connections={connections} /> : <NotFoundPage path={route.path} />;
    default:
      return <NotFoundPage path={route.path} />;
  }
}
