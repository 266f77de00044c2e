/**
 * A run's stream while the run view shows it: one subscription per run (what was kept, then live),
 * gathered per task run. The view keeps at most SHOWN_BYTES of each task run's chunks, counting those
 * it let go, and redraws at most once a frame however fast chunks come.
 */
import { useEffect, useState } from 'react';
import type { StreamChunkEvent, StreamEvent } from '../../../../shared/stream.ts';
import type { RunStatus } from '../../../../shared/types.ts';
import { useClient } from '../../../state/app-store.ts';

/** As much as the engine keeps by default: a late subscriber and a watcher see the same. */
const SHOWN_BYTES = 64 * 1024;

export interface TaskStream {
  chunks: StreamChunkEvent[];
  shownBytes: number;
  /** Older chunks the engine no longer kept when this view subscribed. */
  cut: { chunks: number; bytes: number; retentionBytes: number } | null;
  /** Chunks this view received and no longer shows (beyond SHOWN_BYTES). */
  hidden: number;
}

export interface RunStreamState {
  tasks: ReadonlyMap<string, TaskStream>;
  /** Chunks this view missed because it fell behind (over the whole run). */
  dropped: number;
  /** The run's status once its stream has ended. */
  ended: RunStatus | null;
  error: Error | null;
}

const EMPTY: RunStreamState = { tasks: new Map(), dropped: 0, ended: null, error: null };

export function useRunStream(runId: string): RunStreamState {
  const client = useClient();
  const [state, setState] = useState<RunStreamState>(EMPTY);
  useEffect(() => {
    // Gathered in place as events come; copied for React once a frame, only the task runs that changed.
    const tasks = new Map<string, TaskStream>();
    const changed = new Set<string>();
    let shown: ReadonlyMap<string, TaskStream> = new Map();
    let dropped = 0;
    let ended: RunStatus | null = null;
    let frame: number | null = null;
    const draw = () => {
      frame = null;
      const next = new Map(shown);
      for (const id of changed) {
        const task = tasks.get(id)!;
        let drop = 0;
        while (task.shownBytes > SHOWN_BYTES && drop < task.chunks.length - 1) task.shownBytes -= task.chunks[drop++]!.bytes;
        if (drop > 0) task.chunks.splice(0, drop);
        task.hidden += drop;
        next.set(id, { ...task, chunks: [...task.chunks] });
      }
      changed.clear();
      shown = next;
      setState({ tasks: shown, dropped, ended, error: null });
    };
    const taskOf = (taskRunId: string) => {
      let task = tasks.get(taskRunId);
      if (!task) tasks.set(taskRunId, (task = { chunks: [], shownBytes: 0, cut: null, hidden: 0 }));
      changed.add(taskRunId);
      return task;
    };
    const apply = (event: StreamEvent) => {
      if (event.type === 'chunk') {
        const task = taskOf(event.taskRunId);
        task.chunks.push(event);
        task.shownBytes += event.bytes;
      } else if (event.type === 'cut') {
        taskOf(event.taskRunId).cut = { chunks: event.chunks, bytes: event.bytes, retentionBytes: event.retentionBytes };
      } else if (event.type === 'dropped') {
        dropped += event.chunks;
      } else {
        ended = event.status;
      }
    };
    setState(EMPTY);
    const stop = client.stream(runId, {
      onEvents(events) {
        for (const event of events) apply(event);
        frame ??= requestAnimationFrame(draw);
      },
      onError(error) {
        setState((s) => ({ ...s, error }));
      },
    });
    return () => {
      stop();
      if (frame !== null) cancelAnimationFrame(frame);
    };
  }, [client, runId]);
  return state;
}
