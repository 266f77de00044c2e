import type { TaskError } from '../../shared/types.ts';

/** A task's or a run's error: its name and message, and its stack, wrapped to the box rather than scrolled sideways. */
export function ErrorDetails({ error, testId }: { error: TaskError; testId?: string }) {
  return (
    <div className="error-box" data-testid={testId}>
      <div className="error-message">
        {error.name ? <span className="error-name">{error.name}: </span> : null}
        {error.message}
      </div>
      {error.stack && (
        <pre className="stack" data-testid="error-stack">
          {error.stack}
        </pre>
      )}
    </div>
  );
}
