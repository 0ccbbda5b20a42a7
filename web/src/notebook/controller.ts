// The notebook's state and every action on it, outside React: components subscribe to the
// one piece they show (a block's file, a block's run state, the graph, the worker), so an
// event from the worker re-renders only the card it is about.
import { ApiError, api, errorText, notebookSocketUrl } from "../api";
import { deepEqual, KeyedStore, Signal } from "../store";
import type {
  Block,
  BlockNotes,
  BlockRun,
  BlockState,
  Graph,
  Language,
  NotebookEvent,
  NotebookState,
  Pipeline,
  Problem,
  Reader,
  WorkerStatus,
} from "../types";

export interface FileState {
  /** The block's file as last seen on disk (its hash is the base of the next save). */
  block: Block;
  /** The editor holds text that differs from `block.source`. */
  dirty: boolean;
  /** The file changed on disk under unsaved edits (or a save was refused): that version. */
  conflict: Block | null;
  saving: boolean;
  /** The last failed save, rename or delete. */
  message: string | null;
}

export interface WorkerInfo {
  status: WorkerStatus;
  message: string | null;
  running: string | null;
}

export interface PipelineRunInfo {
  id: string | null;
  status: string;
  error: string | null;
  blocks: BlockRun[];
}

export interface Notice {
  kind: "error" | "info";
  text: string;
}

export interface EditorHandle {
  getText(): string;
  setText(text: string): void;
  focus(): void;
}

/** An item of a mapped block: the unit `block[index]`. */
export interface ItemEntry {
  index: number;
  unit: string;
  state: BlockState;
}

const ITEM_UNIT = /^(.+)\[(\d+)\]$/;

/** `["square", 1]` for `square[1]`, null for a block's own name. */
export function itemOf(unit: string): [string, number] | null {
  const match = ITEM_UNIT.exec(unit);
  return match ? [match[1], Number(match[2])] : null;
}

export type RunMode = "block" | "downstream" | "all";

const LOG_LINES = 500;
const POLL_MS = 2000;
const ANALYZE_MS = 300;
const RUN_POLL_MS = 500;
const ACTIVE_RUN = new Set(["running", "queued", "pending", "starting"]);
/** The WebSocket's close code for a pipeline that does not exist: no reconnecting. */
const NO_SUCH_PIPELINE = 4404;

