/** What a log line shows beside its message, on the Logs page and in the task panel: its fields, and the cap's marker. */
import type { ReactNode } from 'react';
import type { LogTruncation } from '../../shared/admin-api.ts';
import type { Json } from '../../shared/types.ts';
import { formatBytes } from '../format.ts';
import { plural } from '../words.ts';
import './log-parts.css';

/** Longer values are cut here (the whole value is in the tooltip). */
const VALUE_CHARS = 120;

/**
 * ctx.logger's fields as key=value chips; nested values as their JSON. `highlight` marks a search's
 * words in them (the search looks in fields too, so a line may have matched on a field alone).
 */
export function LogFields({ fields, highlight = (text) => text }: { fields: Record<string, Json> | null; highlight?: (text: string) => ReactNode }) {
  if (!fields) return null;
  return (
    <span className="log-fields" data-testid="log-fields">
      {Object.entries(fields).map(([key, value]) => {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        return (
          <span key={key} className="log-field" title={`${key}=${text}`}>
            <span className="log-field-key">{highlight(key)}</span>=<span className="log-field-value">{highlight(text.length > VALUE_CHARS ? `${text.slice(0, VALUE_CHARS)}…` : text)}</span>
          </span>
        );
      })}
    </span>
  );
}

/** The marker where a task run's log reached its cap: what was kept, and what has been dropped since. */
export function TruncatedMark({ truncated }: { truncated: LogTruncation }) {
  return (
    <span className="log-truncated" data-testid="log-truncated" title={`The engine keeps the first ${plural(truncated.maxLines, 'line')} or ${formatBytes(truncated.maxBytes)} of each task run's log (maxLogLinesPerTaskRun, maxLogBytesPerTaskRun).`}>
      <span className="log-truncated-label">truncated</span>
      <span>
        {plural(truncated.droppedLines, 'more line')} ({formatBytes(truncated.droppedBytes)}) dropped after the first {plural(truncated.keptLines, 'line')}: the cap is {plural(truncated.maxLines, 'line')} or{' '}
        {formatBytes(truncated.maxBytes)} per task run
      </span>
    </span>
  );
}
