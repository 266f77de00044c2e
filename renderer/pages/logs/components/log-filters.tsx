import { useEffect, useState } from 'react';
import { WorkflowSelect } from '../../../components/workflow-select.tsx';
import { EMPTY_LOGS_QUERY, isFiltered, LOG_LEVELS, LOG_TIME_RANGES, rangeProblem, type LogsQuery } from '../filters.ts';

/** The search box (applied on Enter), the level chips, the workflow and the time range. */
export function LogFilters({ value, workflows, onChange }: { value: LogsQuery; workflows: string[]; onChange(next: LogsQuery): void }) {
  const [text, setText] = useState(value.text);
  useEffect(() => setText(value.text), [value.text]);
  const problem = rangeProblem(value);
  const toggle = (level: LogsQuery['levels'][number]) =>
    onChange({ ...value, levels: value.levels.includes(level) ? value.levels.filter((l) => l !== level) : LOG_LEVELS.filter((l) => l === level || value.levels.includes(l)) });
  return (
    <div className="filters log-filters" data-testid="log-filters">
      <form
        className="log-search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          onChange({ ...value, text });
        }}
      >
        <input
          className="input log-search-input"
          type="search"
          placeholder='Words or "a phrase" in messages and fields   ( / )'
          value={text}
          onChange={(e) => setText(e.target.value)}
          data-hotkey-filter
          data-testid="log-search"
          aria-label="Search log lines"
        />
        <button className="btn btn-small" type="submit" data-testid="log-search-submit">
          Search
        </button>
      </form>
      <div className="log-levels" role="group" aria-label="Levels">
        {LOG_LEVELS.map((level) => (
          <button
            key={level}
            type="button"
            className={`chip log-level-chip log-level-chip-${level} ${value.levels.includes(level) ? 'chip-active' : ''}`}
            aria-pressed={value.levels.includes(level)}
            onClick={() => toggle(level)}
            data-testid={`log-level-${level}`}
          >
            {level}
          </button>
        ))}
      </div>
      <WorkflowSelect value={value.workflow} workflows={workflows} onChange={(workflow) => onChange({ ...value, workflow })} testId="log-workflow-filter" />
      <select className="select" value={value.range} onChange={(e) => onChange({ ...value, range: e.target.value })} data-testid="log-range-filter" aria-label="Time range">
        {LOG_TIME_RANGES.map((r) => (
          <option key={r.id} value={r.id}>
            {r.label}
          </option>
        ))}
      </select>
      {value.range === 'custom' && (
        <span className="log-range" title={problem ?? 'Lines written from the first time up to (not including) the second; either may be left empty'}>
          <input className={`input log-time ${problem ? 'input-invalid' : ''}`} type="datetime-local" step={1} value={value.from} onChange={(e) => onChange({ ...value, from: e.target.value })} aria-label="From" data-testid="log-from" />
          <span className="muted">to</span>
          <input className={`input log-time ${problem ? 'input-invalid' : ''}`} type="datetime-local" step={1} value={value.to} onChange={(e) => onChange({ ...value, to: e.target.value })} aria-label="To" data-testid="log-to" />
          {problem && <span className="small log-range-problem">{problem}</span>}
        </span>
      )}
      {isFiltered(value) && (
        <button className="btn btn-ghost btn-small" onClick={() => onChange(EMPTY_LOGS_QUERY)}>
          Clear
        </button>
      )}
    </div>
  );
}
