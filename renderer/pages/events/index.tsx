import { useEffect, useState } from 'react';
import type { EventListPage } from '../../../shared/admin-api.ts';
import { ConfirmDialog } from '../../components/confirm-dialog.tsx';
import { JsonView } from '../../components/json-view.tsx';
import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { EmptyState, ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { shortId } from '../../format.ts';
import { useAction, useAdminQuery } from '../../hooks/use-admin-query.ts';
import { useHotkeys, useListKeys } from '../../hooks/use-hotkeys.ts';
import { href, navigate, withQuery } from '../../router.ts';
import { useApp, useClient } from '../../state/app-store.ts';
import { plural } from '../../words.ts';
import './events.css';

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

  const [replaying, setReplaying] = useState<EventRow | null>(null);
  const replay = async (e: EventRow) => {
    const result = await act('Replay event', () => client.call('eventReplay', { eventId: e.id }));
    setReplaying(null);
    if (!result) return;
    notify('info', result.runIds.length ? `Event ${e.key} replayed: ${plural(result.runIds.length, 'run')} triggered` : `Event ${e.key} replayed: no workflow matches its key now, so nothing ran`);
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
      {replaying && (
        <ConfirmDialog
          title={`Replay event ${replaying.key}?`}
          confirmLabel="Replay the event"
          pending={pending}
          onConfirm={() => void replay(replaying)}
          onClose={() => setReplaying(null)}
          testId="event-replay-dialog"
        >
          <p>
            Triggers, again, every workflow whose event pattern matches <code>{replaying.key}</code> now, each with this event's payload and metadata: one new run per
            workflow. The runs it triggered before are left as they are.
          </p>
          <p className="muted">
            It triggered {plural(replaying.runIds.length, 'run')} so far{replaying.replayedAt ? ', replays included' : ''}.
          </p>
        </ConfirmDialog>
      )}
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
            <div className="cell cell-expand" />
            <div className="cell" style={{ flex: 2 }}>Key</div>
            <div className="cell" style={{ width: 110 }}>Event</div>
            <div className="cell" style={{ flex: 3 }}>Runs triggered</div>
            <div className="cell" style={{ width: 130 }}>Received</div>
            <div className="cell" style={{ width: 104 }} />
          </div>
          {list.map((e, i) => {
            const open = expanded === e.id;
            const toggle = () => setExpanded(open ? null : e.id);
            return (
              <div key={e.id} data-testid="events-row" data-key={e.key}>
                {/* The whole row opens the payload; links and buttons inside it keep their own clicks. */}
                <div
                  className={`row row-static row-expandable ${active === i ? 'row-active' : ''} ${open ? 'row-open' : ''}`}
                  onClick={toggle}
                  data-testid="events-row-main"
                >
                  <div className="cell cell-expand">
                    <button
                      className={`expander-icon ${open ? 'expander-open' : ''}`}
                      onClick={(ev) => {
                        ev.stopPropagation();
                        toggle();
                      }}
                      aria-expanded={open}
                      aria-label={`${open ? 'Hide' : 'Show'} the payload of ${e.key}`}
                      data-testid="event-expand"
                    >
                      <span className="chevron-icon" aria-hidden>
                        ▸
                      </span>
                    </button>
                  </div>
                  <div className="cell strong mono" style={{ flex: 2 }}>
                    {e.key}
                  </div>
                  <div className="cell mono muted" style={{ width: 110 }} title={e.id}>
                    {shortId(e.id)}
                  </div>
                  <div className="cell" style={{ flex: 3 }}>
                    {e.runIds.length === 0 ? (
                      <span className="muted">none matched</span>
                    ) : (
                      e.runIds.slice(0, 6).map((id) => (
                        <a key={id} className="meta-tag mono" href={href('runs', id)} data-testid="event-run-link" onClick={(ev) => ev.stopPropagation()}>
                          {shortId(id)}
                        </a>
                      ))
                    )}
                    {e.runIds.length > 6 && (
                      <a className="small" href={withQuery('#/runs', { event: e.id })} title="all runs this event triggered" onClick={(ev) => ev.stopPropagation()}>
                        +{e.runIds.length - 6} more
                      </a>
                    )}
                  </div>
                  <div className="cell muted" style={{ width: 130 }}>
                    <RelativeTime iso={e.createdAt} />
                    {e.replayedAt && <span className="small" title="replayed"> ↻</span>}
                  </div>
                  <div className="cell" style={{ width: 104 }}>
                    <button
                      className="btn btn-small"
                      disabled={pending}
                      onClick={(ev) => {
                        ev.stopPropagation();
                        setReplaying(e);
                      }}
                      data-testid="event-replay"
                    >
                      Replay…
                    </button>
                  </div>
                </div>
                {open && (
                  <div className="row-expanded" data-testid="event-details">
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
            );
          })}
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
