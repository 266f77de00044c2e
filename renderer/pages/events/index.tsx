import { useEffect, useState } from 'react';
import type { EventListPage } from '../../../shared/admin-api.ts';
import { JsonView } from '../../components/json-view.tsx';
import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { shortId } from '../../format.ts';
import { useAction, useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useHotkeys, useListKeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate, withQuery } from '../../router.ts';
import { useApp, useClient } from '../../state/app-store.ts';

type EventRow = EventListPage['events'][number];

export function EventsPage({ query }: { query: URLSearchParams }) {
  const client = useClient();
  const notify = useApp((s) => s.notify);
  const key = query.get('key') ?? '';
  const [typed, setTyped] = useState(key);
  useEffect(() => setTyped(key), [key]);
  const [limit, setLimit] = useState(100);
  const events = useAdminQuery(`eventsList:${key}:${limit}`, (c) => c.call('eventsList', { ...(key ? { key } : {}), limit }), {
    refreshOn: (c) => c.runIds.length > 0,
    keepPrevious: true,
  });
  const [expanded, setExpanded] = useState<string | null>(null);
  const { pending, act } = useAction();
  const list = events.data?.events ?? [];
  const [active] = useListKeys(list.length, (i) => list[i] && setExpanded(list[i].id === expanded ? null : list[i].id));
  useHotkeys({ Escape: () => setExpanded(null) });

  const replay = async (e: EventRow) => {
    const result = await act('Replay event', () => client.call('eventReplay', { eventId: e.id }));
    if (!result) return;
    notify('info', result.runIds.length ? `Event replayed: ${result.runIds.length} run(s) triggered` : 'Event replayed: no workflow matches its key now');
    events.refresh();
  };
  return (
    <div className="page" data-testid="page-events">
      <PageHeader title="Events" refreshing={events.refreshing && !!events.data} subtitle="Events pushed to the engine, newest first, with the runs each one triggered." />
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(withQuery('/events', { key: typed.trim() }), { replace: true });
        }}
      >
        <input className="input" placeholder="Exact event key, e.g. order:created   ( / )" value={typed} onChange={(e) => setTyped(e.target.value)} data-hotkey-filter data-testid="event-key-filter" />
        <button className="btn btn-small" type="submit">
          Filter
        </button>
        {key && (
          <button type="button" className="btn btn-ghost btn-small" onClick={() => navigate('/events', { replace: true })}>
            Clear
          </button>
        )}
      </form>
      {events.data && <StaleBanner error={events.error} />}
      {events.loading ? (
        <LoadingState what="events" />
      ) : events.error && !events.data ? (
        <ErrorState error={events.error} retry={events.refresh} />
      ) : list.length === 0 ? (
        <EmptyState title={key ? `No events with key "${key}"` : 'No events yet'} testId="events-empty">
          Push one from code with <code>await cleaver.events.push('order:created', {'{ id: 1 }'})</code> or from a shell with{' '}
          <code>cleaver events push order:created --payload '{'{"id":1}'}'</code>. Workflows declared with <code>on: {'{ events: [\'order:*\'] }'}</code> run for each
          matching event.
        </EmptyState>
      ) : (
        <div className="table static-table">
          <div className="thead">
            <div className="cell" style={{ flex: 2 }}>Key</div>
            <div className="cell" style={{ width: 110 }}>Event</div>
            <div className="cell" style={{ flex: 3 }}>Runs triggered</div>
            <div className="cell" style={{ width: 130 }}>Received</div>
            <div className="cell" style={{ width: 90 }} />
          </div>
          {list.map((e, i) => (
            <div key={e.id} data-testid="events-row" data-key={e.key}>
              <div className={`row row-static ${active === i ? 'row-active' : ''}`} onClick={() => setExpanded(expanded === e.id ? null : e.id)}>
                <div className="cell strong mono" style={{ flex: 2 }}>
                  {e.key}
                </div>
                <div className="cell mono muted" style={{ width: 110 }} title={e.id}>
                  {shortId(e.id)}
                </div>
                <div className="cell" style={{ flex: 3 }} onClick={(ev) => ev.stopPropagation()}>
                  {e.runIds.length === 0 ? (
                    <span className="muted">none matched</span>
                  ) : (
                    e.runIds.slice(0, 6).map((id) => (
                      <a key={id} className="meta-tag mono" href={href('runs', id)} data-testid="event-run-link">
                        {shortId(id)}
                      </a>
                    ))
                  )}
                  {e.runIds.length > 6 && (
                    <a className="small" href={withQuery('#/runs', { event: e.id })} title="all runs this event triggered">
                      +{e.runIds.length - 6} more
                    </a>
                  )}
                </div>
                <div className="cell muted" style={{ width: 130 }}>
                  <RelativeTime iso={e.createdAt} />
                  {e.replayedAt && <span className="small" title="replayed"> ↻</span>}
                </div>
                <div className="cell" style={{ width: 90 }} onClick={(ev) => ev.stopPropagation()}>
                  <button className="btn btn-small" disabled={pending} onClick={() => void replay(e)} data-testid="event-replay">
                    Replay
                  </button>
                </div>
              </div>
              {expanded === e.id && (
                <div className="row-expanded">
                  <div>
                    <h3 className="section-title">Payload</h3>
                    <JsonView value={e.payload} />
                  </div>
                  <div>
                    <h3 className="section-title">Metadata</h3>
                    <JsonView value={Object.keys(e.metadata).length ? e.metadata : null} empty="none" />
                  </div>
                </div>
              )}
            </div>
          ))}
          {events.data?.nextCursor && (
            <div className="load-more">
              <button className="btn btn-small" onClick={() => setLimit((l) => Math.min(1000, l + 100))} disabled={limit >= 1000}>
                Show more
              </button>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
