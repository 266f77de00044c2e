/**
 * Connections (desktop app only): the embedded database on this computer and the remote Postgres
 * profiles saved here; connecting switches the whole console at once, without a restart. main asks
 * for consent itself (a dialog) before migrating a remote database, and refuses a newer schema.
 */
import { useMemo, useState } from 'react';
import type { ConnectionProfile, ConnectionTarget } from '../../../shared/connections-api.ts';
import { toError } from '../../../shared/errors.ts';
import type { ConnectionsClient } from '../../api/connections-client.ts';
import { PageHeader } from '../../components/page-header.tsx';
import { ErrorState, LoadingState } from '../../components/states.tsx';
import { useApp } from '../../state/app-store.ts';
import { ConnectionForm } from './components/connection-form.tsx';
import { ConnectionRow } from './components/connection-row.tsx';
import { StorageWarning } from './components/storage-warning.tsx';
import { useConnections } from './hooks/use-connections.ts';
import './connections.css';

interface Failure {
  title: string;
  code: string | undefined;
  message: string;
}

/** What went wrong in words a person scans first; the message from main says what to do. */
function connectFailure(name: string, e: unknown): Failure {
  const error = toError(e);
  const code = (error as { code?: string }).code;
  const title =
    code === 'SCHEMA_TOO_NEW'
      ? `“${name}” needs a newer Cleaver`
      : code === 'BAD_REQUEST' && /declined/.test(error.message)
        ? `Not connected: “${name}” was not migrated`
        : `Could not connect to “${name}”`;
  return { title, code, message: error.message };
}

export function ConnectionsPage({ connections }: { connections: ConnectionsClient }) {
  const list = useConnections(connections);
  const [editing, setEditing] = useState<ConnectionProfile | 'new' | null>(null);
  const [switching, setSwitching] = useState<string | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  const notify = useApp((s) => s.notify);

  const current = list.data?.current;
  const currentId = current === undefined ? undefined : current === null ? null : current.kind === 'local' ? 'local' : current.id;
  const currentName = useMemo(() => {
    if (currentId === 'local') return 'This computer';
    return list.data?.profiles.find((p) => p.id === currentId)?.name;
  }, [currentId, list.data]);

  const connect = async (target: ConnectionTarget, name: string) => {
    const id = target === 'local' ? 'local' : target.profileId;
    setSwitching(id);
    setFailure(null);
    try {
      await connections.call('connectionOpen', { target });
      notify('info', `Connected to ${name}: every page now shows its data`);
    } catch (e: unknown) {
      setFailure(connectFailure(name, e));
    } finally {
      setSwitching(null);
      list.refresh();
    }
  };

  const remove = async (profile: ConnectionProfile) => {
    setRemoving(null);
    setFailure(null);
    try {
      await connections.call('connectionRemove', { id: profile.id });
      notify('info', `Removed “${profile.name}”`);
    } catch (e: unknown) {
      const error = toError(e);
      setFailure({ title: `Could not remove “${profile.name}”`, code: (error as { code?: string }).code, message: error.message });
    } finally {
      list.refresh();
    }
  };

  const busy = switching !== null;
  return (
    <div className="page conn-page" data-testid="page-connections">
      <PageHeader
        title="Connections"
        subtitle={currentName ? <>Showing <span className="strong" data-testid="connections-showing">{currentName}</span> · switching takes effect at once, no restart</> : 'Which database this console shows'}
        actions={
          <button className="btn btn-primary" onClick={() => setEditing('new')} disabled={editing !== null} data-testid="connection-add">
            + Add connection
          </button>
        }
      />
      {list.data?.storageWarning && <StorageWarning message={list.data.storageWarning} />}
      {failure && (
        <div className="conn-failure" role="alert" data-testid="connections-error">
          <div className="conn-failure-head">
            <span className="strong">{failure.title}</span>
            {failure.code && <span className="tag mono">{failure.code}</span>}
            <button className="btn btn-ghost btn-small conn-failure-close" onClick={() => setFailure(null)} aria-label="Dismiss">
              ✕
            </button>
          </div>
          <div className="conn-failure-body">{failure.message}</div>
        </div>
      )}
      {list.data && list.data.current === null && !busy && (
        <div className="conn-failure" role="alert" data-testid="connections-none">
          <div className="conn-failure-head">
            <span className="strong">No database is connected</span>
          </div>
          <div className="conn-failure-body">The last switch failed after the previous connection was closed. Connect to one of the databases below; “This computer” is always there.</div>
        </div>
      )}
      {editing !== null && (
        <ConnectionForm
          key={editing === 'new' ? 'new' : editing.id}
          connections={connections}
          profile={editing === 'new' ? null : editing}
          storageWarning={list.data?.storageWarning ?? null}
          onCancel={() => setEditing(null)}
          onSaved={(saved, andConnect) => {
            setEditing(null);
            list.refresh();
            if (andConnect) void connect({ profileId: saved.id }, saved.name);
            else notify('info', `Saved “${saved.name}”`);
          }}
        />
      )}
      {!list.data ? (
        list.error ? (
          <ErrorState error={list.error} retry={list.refresh} />
        ) : (
          <LoadingState what="connections" />
        )
      ) : (
        <div className="conn-list" data-testid="connection-list">
          <ConnectionRow
            id="local"
            name="This computer"
            where="Embedded database (PGlite) in Cleaver's data folder"
            whereIsUrl={false}
            mode="engine"
            details="Always available. Workers on this computer connect to it."
            current={currentId === 'local'}
            connecting={switching === 'local'}
            busy={busy}
            onConnect={() => void connect('local', 'This computer')}
          />
          {list.data.profiles.map((p) => (
            <ConnectionRow
              key={p.id}
              id={p.id}
              name={p.name}
              where={p.url}
              mode={p.mode}
              details={
                <>
                  <span>{p.schema ? <>schema <span className="mono">{p.schema}</span></> : 'default schema'}</span>
                  <span className="conn-dot">·</span>
                  <span>{p.hasPassword ? 'password saved' : 'no saved password'}</span>
                </>
              }
              current={currentId === p.id}
              connecting={switching === p.id}
              busy={busy}
              onConnect={() => void connect({ profileId: p.id }, p.name)}
              actions={
                removing === p.id ? (
                  <>
                    <span className="muted small">Remove “{p.name}”?</span>
                    <button className="btn btn-danger" onClick={() => void remove(p)} data-testid="connection-remove-confirm">
                      Remove
                    </button>
                    <button className="btn btn-ghost" onClick={() => setRemoving(null)}>
                      Keep
                    </button>
                  </>
                ) : (
                  <>
                    <button className="btn btn-ghost" onClick={() => setEditing(p)} disabled={editing !== null} data-testid="connection-edit">
                      Edit
                    </button>
                    <button className="btn btn-ghost btn-danger" onClick={() => setRemoving(p.id)} disabled={currentId === p.id} title={currentId === p.id ? 'Switch to another connection first' : undefined} data-testid="connection-remove">
                      Remove
                    </button>
                  </>
                )
              }
            />
          ))}
          {list.data.profiles.length === 0 && editing === null && (
            <div className="conn-empty" data-testid="connections-empty">
              <div className="strong">No remote databases yet</div>
              <div className="muted">
                Add a Postgres connection to administer the workflows of a server from here — choose <em>Administer only</em> for production — or to run an engine on a database of your own.
              </div>
              <button className="btn" onClick={() => setEditing('new')}>
                Add a connection
              </button>
            </div>
          )}
        </div>
      )}
    </div>
  );
}
