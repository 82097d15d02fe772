import { useEffect } from 'react';

/** Calls `refresh` every `ms` while the page is shown: incidents and approvals change underneath. */
export function useAutoRefresh(refresh: () => void, ms: number): void {
  useEffect(() => {
    const timer = setInterval(refresh, ms);
    return () => clearInterval(timer);
  }, [refresh, ms]);
}
