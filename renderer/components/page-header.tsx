import type { ReactNode } from 'react';
import { Spinner } from './states.tsx';

export function PageHeader({ title, subtitle, refreshing, actions, crumbs }: { title: ReactNode; subtitle?: ReactNode; refreshing?: boolean; actions?: ReactNode; crumbs?: ReactNode }) {
  return (
    <header className="page-header">
      <div className="page-header-main">
        {crumbs && <div className="crumbs">{crumbs}</div>}
        <div className="page-title-row">
          <h1 className="page-title">{title}</h1>
          {refreshing && <Spinner label="refreshing" />}
        </div>
        {subtitle && <div className="page-subtitle">{subtitle}</div>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </header>
  );
}
