import { useEffect, useRef, useState } from 'react';
import type { RunStatus } from '../../../../shared/types.ts';
import { useHotkeys } from '../../../hooks/use-hotkeys.ts';
import { parseMetadata, RUN_STATUSES, TIME_RANGES, TRIGGER_KINDS, type RunsQuery } from '../filters.ts';

export function RunFilters({ value, workflows, onChange }: { value: RunsQuery; workflows: string[]; onChange(next: RunsQuery): void }) {
  const [metadata, setMetadata] = useState(value.metadata);
  useEffect(() => setMetadata(value.metadata), [value.metadata]);
  const problem = parseMetadata(metadata).problem;
  const toggle = (status: RunStatus) =>
    onChange({ ...value, statuses: value.statuses.includes(status) ? value.statuses.filter((s) => s !== status) : [...value.statuses, status] });
  const active = value.workflow || value.statuses.length || value.range || value.metadata || value.trigger || value.eventId;
  return (
    <div className="filters" data-testid="run-filters">
      <select className="select" value={value.workflow} onChange={(e) => onChange({ ...value, workflow: e.target.value })} data-testid="workflow-filter" aria-label="Workflow">
        <option value="">All workflows</option>
        {workflows.map((w) => (
          <option key={w} value={w}>
            {w}
          </option>
        ))}
      </select>
      <StatusMenu selected={value.statuses} onToggle={toggle} onClear={() => onChange({ ...value, statuses: [] })} />
      <select className="select" value={value.range} onChange={(e) => onChange({ ...value, range: e.target.value })} data-testid="range-filter" aria-label="Time range">
        {TIME_RANGES.map((r) => (
          <option key={r.id} value={r.id}>
            {r.label}
          </option>
        ))}
      </select>
      <select className="select" value={value.trigger} onChange={(e) => onChange({ ...value, trigger: e.target.value as RunsQuery['trigger'] })} data-testid="trigger-filter" aria-label="Trigger">
        <option value="">Any trigger</option>
        {TRIGGER_KINDS.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
      <form
        className="meta-filter"
        onSubmit={(e) => {
          e.preventDefault();
          if (!problem) onChange({ ...value, metadata });
        }}
      >
        <input
          className={`input ${problem ? 'input-invalid' : ''}`}
          placeholder="metadata  key=value, …   ( / )"
          value={metadata}
          onChange={(e) => setMetadata(e.target.value)}
          onBlur={() => !problem && metadata !== value.metadata && onChange({ ...value, metadata })}
          data-hotkey-filter
          data-testid="metadata-filter"
          title={problem ?? 'Runs whose metadata has every key=value pair; Enter to apply'}
          aria-invalid={problem ? true : undefined}
        />
      </form>
      {value.eventId && (
        <span className="meta-tag">
          event {value.eventId.slice(-8)}
          <button className="chip-x" onClick={() => onChange({ ...value, eventId: '' })} aria-label="Remove the event filter">
            ✕
          </button>
        </span>
      )}
      {active ? (
        <button className="btn btn-ghost btn-small" onClick={() => onChange({ workflow: '', statuses: [], range: '', metadata: '', trigger: '', eventId: '' })}>
          Clear filters
        </button>
      ) : null}
    </div>
  );
}

function StatusMenu({ selected, onToggle, onClear }: { selected: RunStatus[]; onToggle(s: RunStatus): void; onClear(): void }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (!ref.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  useHotkeys({ Escape: () => setOpen(false) });
  const label = selected.length === 0 ? 'Any status' : selected.length <= 2 ? selected.join(', ') : `${selected.length} statuses`;
  return (
    <div className="menu" ref={ref}>
      <button className={`select menu-button ${selected.length ? 'menu-button-active' : ''}`} onClick={() => setOpen(!open)} data-testid="status-filter" aria-haspopup="listbox" aria-expanded={open}>
        <span className="truncate">{label}</span>
        <span className="chevron" aria-hidden>
          ▾
        </span>
      </button>
      {open && (
        <div className="menu-popup" role="listbox" aria-multiselectable>
          {RUN_STATUSES.map((s) => (
            <label key={s} className="menu-item" data-testid={`status-option-${s}`}>
              <input type="checkbox" checked={selected.includes(s)} onChange={() => onToggle(s)} />
              <span className={`dot dot-${s}`} />
              {s}
            </label>
          ))}
          <div className="menu-sep" />
          <button className="menu-item menu-clear" onClick={onClear}>
            Any status
          </button>
        </div>
      )}
    </div>
  );
}
