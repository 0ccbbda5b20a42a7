import { useEffect, useRef } from "react";

/** The shortest wait between two calls, whatever `work` asks for. */
const MIN_DELAY_MS = 1000;

/**
 * Calls `work` now, then again `ms` after each call ends — or sooner, if `work` resolves
 * with a shorter delay (never under a second) — while the page is visible. A hidden page
 * is not polled; it is polled at once when it shows again. Calls never overlap: a refresh
 * asked for during a call runs right after it. Returns a function asking for a refresh now.
 */
export function useVisiblePolling(work: () => Promise<number | void>, ms: number, deps: unknown[]): () => void {
  const workRef = useRef(work);
  workRef.current = work;
  const refreshRef = useRef<() => void>(() => undefined);

  useEffect(() => {
    let stopped = false;
    let running = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const call = async (): Promise<void> => {
      clearTimeout(timer);
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      if (document.visibilityState !== "visible") return; // visibilitychange resumes it
      running = true;
      let delay = ms;
      try {
        const wanted = await workRef.current();
        if (typeof wanted === "number" && Number.isFinite(wanted)) {
          delay = Math.min(ms, Math.max(MIN_DELAY_MS, wanted));
        }
      } catch {
        // `work` reports its own errors; polling goes on
      } finally {
        running = false;
      }
      if (stopped) return;
      if (again) {
        again = false;
        void call();
        return;
      }
      timer = setTimeout(() => void call(), delay);
    };
    const onVisibility = () => {
      if (document.visibilityState === "visible") void call();
    };

    refreshRef.current = () => void call();
    document.addEventListener("visibilitychange", onVisibility);
    void call();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
      refreshRef.current = () => undefined;
    };
    // the caller lists what restarts the polling
  }, deps);

  return useRef(() => refreshRef.current()).current;
}
