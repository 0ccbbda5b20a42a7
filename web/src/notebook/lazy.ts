// Editors are created when their card comes near the viewport, and the rest a few at a
// time while the browser is idle, so a 200-block pipeline shows at once and stays smooth.
type Mount = () => void;

interface IdleDeadline {
  timeRemaining(): number;
}

const requestIdle: (callback: (deadline: IdleDeadline) => void) => void =
  typeof window.requestIdleCallback === "function"
    ? (callback) => window.requestIdleCallback(callback, { timeout: 1000 })
    : (callback) => {
        setTimeout(() => {
          const end = performance.now() + 8;
          callback({ timeRemaining: () => Math.max(0, end - performance.now()) });
        }, 30);
      };

export class LazyMounter {
  private readonly pending = new Map<Element, Mount>();
  private readonly observer: IntersectionObserver | null;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private idleRunning = false;
  private disposed = false;

  constructor(private readonly idleDelayMs = 600) {
    this.observer =
      typeof IntersectionObserver === "function"
        ? new IntersectionObserver(
            (entries) => {
              for (const entry of entries) if (entry.isIntersecting) this.mountNow(entry.target);
            },
            { rootMargin: "600px 0px" },
          )
        : null;
  }

  /** Call `mount` once, when `element` nears the viewport or the browser is idle. */
  add(element: Element, mount: Mount): () => void {
    this.pending.set(element, mount);
    if (this.observer) this.observer.observe(element);
    else queueMicrotask(() => this.mountNow(element));
    this.scheduleIdle();
    return () => {
      this.pending.delete(element);
      this.observer?.unobserve(element);
    };
  }

  mountNow(element: Element): void {
    const mount = this.pending.get(element);
    if (!mount) return;
    this.pending.delete(element);
    this.observer?.unobserve(element);
    mount();
  }

  private scheduleIdle(): void {
    if (this.idleRunning) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleRunning = true;
      this.idleStep();
    }, this.idleDelayMs);
  }

  private idleStep(): void {
    if (this.disposed || this.pending.size === 0) {
      this.idleRunning = false;
      return;
    }
    requestIdle((deadline) => {
      do {
        const first = this.pending.keys().next();
        if (first.done) break;
        this.mountNow(first.value);
      } while (deadline.timeRemaining() > 4);
      this.idleStep();
    });
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.idleTimer);
    this.observer?.disconnect();
    this.pending.clear();
  }
}
