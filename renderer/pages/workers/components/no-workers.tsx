/** The empty Workers page teaches how to connect one: where the engine listens and a worker to copy. */
import { CopyButton } from '../../../components/copy-button.tsx';
import { EmptyState } from '../../../components/states.tsx';
import { useAdminQuery } from '../../../hooks/use-admin-query.ts';
// The README's quick-start file itself, so what the console shows is what the README runs (and
// test/integration/sdk-package.test.ts runs it from a fresh project).
import WORKER_FILE from '../../../../examples/worker.mjs?raw';

/** Where a worker started with the command below should connect: a local socket needs no token. */
function runCommand(listening: string[]): string {
  const address = listening.find((a) => a.startsWith('unix://')) ?? listening[0];
  if (!address) return 'node worker.mjs';
  return `${address.startsWith('tcp://') ? 'CLEAVER_TOKEN=<token> ' : ''}CLEAVER_ADDRESS=${address} node worker.mjs`;
}

export function NoWorkers() {
  const info = useAdminQuery('engineInfo', (c) => c.call('engineInfo', {}), { keepPrevious: true });
  const listening = info.data?.listening ?? [];
  const command = runCommand(listening);
  return (
    <EmptyState title="No workers connected" testId="workers-empty">
      <p>Workers are your own processes: they connect to the engine, register their tasks and workflows, and run them.</p>
      {info.data?.mode === 'admin' ? (
        <p>This console only administers the database: connect workers to an engine that runs against it.</p>
      ) : listening.length > 0 ? (
        <div className="listen-list">
          <span className="muted">The engine accepts workers at</span>
          {listening.map((a) => (
            <div key={a} className="listen-address">
              <code data-testid="socket-path">{a}</code>
              <CopyButton text={a} label="Copy address" />
            </div>
          ))}
        </div>
      ) : (
        <p className="muted">Loading where the engine listens…</p>
      )}
      <div className="snippet">
        <div className="snippet-head">
          <span className="muted small">A minimal worker: in a project with cleaver-sdk installed (see the README), save it as worker.mjs</span>
          <CopyButton text={WORKER_FILE} testId="copy-snippet" />
        </div>
        <pre className="code code-block" data-testid="worker-file">{WORKER_FILE}</pre>
        <div className="snippet-head" style={{ marginTop: 14 }}>
          <span className="muted small">and run it</span>
          <CopyButton text={command} label="Copy command" testId="copy-run-command" />
        </div>
        <pre className="code code-block" data-testid="worker-command">{command}</pre>
      </div>
    </EmptyState>
  );
}
