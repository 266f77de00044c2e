/** Triggers a run of the workflow's latest version with a JSON input (and optional metadata), then opens it. */
import { useState } from 'react';
import type { Json } from '../../../../shared/types.ts';
import { checkJson } from '../../../components/json-check.ts';
import { JsonEditor } from '../../../components/json-editor.tsx';
import { useAction } from '../../../hooks/use-admin-query.ts';
import { navigate } from '../../../router.ts';
import { useClient } from '../../../state/app-store.ts';

function metadataProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'Metadata must be a JSON object of string values, e.g. {"customer": "acme"}';
  const bad = Object.entries(value).find(([, v]) => typeof v !== 'string');
  return bad ? `Metadata values must be strings: "${bad[0]}" is ${JSON.stringify(bad[1])}` : undefined;
}

export function TriggerForm({ name }: { name: string }) {
  const client = useClient();
  const [input, setInput] = useState('{\n  \n}');
  const [metadata, setMetadata] = useState('');
  const [showMeta, setShowMeta] = useState(false);
  const [serverError, setServerError] = useState<string | null>(null);
  const { pending, act } = useAction();
  const inputCheck = checkJson(input.trim() ? input : '{}');
  const metaCheck = metadata.trim() ? checkJson(metadata) : null;
  const problem = !inputCheck.ok
    ? 'The input is not valid JSON (see the line marked above).'
    : metaCheck && !metaCheck.ok
      ? 'The metadata is not valid JSON.'
      : metadataProblem(metaCheck?.ok ? metaCheck.value : undefined);

  const trigger = async () => {
    if (problem || !inputCheck.ok) return;
    setServerError(null);
    const result = await act('Trigger', () =>
      client
        .call('workflowTrigger', { name, input: inputCheck.value as Json, ...(metaCheck?.ok ? { metadata: metaCheck.value as Record<string, string> } : {}) })
        .catch((e: unknown) => {
          setServerError((e as Error).message);
          throw e;
        }),
    );
    if (result) navigate(`/runs/${result.runId}`);
  };
  return (
    <form
      className="trigger-form"
      onSubmit={(e) => {
        e.preventDefault();
        void trigger();
      }}
      data-testid="trigger-form"
    >
      <label className="field-label" htmlFor="trigger-input">
        Input (JSON; empty means {'{}'})
      </label>
      <JsonEditor id="trigger-input" value={input} onChange={setInput} onSubmit={() => void trigger()} minLines={7} testId="trigger-input" />
      {showMeta ? (
        <>
          <label className="field-label" htmlFor="trigger-metadata">
            Metadata (JSON object of strings, optional)
          </label>
          <JsonEditor id="trigger-metadata" value={metadata} onChange={setMetadata} onSubmit={() => void trigger()} minLines={3} optional placeholder='{"customer": "acme"}' testId="trigger-metadata" />
        </>
      ) : (
        <button type="button" className="btn btn-ghost btn-small link-button" onClick={() => setShowMeta(true)}>
          + Add metadata
        </button>
      )}
      {problem && (
        <div className="field-error" role="alert" data-testid="trigger-problem">
          {problem}
        </div>
      )}
      {serverError && !problem && (
        <div className="field-error" role="alert" data-testid="trigger-error">
          {serverError}
        </div>
      )}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={pending || !!problem} data-testid="trigger-button">
          {pending ? 'Triggering…' : 'Trigger run'}
        </button>
        <span className="muted small">
          <kbd>Ctrl</kbd>+<kbd>Enter</kbd>
        </span>
      </div>
    </form>
  );
}