export function emptyState(): BlockState {
  return { status: "never", stale: true, duration_s: null, outputs: [], error: null, logs: [] };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Block names a graph problem is about: by its file, files named in its message, or the
 * blocks of a cycle. */
export function involvedBlocks(problem: Problem, graph: Graph): string[] {
  const names = new Set<string>();
  for (const b of graph.blocks) {
    if (problem.file && b.file === problem.file) names.add(b.name);
    else if (b.file && problem.message.includes(b.file)) names.add(b.name);
  }
  if (problem.kind === "cycle") {
    const chain = /cycle: ([^(]*)/.exec(problem.message)?.[1] ?? "";
    for (const part of chain.split("->")) {
      const name = part.trim();
      if (graph.blocks.some((b) => b.name === name)) names.add(name);
    }
  }
  return [...names];
}

export class NotebookController {
  readonly pipeline: string;
  readonly files = new KeyedStore<FileState>();
  readonly states = new KeyedStore<BlockState>();
  /** Graph problems located in each block's file. */
  readonly problems = new KeyedStore<Problem[]>();
  /** Graph warnings of each block: names it reads that no block defines. */
  readonly warnings = new KeyedStore<Problem[]>();
  /** The graph's notes of each block (conditions, trigger rule, fan-out, map). */
  readonly notes = new KeyedStore<BlockNotes>();
  /** The items of each mapped block (its units `block[i]`, whose states are in `states`
   * too), in order of index. */
  readonly items = new KeyedStore<ItemEntry[]>();
  readonly order = new Signal<string[]>([]);
  readonly graph = new Signal<Graph | null>(null);
  readonly worker = new Signal<WorkerInfo>({ status: "starting", message: null, running: null });
  readonly loading = new Signal<{ done: boolean; error: string | null }>({ done: false, error: null });
  readonly notice = new Signal<Notice | null>(null);
  readonly autoRun = new Signal<boolean>(false);
  readonly pipelineRun = new Signal<PipelineRunInfo | null>(null);
  /** The worker's WebSocket: null while it first connects, false while it reconnects. */
  readonly connected = new Signal<boolean | null>(null);
  readonly analyzeError = new Signal<string | null>(null);
  /** The pipeline does not exist (the page offers to create it). */
  readonly missing = new Signal<boolean>(false);

  private readonly drafts = new Map<string, string>();
  private readonly editors = new Map<string, EditorHandle>();
  // Ordering of worker events against HTTP answers: a snapshot fetched before an event
  // must not undo it.
  private seq = 0;
  private readonly touched = new Map<string, number>();
  private lastFullState = 0;
  private pending: NotebookEvent[] = [];
  private flushFrame = 0;
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private flushScheduled = false;
  private socket: WebSocket | null = null;
  private retries = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private mutations = 0; // saves, renames, ... in flight
  private mutationEpoch = 0; // bumped when one ends: a poll begun before is outdated
  private analyzeTimer: ReturnType<typeof setTimeout> | undefined;
  private analyzeSeq = 0;
  private readonly saveChain = new Map<string, Promise<boolean>>();
  private readonly autoCandidates = new Set<string>();
  private autoReady: string[] = [];
  private disposed = false;
  private readonly itemsChanged = new Set<string>();
  private lastRun = ""; // the latest recorded run as last seen: a new one changes the cards

  constructor(pipeline: string) {
    this.pipeline = pipeline;
    try {
      this.autoRun.set(window.localStorage.getItem("cairn.autorun") === "1");
    } catch {
      // ignore
    }
  }

  // -- life ---------------------------------------------------------------------------
  start(): void {
    void this.load();
    this.connect();
    this.pollTimer = setInterval(() => {
      if (document.visibilityState === "visible") void this.poll();
    }, POLL_MS);
    window.addEventListener("focus", this.onFocus);
    window.addEventListener("beforeunload", this.onBeforeUnload);
  }

  dispose(): void {
    this.disposed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.analyzeTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.flushTimer);
    cancelAnimationFrame(this.flushFrame);
    window.removeEventListener("focus", this.onFocus);
    window.removeEventListener("beforeunload", this.onBeforeUnload);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
    }
  }

  private onFocus = (): void => {
    void this.poll();
  };

  private onBeforeUnload = (event: BeforeUnloadEvent): void => {
    if (this.files.keys().some((k) => this.files.get(k)?.dirty)) event.preventDefault();
  };

  setNotice(notice: Notice | null): void {
    this.notice.set(notice);
  }

  private fail(error: unknown, what: string): void {
    this.notice.set({ kind: "error", text: `${what}: ${errorText(error)}` });
  }

  // -- files ---------------------------------------------------------------------------
  private async load(): Promise<void> {
    try {
      const pipeline = await api.pipeline(this.pipeline);
      if (this.disposed) return;
      this.applyPipeline(pipeline, true);
      this.loading.set({ done: true, error: null });
    } catch (error) {
      if (error instanceof ApiError && error.problems.some((p) => p.kind === "unknown-pipeline")) {
        this.setMissing();
      }
      this.loading.set({ done: true, error: errorText(error) });
    }
  }

  /** Nothing to watch: stop polling and reconnecting. */
  private setMissing(): void {
    this.missing.set(true);
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
  }

  /** Re-read the pipeline from disk: external edits, new and removed blocks. */
  async poll(): Promise<void> {
    if (this.polling || this.mutations > 0 || !this.loading.get().done || this.disposed || this.missing.get()) return;
    this.polling = true;
    const epoch = this.mutationEpoch;
    try {
      const pipeline = await api.pipeline(this.pipeline);
      if (!this.disposed && epoch === this.mutationEpoch && this.mutations === 0) {
        this.applyPipeline(pipeline, false);
        if (this.loading.get().error) this.loading.set({ done: true, error: null });
      }
      await this.watchRuns();
    } catch {
      // the next poll tries again; a failing load says so already
    } finally {
      this.polling = false;
    }
  }

  private applyPipeline(pipeline: Pipeline, initial: boolean): void {
    let changed = false;
    const names = pipeline.blocks.map((b) => b.name);
    for (const block of pipeline.blocks) {
      const file = this.files.get(block.name);
      if (!file) {
        this.files.set(block.name, { block, dirty: false, conflict: null, saving: false, message: null });
        changed = changed || !initial;
        continue;
      }
      if (file.block.hash === block.hash) continue;
      changed = true;
      if (!file.dirty || this.textOf(block.name) === block.source) {
        this.adopt(block); // an edit made outside the browser shows up
      } else if (file.conflict?.hash !== block.hash) {
        this.files.set(block.name, { ...file, conflict: block });
      }
    }
    const known = new Set(names);
    for (const name of this.files.keys()) {
      if (!known.has(name)) {
        this.forget(name);
        changed = true;
      }
    }
    if (!sameList(this.order.get(), names)) this.order.set(names);
    if (this.hasDrafts()) {
      if (changed || initial) this.scheduleAnalyze();
    } else {
      this.setGraph(pipeline.graph);
    }
    if (changed) void this.refreshStates();
  }

  /** Runs recorded outside this page (`cairn run`, triggers, backfills) change what the
   * cards show: fetch the states again when the latest run is new, or still going. */
  private async watchRuns(): Promise<void> {
    const [latest] = await api.runs(this.pipeline, 1);
    const seen = latest ? `${latest.id} ${latest.status} ${latest.ended_at ?? ""}` : "";
    if (seen === this.lastRun && !(latest && ACTIVE_RUN.has(latest.status))) return;
    this.lastRun = seen;
    await this.refreshStates();
  }

  /** Take the disk version of a block, in the store and the editor. */
  private adopt(block: Block): void {
    const file = this.files.get(block.name);
    this.drafts.delete(block.name);
    this.files.set(block.name, {
      block,
      dirty: false,
      conflict: null,
      saving: file?.saving ?? false,
      message: null,
    });
    const editor = this.editors.get(block.name);
    if (editor && editor.getText() !== block.source) editor.setText(block.source);
  }

  private forget(name: string): void {
    this.files.set(name, undefined);
    this.putState(name, undefined);
    for (const key of this.states.keys()) if (itemOf(key)?.[0] === name) this.putState(key, undefined);
    this.syncItems();
    this.problems.set(name, undefined);
    this.warnings.set(name, undefined);
    this.drafts.delete(name);
  }

  private hasDrafts(): boolean {
    for (const name of this.drafts.keys()) if (this.files.get(name)?.dirty) return true;
    return false;
  }

  textOf(name: string): string {
    const editor = this.editors.get(name);
    if (editor) return editor.getText();
    return this.drafts.get(name) ?? this.files.get(name)?.block.source ?? "";
  }

  registerEditor(name: string, handle: EditorHandle): () => void {
    this.editors.set(name, handle);
    return () => {
      if (this.editors.get(name) === handle) {
        const text = handle.getText();
        if (this.files.get(name)?.dirty) this.drafts.set(name, text);
        this.editors.delete(name);
      }
    };
  }

  /** Replace a block's text as if typed (a proposed fix or a generated block): unsaved. */
  putText(name: string, text: string): void {
    const editor = this.editors.get(name);
    if (editor) editor.setText(text); // the editor reports the change through onEdit
    else this.onEdit(name, text);
  }

  focusEditor(name: string): void {
    this.editors.get(name)?.focus();
  }

  /** The editor's text changed (typing or undo). */
  onEdit(name: string, text: string): void {
    const file = this.files.get(name);
    if (!file) return;
    const dirty = text !== file.block.source;
    if (dirty) this.drafts.set(name, text);
    else this.drafts.delete(name);
    if (dirty !== file.dirty) this.files.set(name, { ...file, dirty });
    this.scheduleAnalyze();
  }

  private async mutate<T>(work: () => Promise<T>): Promise<T> {
    this.mutations++;
    try {
      return await work();
    } finally {
      this.mutations--;
      this.mutationEpoch++;
    }
  }

  /** PUT the editor's text; `baseHash` overrides the hash it is based on (Overwrite).
   * Saves of one block run one after the other, each based on the one before. */
  save(name: string, baseHash?: string): Promise<boolean> {
    const previous = this.saveChain.get(name) ?? Promise.resolve(true);
    const next = previous.then(() => this.saveNow(name, baseHash));
    this.saveChain.set(name, next);
    void next.finally(() => {
      if (this.saveChain.get(name) === next) this.saveChain.delete(name);
    });
    return next;
  }

  private async saveNow(name: string, baseHash?: string): Promise<boolean> {
    const file = this.files.get(name);
    if (!file) return false;
    if (!file.dirty && !file.conflict && baseHash === undefined) return true; // nothing to save
    const text = this.textOf(name);
    this.files.set(name, { ...file, saving: true, message: null });
    return this.mutate(async () => {
      try {
        const saved = await api.saveBlock(this.pipeline, name, text, baseHash ?? file.block.hash);
        const now = this.files.get(name) ?? file;
        const dirty = this.textOf(name) !== saved.source;
        if (!dirty) this.drafts.delete(name);
        this.files.set(name, { ...now, block: saved, dirty, conflict: null, saving: false, message: null });
        this.scheduleAnalyze();
        void this.refreshStates();
        return true;
      } catch (error) {
        const now = this.files.get(name) ?? file;
        const current = (error as ApiError).body as { current?: Block } | null;
        if (error instanceof ApiError && error.status === 409 && current?.current) {
          this.files.set(name, { ...now, saving: false, conflict: current.current, message: null });
        } else {
          this.files.set(name, { ...now, saving: false, message: `save failed: ${errorText(error)}` });
        }
        return false;
      }
    });
  }

  /** Drop the local edits of a block and take the file on disk. */
  async reload(name: string): Promise<void> {
    const file = this.files.get(name);
    if (!file) return;
    if (file.conflict) {
      this.adopt(file.conflict);
      this.scheduleAnalyze();
      return;
    }
    try {
      const pipeline = await api.pipeline(this.pipeline);
      const block = pipeline.blocks.find((b) => b.name === name);
      if (block) this.adopt(block);
      this.scheduleAnalyze();
    } catch (error) {
      this.fail(error, `reloading ${name}`);
    }
  }

  /** Save over a version changed on disk. */
  async overwrite(name: string): Promise<boolean> {
    const file = this.files.get(name);
    if (!file) return false;
    return this.save(name, file.conflict?.hash ?? file.block.hash);
  }

  /** Save unsaved edits of these blocks; false when one could not be saved. */
  private async saveDirty(names: Iterable<string>): Promise<boolean> {
    const dirty = [...names].filter((n) => this.files.get(n)?.dirty);
    const results = await Promise.all(dirty.map((n) => this.save(n)));
    const failed = dirty.filter((_, i) => !results[i]);
    if (failed.length) {
      this.notice.set({
        kind: "error",
        text: `not run: could not save ${failed.join(", ")} (see the block${failed.length > 1 ? "s" : ""})`,
      });
      return false;
    }
    return true;
  }

  async addBlock(name: string, language: Language): Promise<boolean> {
    return this.mutate(async () => {
      try {
        const block = await api.createBlock(this.pipeline, name, language);
        this.files.set(block.name, { block, dirty: false, conflict: null, saving: false, message: null });
        if (!this.order.get().includes(block.name)) this.order.set([...this.order.get(), block.name]);
        this.notice.set(null);
        this.scheduleAnalyze();
        void this.refreshStates();
        return true;
      } catch (error) {
        this.fail(error, `adding block ${name}`);
        return false;
      }
    }).then((ok) => {
      if (ok) void this.poll(); // the server's display order
      return ok;
    });
  }

  /** The blocks renaming `name` would leave reading a name nothing defines. */
  async readersOf(name: string): Promise<Reader[]> {
    return (await api.readers(this.pipeline, name)).readers;
  }

  /** Rename a block; `readers` (from `readersOf`) are rewritten to read the new name, their
   * unsaved edits saved first. */
  async rename(old: string, name: string, readers: Reader[] = []): Promise<boolean> {
    const file = this.files.get(old);
    if (!file || old === name) return false;
    const updating = readers.filter((r) => r.updatable).map((r) => r.block);
    if (updating.length && !(await this.saveDirty(updating))) return false;
    return this.mutate(async () => {
      try {
        const { readers: rewritten, ...block } = await api.renameBlock(this.pipeline, old, name, updating.length > 0);
        const text = this.textOf(old);
        this.forget(old);
        const dirty = text !== block.source;
        if (dirty) this.drafts.set(block.name, text);
        this.files.set(block.name, { block, dirty, conflict: null, saving: false, message: null });
        this.order.set(this.order.get().map((n) => (n === old ? block.name : n)));
        this.scheduleAnalyze();
        void this.refreshStates();
        if (rewritten.some((r) => r.updated)) setTimeout(() => void this.poll()); // their new text
        return true;
      } catch (error) {
        const now = this.files.get(old);
        if (now) this.files.set(old, { ...now, message: `rename failed: ${errorText(error)}` });
        return false;
      }
    });
  }

  /** Move a card up (-1) or down (+1): the new order is written to pipeline.yaml. */
  async move(name: string, by: -1 | 1): Promise<void> {
    const order = [...this.order.get()];
    const from = order.indexOf(name);
    const to = from + by;
    if (from < 0 || to < 0 || to >= order.length) return;
    [order[from], order[to]] = [order[to], order[from]];
    const before = this.order.get();
    this.order.set(order);
    await this.mutate(async () => {
      try {
        const pipeline = await api.reorder(this.pipeline, order);
        this.notice.set(null);
        if (!sameList(this.order.get(), pipeline.blocks.map((b) => b.name))) {
          this.order.set(pipeline.blocks.map((b) => b.name));
        }
      } catch (error) {
        this.order.set(before);
        this.fail(error, `moving ${name}`);
      }
    });
  }

  async remove(name: string): Promise<boolean> {
    return this.mutate(async () => {
      try {
        await api.deleteBlock(this.pipeline, name);
        this.forget(name);
        this.order.set(this.order.get().filter((n) => n !== name));
        this.scheduleAnalyze();
        void this.refreshStates();
        return true;
      } catch (error) {
        const now = this.files.get(name);
        if (now) this.files.set(name, { ...now, message: `delete failed: ${errorText(error)}` });
        return false;
      }
    });
  }

  // -- the graph -----------------------------------------------------------------------
  scheduleAnalyze(): void {
    clearTimeout(this.analyzeTimer);
    this.analyzeTimer = setTimeout(() => void this.analyze(), ANALYZE_MS);
  }

  /** The graph of the saved files with the unsaved sources of edited blocks instead. */
  async analyze(): Promise<void> {
    const sources: Record<string, string> = {};
    for (const [name, text] of this.drafts) if (this.files.get(name)?.dirty) sources[name] = text;
    const id = ++this.analyzeSeq;
    try {
      const graph = await api.analyze(this.pipeline, sources);
      if (id !== this.analyzeSeq || this.disposed) return;
      this.analyzeError.set(null);
      this.setGraph(graph);
    } catch (error) {
      if (id === this.analyzeSeq) this.analyzeError.set(errorText(error));
    }
  }

  private setGraph(graph: Graph): void {
    const old = this.graph.get();
    if (old && deepEqual(old, graph)) return;
    this.graph.set(graph);
    const byBlock = new Map<string, Problem[]>();
    for (const problem of graph.errors) {
      if (!problem.file) continue;
      for (const b of graph.blocks) {
        if (b.file === problem.file) byBlock.set(b.name, [...(byBlock.get(b.name) ?? []), problem]);
      }
    }
    for (const name of new Set([...this.problems.keys(), ...byBlock.keys()])) {
      const next = byBlock.get(name);
      const prev = this.problems.get(name);
      if (!deepEqual(prev, next)) this.problems.set(name, next);
    }
    const warned = new Map<string, Problem[]>();
    for (const warning of graph.warnings ?? []) {
      if (warning.block) warned.set(warning.block, [...(warned.get(warning.block) ?? []), warning]);
    }
    for (const name of new Set([...this.warnings.keys(), ...warned.keys()])) {
      const next = warned.get(name);
      if (!deepEqual(this.warnings.get(name), next)) this.warnings.set(name, next);
    }
    const notes = new Map<string, BlockNotes>();
    for (const b of graph.blocks) if (b.notes && Object.keys(b.notes).length) notes.set(b.name, b.notes);
    for (const name of new Set([...this.notes.keys(), ...notes.keys()])) {
      const next = notes.get(name);
      if (!deepEqual(this.notes.get(name), next)) this.notes.set(name, next);
    }
  }

  /** Blocks downstream of `name` in the current graph (not `name` itself). */
  downstreamOf(name: string): string[] {
    const graph = this.graph.get();
    if (!graph) return [];
    const next = new Map<string, string[]>();
    for (const e of graph.edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const seen = new Set<string>();
    const stack = [...(next.get(name) ?? [])];
    while (stack.length) {
      const b = stack.pop()!;
      if (seen.has(b) || b === name) continue;
      seen.add(b);
      stack.push(...(next.get(b) ?? []));
    }
    return [...seen];
  }

  // -- the worker ----------------------------------------------------------------------
  private connect(): void {
    if (this.disposed) return;
    const socket = new WebSocket(notebookSocketUrl(this.pipeline));
    this.socket = socket;
    socket.onopen = () => {
      this.retries = 0;
      this.connected.set(true);
    };
    socket.onmessage = (message: MessageEvent) => {
      try {
        this.pending.push(JSON.parse(String(message.data)) as NotebookEvent);
      } catch {
        return;
      }
      this.scheduleFlush();
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.connected.get() !== null || this.retries > 0) this.connected.set(false);
      if (this.disposed || this.socket !== socket) return;
      if (event.code === 4401) {
        this.notice.set({ kind: "error", text: "the server wants a token: open the page with ?token=…" });
      }
      if (event.code === NO_SUCH_PIPELINE) {
        this.setMissing();
        return;
      }
      const delay = Math.min(5000, 250 * 2 ** this.retries);
      this.retries++;
      this.reconnectTimer = setTimeout(() => this.connect(), delay);
    };
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // one update per frame however many lines arrive; the timer covers hidden tabs
    this.flushFrame = requestAnimationFrame(this.flush);
    this.flushTimer = setTimeout(this.flush, 50);
  }

  /** Apply the events received since the last frame. */
  private flush = (): void => {
    cancelAnimationFrame(this.flushFrame);
    clearTimeout(this.flushTimer);
    this.flushScheduled = false;
    const events = this.pending;
    this.pending = [];
    if (!events.length) return;

    const changed = new Map<string, BlockState | undefined>();
    const own = new Set<string>(); // states made in this flush, safe to change in place
    const replaced = new Set<string>(); // taken whole from the server: compare before storing
    const current = (b: string): BlockState =>
      (changed.has(b) ? changed.get(b) : this.states.get(b)) ?? emptyState();
    let worker = this.worker.get();

    for (const event of events) {
      this.seq++;
      switch (event.type) {
        case "state": {
          this.lastFullState = this.seq;
          if (event.state.worker !== "dead") {
            for (const key of this.states.keys()) {
              if (!(key in event.state.blocks)) changed.set(key, undefined);
            }
            for (const [b, s] of Object.entries(event.state.blocks)) {
              changed.set(b, s);
              own.delete(b);
              replaced.add(b);
            }
          }
          worker = {
            status: event.state.worker,
            message: event.state.message ?? null,
            running: event.state.running,
          };
          break;
        }
        case "started": {
          const old = current(event.block);
          changed.set(event.block, { ...old, status: "running", error: null, logs: [], outputs: [] });
          own.add(event.block);
          replaced.delete(event.block);
          this.touched.set(event.block, this.seq);
          worker = { status: "running", message: null, running: event.block };
          break;
        }
        case "output": {
          let state = current(event.block);
          if (!own.has(event.block)) {
            state = { ...state, logs: [...state.logs] };
            changed.set(event.block, state);
            own.add(event.block);
            replaced.delete(event.block);
          }
          state.logs.push({ stream: event.stream, line: event.line });
          if (state.logs.length > 2 * LOG_LINES) state.logs.splice(0, state.logs.length - LOG_LINES);
          this.touched.set(event.block, this.seq);
          break;
        }
        case "finished": {
          changed.set(event.block, event.state);
          own.delete(event.block);
          replaced.delete(event.block);
          this.touched.set(event.block, this.seq);
          if (worker.running === event.block) worker = { ...worker, running: null };
          if (this.autoCandidates.delete(event.block) && event.state.status === "success") {
            this.autoReady.push(event.block);
          }
          break;
        }
        case "worker": {
          worker = {
            status: event.worker,
            message: event.message ?? null,
            running: event.worker === "running" ? worker.running : null,
          };
          if (event.worker === "dead" || event.worker === "starting") this.autoCandidates.clear();
          break;
        }
      }
    }

    for (const [block, state] of changed) {
      if (state && state.logs.length > LOG_LINES) state.logs.splice(0, state.logs.length - LOG_LINES);
      if (replaced.has(block) && deepEqual(this.states.get(block), state)) continue;
      this.putState(block, state);
    }
    this.syncItems();
    this.setWorker(worker);
    if (this.worker.get().status === "idle" && this.autoReady.length) void this.autoRunAfter();
  };

  /** Set a unit's state; an item's (`block[i]`) also marks its block's item list for
   * `syncItems`. */
  private putState(unit: string, state: BlockState | undefined): void {
    this.states.set(unit, state);
    const item = itemOf(unit);
    if (item) this.itemsChanged.add(item[0]);
  }

  /** Rebuild the item lists of the blocks whose items changed. */
  private syncItems(): void {
    if (!this.itemsChanged.size) return;
    const byBlock = new Map<string, ItemEntry[]>();
    for (const block of this.itemsChanged) byBlock.set(block, []);
    this.itemsChanged.clear();
    for (const unit of this.states.keys()) {
      const item = itemOf(unit);
      const list = item && byBlock.get(item[0]);
      if (list) list.push({ index: item[1], unit, state: this.states.get(unit)! });
    }
    for (const [block, list] of byBlock) {
      list.sort((a, b) => a.index - b.index);
      this.items.set(block, list.length ? list : undefined);
    }
  }

  /** The worker as shown: "running" with nothing queued or running is taken as idle (the
   * state a run ends with is sent from inside the run). */
  private setWorker(info: WorkerInfo): void {
    let next = info;
    if (info.status === "running") {
      const busy = this.states
        .keys()
        .some((k) => {
          const s = this.states.get(k)?.status;
          return s === "running" || s === "queued";
        });
      if (!busy) next = { ...info, status: "idle", running: null };
    }
    if (!deepEqual(next, this.worker.get())) this.worker.set(next);
  }

  /** Apply a state fetched over HTTP, except for blocks an event has told about since
   * `since`. */
  private applySnapshot(state: NotebookState, since: number, force = false): void {
    if (state.worker === "dead") {
      this.setWorker({ status: "dead", message: state.message ?? this.worker.get().message, running: null });
      return;
    }
    const fresh = force || this.lastFullState <= since;
    if (fresh) {
      for (const [b, s] of Object.entries(state.blocks)) {
        if (!force && (this.touched.get(b) ?? 0) > since) continue;
        if (!deepEqual(this.states.get(b), s)) this.putState(b, s);
      }
      if (force) {
        for (const key of this.states.keys()) if (!(key in state.blocks)) this.putState(key, undefined);
      }
      this.syncItems();
    }
    if (force || this.seq === since) {
      this.setWorker({ status: state.worker, message: state.message ?? null, running: state.running });
    }
  }

  /** Stale markers change when files do: ask the worker again. */
  async refreshStates(force = false): Promise<void> {
    const since = this.seq;
    try {
      const state = await api.notebook(this.pipeline);
      if (!this.disposed) this.applySnapshot(state, since, force);
    } catch {
      // the worker's events keep the page current anyway
    }
  }

  async run(block: string | null, mode: RunMode, auto = false): Promise<void> {
    if (!auto) {
      const scope =
        mode === "all" || block === null
          ? this.order.get()
          : mode === "downstream"
            ? [block, ...this.downstreamOf(block)]
            : [block];
      if (!(await this.saveDirty(scope))) return;
    }
    const since = this.seq;
    if (mode === "block" && block !== null && !auto) this.autoCandidates.add(block);
    for (let attempt = 0; ; attempt++) {
      try {
        const state = await api.run(this.pipeline, block, mode);
        this.notice.set(null);
        this.applySnapshot(state, since);
        return;
      } catch (error) {
        const busy = error instanceof ApiError && error.status === 409 && /busy|going on/.test(error.message + JSON.stringify(error.body));
        if (auto && busy && attempt < 20) {
          await sleep(250); // the run that just ended is still writing its last state
          continue;
        }
        if (block) this.autoCandidates.delete(block);
        this.fail(error, block ? `running ${block}` : "running all blocks");
        return;
      }
    }
  }

  /** Run one item of a mapped block again; its other items keep their outputs. */
  async runItem(block: string, item: number): Promise<void> {
    if (!(await this.saveDirty([block]))) return;
    const since = this.seq;
    try {
      this.applySnapshot(await api.run(this.pipeline, block, "block", item), since);
      this.notice.set(null);
    } catch (error) {
      this.fail(error, `running ${block}[${item}]`);
    }
  }

  /** Auto-run: after a block run alone succeeds, run its (now stale) downstream. */
  private async autoRunAfter(): Promise<void> {
    const ready = this.autoReady;
    this.autoReady = [];
    if (!this.autoRun.get()) return;
    // a block that just ran again leaves everything downstream of it stale
    const block = ready.find((b) => this.downstreamOf(b).length > 0);
    if (block) await this.run(block, "downstream", true);
  }

  setAutoRun(on: boolean): void {
    this.autoRun.set(on);
    try {
      window.localStorage.setItem("cairn.autorun", on ? "1" : "0");
    } catch {
      // ignore
    }
  }

  async interrupt(): Promise<void> {
    try {
      await api.interrupt(this.pipeline);
    } catch (error) {
      this.fail(error, "interrupting");
    }
  }

  async restart(): Promise<void> {
    this.autoCandidates.clear();
    this.setWorker({ status: "starting", message: null, running: null });
    try {
      await api.restart(this.pipeline);
      this.notice.set(null);
      await this.refreshStates(true);
    } catch (error) {
      this.fail(error, "restarting the worker");
    }
  }

  // -- pipeline runs -------------------------------------------------------------------
  async startPipelineRun(): Promise<void> {
    const unsaved = this.order.get().filter((n) => this.files.get(n)?.dirty);
    this.pipelineRun.set({ id: null, status: "starting", error: null, blocks: [] });
    let id: string;
    try {
      id = (await api.startRun(this.pipeline)).run_id;
    } catch (error) {
      this.pipelineRun.set({ id: null, status: "failed", error: errorText(error), blocks: [] });
      return;
    }
    if (unsaved.length) {
      this.notice.set({ kind: "info", text: `the run uses the saved files; unsaved: ${unsaved.join(", ")}` });
    }
    this.pipelineRun.set({ id, status: "starting", error: null, blocks: [] });
    for (let tries = 0; !this.disposed; tries++) {
      await sleep(RUN_POLL_MS);
      if (this.pipelineRun.get()?.id !== id) return; // another run was started
      try {
        const run = await api.runDetail(id);
        this.pipelineRun.set({ id, status: run.status, error: run.error, blocks: run.blocks });
        // the cards and the graph show each block's state in this run as it changes
        await this.refreshStates();
        if (!ACTIVE_RUN.has(run.status)) return;
      } catch (error) {
        // the run's process records the run a moment after it starts
        if (!(error instanceof ApiError && error.status === 404) || tries > 120) {
          this.pipelineRun.set({ id, status: "unknown", error: errorText(error), blocks: [] });
          return;
        }
      }
    }
  }
}
