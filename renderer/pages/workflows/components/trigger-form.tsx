/** Triggers a run of the workflow's latest version with a JSON input, then opens it. */
import { useState } from 'react';
import type { Json } from '../../../../shared/types.ts';
import { useAction } from '../../../hooks/use-admin-query.ts';
import { navigate } from '../../../router.ts';
import { useClient } from '../../../state/app-store.ts';

function parse(text: string, what: string): { value?: Json; problem?: string } {
  if (!text.trim()) return { value: what === 'input' ? {} : undefined };
  try {
    return { value: JSON.parse(text) as Json };
  } catch (e: unknown) {
    return { problem: `The ${what} is not valid JSON: ${(e as Error).message}` };
  }
}

function metadataProblem(value: Json | undefined): string | undefined {
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
  const parsedInput = parse(input, 'input');
  const parsedMeta = parse(metadata, 'metadata');
  const problem = parsedInput.problem ?? parsedMeta.problem ?? metadataProblem(parsedMeta.value);

  const trigger = async () => {
    if (problem) return;
    setServerError(null);
    const result = await act('Trigger', () =>
      client
        .call('workflowTrigger', { name, input: parsedInput.value ?? {}, ...(parsedMeta.value !== undefined ? { metadata: parsedMeta.value as Record<string, string> } : {}) })
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
        Input (JSON)
      </label>
      <textarea
        id="trigger-input"
        className={`textarea mono ${parsedInput.problem ? 'input-invalid' : ''}`}
        value={input}
        onChange={(e) => setInput(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.metaKey || e.ctrlKey)) void trigger();
        }}
        spellCheck={false}
        rows={7}
        data-testid="trigger-input"
      />
      {showMeta ? (
        <>
          <label className="field-label" htmlFor="trigger-metadata">
            Metadata (JSON object of strings, optional)
          </label>
          <textarea
            id="trigger-metadata"
            className={`textarea mono ${parsedMeta.problem || metadataProblem(parsedMeta.value) ? 'input-invalid' : ''}`}
            value={metadata}
            onChange={(e) => setMetadata(e.target.value)}
            spellCheck={false}
            rows={3}
            placeholder='{"customer": "acme"}'
            data-testid="trigger-metadata"
          />
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
