import { prettyJson } from '../format.ts';

export function JsonView({ value, testId, empty = 'null' }: { value: unknown; testId?: string; empty?: string }) {
  if (value === null || value === undefined) return <div className="muted mono small">{empty}</div>;
  return (
    <pre className="code" data-testid={testId}>
      {prettyJson(value)}
    </pre>
  );
}
