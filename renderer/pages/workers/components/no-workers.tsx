/** The empty Workers page teaches how to connect one: where the engine listens and a worker to copy. */
import { CopyButton } from '../../../components/copy-button.tsx';
import { EmptyState } from '../../../components/states.tsx';
import { useAdminQuery } from '../../../hooks/use-admin-query.ts';

function snippet(): string {
  return `// worker.ts — run with: CLEAVER_ADDRESS=<address above> npx tsx worker.ts
import { Cleaver } from 'cleaver/sdk';

const cleaver = Cleaver.connect(); // reads CLEAVER_ADDRESS (and CLEAVER_TOKEN for tcp://)

const hello = cleaver.task({
  name: 'hello',
  fn: async (input: { name: string }, ctx) => {
    ctx.log(\`greeting \${input.name}\`);
    return { greeting: \`hello \${input.name}\` };
  },
});

const worker = await cleaver.worker('my-worker', { workflows: [hello], slots: 10 });
await worker.start();
`;
}

export function NoWorkers() {
  const info = useAdminQuery('engineInfo', (c) => c.call('engineInfo', {}), { keepPrevious: true });
  const listening = info.data?.listening ?? [];
  const code = snippet();
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
          <span className="muted small">A minimal worker</span>
          <CopyButton text={code.replace('<address above>', listening[0] ?? 'unix:///path/to/engine.sock')} testId="copy-snippet" />
        </div>
        <pre className="code code-block">{code.replace('<address above>', listening[0] ?? '<address>')}</pre>
      </div>
    </EmptyState>
  );
}
