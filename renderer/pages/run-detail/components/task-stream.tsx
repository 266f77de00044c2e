/**
 * A task run's stream in its panel, live: text as text (consecutive chunks run together, as tokens
 * do), JSON pretty-printed, bytes as their size and a hex preview; with what was not shown said so.
 */
import { useLayoutEffect, useRef } from 'react';
import type { StreamChunkEvent } from '../../../../shared/stream.ts';
import { formatBytes, prettyJson } from '../../../format.ts';
import { Spinner } from '../../../components/states.tsx';
import type { RunStreamState } from '../hooks/use-run-stream.ts';

const HEX_PREVIEW_BYTES = 24;

type Block = { kind: 'text'; text: string; key: string } | { kind: 'json' | 'bytes'; chunk: StreamChunkEvent; key: string };

export function TaskStream({ stream, taskRunId, running }: { stream: RunStreamState; taskRunId: string; running: boolean }) {
  const task = stream.tasks.get(taskRunId);
  const box = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  // Follows the end while the reader is there; scrolling up stops following until they come back.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [task]);
  if (stream.error) return <div className="error-box small">{stream.error.message}</div>;
  const chunks = task?.chunks ?? [];
  const live = running && !stream.ended;
  return (
    <div data-testid="task-stream">
      {task?.cut && (
        <div className="stream-notice" data-testid="stream-cut">
          {count(task.cut.chunks, 'older chunk')} ({formatBytes(task.cut.bytes)}) no longer kept: the engine keeps the newest {formatBytes(task.cut.retentionBytes)} of each task's stream.
        </div>
      )}
      {(task?.hidden ?? 0) > 0 && <div className="stream-notice">{count(task!.hidden, 'earlier chunk')} not shown here (this view shows the newest 64 KiB).</div>}
      {stream.dropped > 0 && (
        <div className="stream-notice stream-notice-warn" data-testid="stream-dropped">
          {count(stream.dropped, 'chunk')} dropped: this view fell behind the run's stream.
        </div>
      )}
      <div
        className="logs stream"
        ref={box}
        onScroll={(e) => {
          const el = e.currentTarget;
          pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {blocks(chunks).map((b) =>
          b.kind === 'text' ? (
            <pre key={b.key} className="stream-text" data-testid="stream-text">
              {b.text}
            </pre>
          ) : b.kind === 'json' ? (
            <pre key={b.key} className="stream-json" data-testid="stream-json">
              {prettyJson(b.chunk.data)}
            </pre>
          ) : (
            <div key={b.key} className="stream-bytes mono" data-testid="stream-bytes">
              <span className="stream-bytes-size">{formatBytes(b.chunk.bytes)}</span> {hexPreview(b.chunk.data as string)}
            </div>
          ),
        )}
      </div>
      <div className="stream-foot muted small" data-testid="stream-state">
        {live ? (
          <>
            <Spinner label="streaming" /> live · {count(chunks.length, 'chunk')}
          </>
        ) : (
          `${count(chunks.length, 'chunk')}${stream.ended ? ' · stream ended' : ''}`
        )}
      </div>
    </div>
  );
}

/** Runs of text chunks become one block; JSON and bytes stand alone. */
function blocks(chunks: readonly StreamChunkEvent[]): Block[] {
  const out: Block[] = [];
  for (const chunk of chunks) {
    const key = `${chunk.attempt}:${chunk.seq}`;
    const last = out.at(-1);
    if (chunk.kind === 'text' && last?.kind === 'text') last.text += chunk.data as string;
    else if (chunk.kind === 'text') out.push({ kind: 'text', text: chunk.data as string, key });
    else out.push({ kind: chunk.kind, chunk, key });
  }
  return out;
}

function hexPreview(base64: string): string {
  const raw = atob(base64.slice(0, Math.ceil(HEX_PREVIEW_BYTES / 3) * 4));
  const hex = Array.from(raw.slice(0, HEX_PREVIEW_BYTES), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join(' ');
  return base64.length > Math.ceil(HEX_PREVIEW_BYTES / 3) * 4 ? `${hex} …` : hex;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
