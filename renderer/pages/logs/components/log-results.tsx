import { Fragment, useMemo } from 'react';
import type { LogSearchLine } from '../../../../shared/admin-api.ts';
import { logSearchTerms } from '../../../../shared/task-log.ts';
import { LogFields, TruncatedMark } from '../../../components/log-parts.tsx';
import { dateTime, shortId } from '../../../format.ts';
import { withQuery } from '../../../router.ts';

/** The lines found, newest first; each names its workflow, task, run and attempt and links to the run at that task. */
export function LogResults({ lines, text, active }: { lines: LogSearchLine[]; text: string; active: number }) {
  const highlight = useMemo(() => highlighter(logSearchTerms(text)), [text]);
  return (
    <div className="log-results" data-testid="log-results">
      {lines.map((line, i) => {
        const at = dateTime(line.createdAt);
        return (
          <div
            key={line.id}
            className={`log-row ${line.truncated ? 'log-row-truncated' : ''} ${active === i ? 'row-active' : ''}`}
            data-testid="log-row"
            data-level={line.level}
            data-run-id={line.runId}
          >
            <span className="log-cell-time mono" title={`${at} (written by the worker)`}>
              <span className="log-date">{at.slice(0, 10)}</span> {at.slice(11)}
            </span>
            <span className={`log-level log-level-${line.level}`}>{line.level}</span>
            <span className="log-cell-source">
              <a className="log-run-link" href={runHref(line)} data-testid="log-run-link" title={`Open run ${line.runId} at task ${line.taskName}`}>
                <span className="strong">{line.workflowName}</span>
                {line.taskName !== line.workflowName && <span className="log-task"> · {line.taskName}</span>}
              </a>
              <span className="log-run mono">
                {shortId(line.runId)} · #{line.attempt}
              </span>
            </span>
            <span className="log-cell-message">
              {line.truncated ? <TruncatedMark truncated={line.truncated} /> : <span className="log-message">{highlight(line.message)}</span>}
              <LogFields fields={line.fields} highlight={highlight} />
            </span>
          </div>
        );
      })}
    </div>
  );
}

/** The run's page with the line's task open in the side panel. */
export function runHref(line: LogSearchLine): string {
  return `#${withQuery(`/runs/${encodeURIComponent(line.runId)}`, { task: line.taskName })}`;
}

/** Marks where the search's terms appear in a message (ignoring case, as the search does). */
function highlighter(terms: string[]): (message: string) => React.ReactNode {
  if (terms.length === 0) return (message) => message;
  const pattern = new RegExp(`(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
  return (message) =>
    message.split(pattern).map((part, i) => (i % 2 === 1 ? <mark key={i}>{part}</mark> : <Fragment key={i}>{part}</Fragment>));
}
