import { useState } from 'react';
import type { WorkerRecord } from '../../../shared/admin-api.ts';
import { PageHeader } from '../../components/page-header.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { ErrorState, LoadingState, StaleBanner } from '../../components/states.tsx';
import { StatusPill } from '../../components/status-pill.tsx';
import { useAdminQuery } from '../../hooks/use-admin-query.ts';
import { NoWorkers } from './components/no-workers.tsx';

export function WorkersPage() {
  const [showGone, setShowGone] = useState(false);
  const workers = useAdminQuery(`workersList:${showGone}`, (c) => c.call('workersList', { includeDisconnected: showGone }), {
    // Slots in use change with every assignment and finish, which the feed reports as run changes.
    refreshOn: (c) => c.workers || c.runIds.length > 0,
    keepPrevious: true,
  });
  const list = workers.data?.workers ?? [];
  const connected = list.filter((w) => w.status !== 'disconnected');
  const busy = connected.reduce((n, w) => n + w.busy, 0);
  const held = connected.reduce((n, w) => n + w.held, 0);
  const slots = connected.reduce((n, w) => n + w.slots, 0);
  return (
    <div className="page" data-testid="page-workers">
      <PageHeader
        title="Workers"
        refreshing={workers.refreshing && !!workers.data}
        subtitle={workers.data ? `${connected.length} connected · ${busy} of ${slots} slots in use${held > 0 ? ` · ${held} held waiting for a slot` : ''}` : undefined}
        actions={
          <label className="checkbox-label">
            <input type="checkbox" checked={showGone} onChange={(e) => setShowGone(e.target.checked)} data-testid="show-disconnected" /> Show disconnected
          </label>
        }
      />
      {workers.data && <StaleBanner error={workers.error} />}
      {workers.loading ? (
        <LoadingState what="workers" />
      ) : workers.error && !workers.data ? (
        <ErrorState error={workers.error} retry={workers.refresh} />
      ) : list.length === 0 ? (
        <NoWorkers />
      ) : (
        <div className="worker-list">
          {list.map((w) => (
            <WorkerCard key={w.id} worker={w} />
          ))}
        </div>
      )}
    </div>
  );
}

function WorkerCard({ worker: w }: { worker: WorkerRecord }) {
  const pct = w.slots ? Math.min(100, (w.busy / w.slots) * 100) : 0;
  const labels = Object.entries(w.labels);
  return (
    <div className={`card worker ${w.status === 'disconnected' ? 'worker-gone' : ''}`} data-testid="workers-row" data-name={w.name}>
      <div className="worker-head">
        <div>
          <div className="strong worker-name">{w.name}</div>
          <div className="muted small mono" title={w.id}>
            {w.address}
          </div>
        </div>
        <StatusPill status={w.status} />
      </div>
      <div className="worker-stats">
        <div className="slots" title={`${w.busy} of ${w.slots} slots in use${w.held > 0 ? `; ${w.held} more held in the worker until a slot frees (prefetch)` : ''}`}>
          <div className="slots-label">
            <span className="muted small">Slots</span>
            <span className="mono" data-testid="worker-slots">
              {w.busy}/{w.slots}
              {w.held > 0 && <span className="muted"> +{w.held} held</span>}
            </span>
          </div>
          <div className="slots-bar">
            <div className="slots-fill" style={{ width: `${pct}%` }} />
          </div>
        </div>
        <div>
          <div className="muted small">Last heartbeat</div>
          <div>
            <RelativeTime iso={w.lastHeartbeatAt} />
          </div>
        </div>
        <div>
          <div className="muted small">{w.disconnectedAt ? 'Disconnected' : 'Connected'}</div>
          <div>
            <RelativeTime iso={w.disconnectedAt ?? w.connectedAt} />
          </div>
        </div>
      </div>
      <div className="worker-actions">
        <span className="muted small">Actions </span>
        {w.actions.map((a) => (
          <span key={a} className="meta-tag mono">
            {a}
          </span>
        ))}
      </div>
      {labels.length > 0 && (
        <div className="worker-actions">
          <span className="muted small">Labels </span>
          {labels.map(([k, v]) => (
            <span key={k} className="meta-tag">
              {k}={v}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}
