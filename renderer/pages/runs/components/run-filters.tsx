import { useEffect, useRef, useState } from 'react';
import { WorkflowSelect } from '../../../components/workflow-select.tsx';
import { shortId } from '../../../format.ts';
import { useHotkeys } from '../../../hooks/use-hotkeys.ts';
import { MAX_RUN_SEARCH_LENGTH } from '../../../../shared/admin-api.ts';
import { EMPTY_QUERY, isFiltered, parseMetadata, RUN_STATUSES, searchProblem, TIME_RANGES, TRIGGER_KINDS, type RunsQuery } from '../filters.ts';

/** How long typing pauses before the search is asked for: one query per word, not per key. */
const SEARCH_DEBOUNCE_MS = 350;

export function RunFilters({ value, workflows, onChange }: { value: RunsQuery; workflows: string[]; onChange(next: RunsQuery): void }) {
  const [metadata, setMetadata] = useState(value.metadata);
  useEffect(() => setMetadata(value.metadata), [value.metadata]);
  const problem = parseMetadata(metadata).problem;
  const toggled = <T,>(list: T[], item: T): T[] => (list.includes(item) ? list.filter((x) => x !== item) : [...list, item]);
  return (
    <div className="filters" data-testid="run-filters">
      <SearchBox value={value.search} onApply={(search) => onChange({ ...value, search })} />
      <WorkflowSelect value={value.workflow} workflows={workflows} onChange={(workflow) => onChange({ ...value, workflow })} testId="workflow-filter" />
      <MultiMenu
        what="status"
        options={RUN_STATUSES}
        selected={value.statuses}
        onToggle={(s) => onChange({ ...value, statuses: toggled(value.statuses, s) })}
        onClear={() => onChange({ ...value, statuses: [] })}
        anyLabel="Any status"
        dots
      />
      <select className="select" value={value.range} onChange={(e) => onChange({ ...value, range: e.target.value })} data-testid="range-filter" aria-label="Time range">
        {TIME_RANGES.map((r) => (
          <option key={r.id} value={r.id}>
            {r.label}
          </option>
        ))}
      </select>
      <MultiMenu
        what="trigger"
        options={TRIGGER_KINDS}
        selected={value.triggers}
        onToggle={(t) => onChange({ ...value, triggers: toggled(value.triggers, t) })}
        onClear={() => onChange({ ...value, triggers: [] })}
        anyLabel="Any trigger"
      />
      <select
        className="select"
        value={value.children}
        onChange={(e) => onChange({ ...value, children: e.target.value as RunsQuery['children'] })}
        data-testid="children-filter"
        aria-label="Child runs"
        disabled={!!value.parentRunId || value.triggers.includes('child')}
        title="Runs spawned by a task (ctx.runChild) are counted on their parent's row and listed under it; or list them with the others"
      >
        <option value="grouped">Child runs under their parent</option>
        <option value="all">Child runs listed too</option>
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
          placeholder="metadata  key=value, …"
          value={metadata}
          onChange={(e) => setMetadata(e.target.value)}
          onBlur={() => !problem && metadata !== value.metadata && onChange({ ...value, metadata })}
          data-testid="metadata-filter"
          title={problem ?? 'Runs whose metadata has every key=value pair; Enter to apply'}
          aria-invalid={problem ? true : undefined}
        />
      </form>
      {value.parentRunId && (
        <span className="meta-tag" data-testid="parent-filter">
          children of run {shortId(value.parentRunId)}
          <button className="chip-x" onClick={() => onChange({ ...value, parentRunId: '' })} aria-label="Remove the parent filter">
            ✕
          </button>
        </span>
      )}
      {value.eventId && (
        <span className="meta-tag">
          event {value.eventId.slice(-8)}
          <button className="chip-x" onClick={() => onChange({ ...value, eventId: '' })} aria-label="Remove the event filter">
            ✕
          </button>
        </span>
      )}
      {isFiltered(value) ? (
        <button className="btn btn-ghost btn-small" onClick={() => onChange({ ...EMPTY_QUERY, children: value.children })}>
          Clear filters
        </button>
      ) : null}
    </div>
  );
}

/**
 * Words to find in runs' input, metadata, output or error: applied when typing pauses, at once on Enter;
 * Escape clears it. A search the engine would refuse is marked and not asked for.
 */
function SearchBox({ value, onApply }: { value: string; onApply(search: string): void }) {
  const [typed, setTyped] = useState(value);
  useEffect(() => setTyped(value), [value]);
  const problem = searchProblem(typed);
  // The pending debounce, and the latest props for it to use when it fires: a timer started by a key
  // must neither outlive an Enter that applied the search already nor apply the filters of the render
  // that started it (changing the status right after Enter would be undone 350 ms later).
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef({ value, onApply });
  latest.current = { value, onApply };
  const cancel = () => {
    if (pending.current !== null) clearTimeout(pending.current);
    pending.current = null;
  };
  const apply = (search: string) => {
    cancel();
    if (search !== latest.current.value) latest.current.onApply(search);
  };
  useEffect(() => {
    if (typed === value || problem) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      apply(typed);
    }, SEARCH_DEBOUNCE_MS);
    return cancel;
  }, [typed]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <form
      className="search-filter"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (!problem) apply(typed);
      }}
    >
      <input
        className={`input ${problem ? 'input-invalid' : ''}`}
        type="search"
        placeholder="Search input, output, error   ( / )"
        value={typed}
        maxLength={MAX_RUN_SEARCH_LENGTH}
        onChange={(e) => setTyped(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && typed) {
            e.stopPropagation();
            setTyped('');
            apply('');
          }
        }}
        data-hotkey-filter
        data-testid="run-search"
        aria-label="Search runs"
        title={problem ?? 'Words of a run\'s input or metadata values, or of its tasks\' outputs or errors; the last word may be the start of one. Enter to search now'}
        aria-invalid={problem ? true : undefined}
      />
    </form>
  );
}

/** A dropdown of checkboxes: any number of statuses, or of trigger kinds. */
function MultiMenu<T extends string>(props: { what: string; options: readonly T[]; selected: T[]; onToggle(option: T): void; onClear(): void; anyLabel: string; dots?: boolean }) {
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
  const { selected } = props;
  const label = selected.length === 0 ? props.anyLabel : selected.length <= 2 ? selected.join(', ') : `${selected.length} ${props.what === 'status' ? 'statuses' : `${props.what}s`}`;
  return (
    <div className="menu" ref={ref}>
      <button
        className={`select menu-button ${selected.length ? 'menu-button-active' : ''}`}
        onClick={() => setOpen(!open)}
        data-testid={`${props.what}-filter`}
        aria-haspopup="listbox"
        aria-expanded={open}
        aria-label={props.what === 'status' ? 'Status' : 'Trigger'}
      >
        <span className="truncate">{label}</span>
        <span className="chevron" aria-hidden>
          ▾
        </span>
      </button>
      {open && (
        <div className="menu-popup" role="listbox" aria-multiselectable>
          {props.options.map((o) => (
            <label key={o} className="menu-item" data-testid={`${props.what}-option-${o}`}>
              <input type="checkbox" checked={selected.includes(o)} onChange={() => props.onToggle(o)} />
              {props.dots && <span className={`dot dot-${o}`} />}
              {o}
            </label>
          ))}
          <div className="menu-sep" />
          <button className="menu-item menu-clear" onClick={props.onClear}>
            {props.anyLabel}
          </button>
        </div>
      )}
    </div>
  );
}
