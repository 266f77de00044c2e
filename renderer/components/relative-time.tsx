import { useEffect, useState } from 'react';
import { dateTime, relativeTime } from '../format.ts';

/** "12s ago", kept current; the exact time is in the tooltip. */
export function RelativeTime({ iso }: { iso: string | null }) {
  const now = useNow(iso ? 1000 : null);
  return <span title={dateTime(iso)}>{relativeTime(iso, now)}</span>;
}

export function useNow(everyMs: number | null): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (everyMs === null) return;
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
