/** The loading, empty and error states every list shares, and the spinner shown over stale data. */
import type { ReactNode } from 'react';

export function Spinner({ label }: { label?: string }) {
  return <span className="spinner" role="status" aria-label={label ?? 'loading'} />;
}

export function LoadingState({ what }: { what: string }) {
  return (
    <div className="state" data-testid="state-loading">
      <Spinner />
      <span>Loading {what}…</span>
    </div>
  );
}

export function EmptyState({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="state state-empty" data-testid={testId ?? 'state-empty'}>
      <div className="state-title">{title}</div>
      {children && <div className="state-body">{children}</div>}
    </div>
  );
}

export function ErrorState({ error, retry }: { error: Error; retry?: () => void }) {
  const code = (error as { code?: string }).code;
  return (
    <div className="state state-error" data-testid="state-error" role="alert">
      <div className="state-title">Could not load{code ? ` (${code})` : ''}</div>
      <div className="state-body">{error.message}</div>
      {retry && (
        <button className="btn" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A thin notice above data that could not be refreshed: the last good data stays visible below it. */
export function StaleBanner({ error }: { error: Error | null }) {
  if (!error) return null;
  return (
    <div className="stale-banner" role="alert">
      Showing the last data received — refresh failed: {error.message}
    </div>
  );
}
