import { DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export interface AsyncState<T> {
  value: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` when `deps` change or on reload(), keeping the last value while a reload runs and
 * ignoring answers to superseded requests (a slow satellite-backhauled answer must not overwrite a
 * newer one).
 */
export function useAsync<T>(load: () => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [state, setState] = useState<{ value?: T; error?: Error; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);

  useEffect(() => {
    const request = ++latest.current;
    let mounted = true;
    // A data-fetching hook has to flag the new request when its inputs change; that is the point.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (value) => {
        if (mounted && request === latest.current) {
          setState({ value, loading: false });
        }
      },
      (error: unknown) => {
        if (mounted && request === latest.current) {
          setState((previous) => ({
            value: previous.value,
            error: error instanceof Error ? error : new Error(String(error)),
            loading: false,
          }));
        }
      }
    );
    return () => {
      mounted = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);

  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { value: state.value, error: state.error, loading: state.loading, reload };
}
