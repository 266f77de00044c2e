/** One connection in the list: what and where it is, how it is used, and what can be done with it. */
import type { ReactNode } from 'react';
import type { ConnectionMode } from '../../../../shared/connections-api.ts';
import { Spinner } from '../../../components/states.tsx';

export function ConnectionRow({
  id,
  name,
  where,
  whereIsUrl = true,
  mode,
  details,
  current,
  connecting,
  busy,
  onConnect,
  actions,
}: {
  id: string;
  name: string;
  where: ReactNode;
  /** A URL is shown in monospace; a description is not. */
  whereIsUrl?: boolean;
  mode: ConnectionMode;
  details?: ReactNode;
  current: boolean;
  /** This row's switch is under way. */
  connecting: boolean;
  /** Some switch is under way: no other may start. */
  busy: boolean;
  onConnect(): void;
  actions?: ReactNode;
}) {
  return (
    <div className={current ? 'conn-row conn-row-current' : 'conn-row'} data-testid="connection-row" data-id={id} data-current={current ? 'true' : 'false'}>
      <span className={current ? 'conn-mark conn-mark-on' : 'conn-mark'} aria-hidden />
      <div className="conn-main">
        <div className="conn-title">
          <span className="strong">{name}</span>
          {current && (
            <span className="pill pill-active" data-testid="connection-current">
              <span className="pill-dot" />
              Connected
            </span>
          )}
          <span className={mode === 'administer' ? 'tag conn-tag-admin' : 'tag'}>{mode === 'administer' ? 'Administer only' : 'Runs engine here'}</span>
        </div>
        <div className={whereIsUrl ? 'conn-where mono' : 'conn-where'}>{where}</div>
        {details && <div className="conn-details">{details}</div>}
      </div>
      <div className="conn-actions">
        {actions}
        {current ? (
          // Keeps the other rows' buttons lined up; the pill already says this one is connected.
          <span className="conn-connect-slot" aria-hidden />
        ) : (
          <button className="btn conn-connect" disabled={busy} onClick={onConnect} data-testid="connection-connect">
            {connecting ? (
              <>
                <Spinner label="connecting" /> Connecting…
              </>
            ) : (
              'Connect'
            )}
          </button>
        )}
      </div>
    </div>
  );
}
