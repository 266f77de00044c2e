/** An address the console has no page for (#/nosuchpage, a mistyped link): say so, and where to go. */
import { PageHeader } from '../../components/page-header.tsx';
import { EmptyState } from '../../components/states.tsx';
import { href } from '../../router.ts';

export function NotFoundPage({ path }: { path: string[] }) {
  const shown = `#/${path.join('/')}`;
  return (
    <div className="page" data-testid="page-not-found">
      <PageHeader title="No such page" />
      <EmptyState title={`The console has no page at ${shown}`} testId="not-found">
        The link may be mistyped or from another version. Go to <a href={href('runs')}>Runs</a>, <a href={href('workflows')}>Workflows</a>,{' '}
        <a href={href('workers')}>Workers</a> or <a href={href('events')}>Events</a>.
      </EmptyState>
    </div>
  );
}
