import { useEffect, useState } from "react";
import { BlockCard } from "../notebook/BlockCard";
import { NotebookContext, type NotebookContextValue, useNotebook } from "../notebook/context";
import { NotebookController } from "../notebook/controller";
import { GeneratePanel } from "../notebook/GeneratePanel";
import { GraphView } from "../notebook/GraphView";
import { LazyMounter } from "../notebook/lazy";
import { RecentRuns, TriggersPanel } from "../notebook/SchedulePanels";
import { useSignal } from "../store";
import type { Language } from "../types";
import { MissingPipeline } from "./MissingPipeline";

export function NotebookPage({ pipeline }: { pipeline: string }) {
  const [value, setValue] = useState<NotebookContextValue | null>(null);
  const [created, setCreated] = useState(0); // a pipeline created on this page: start again
  useEffect(() => {
    const next = { ctl: new NotebookController(pipeline), lazy: new LazyMounter() };
    next.ctl.start();
    setValue(next);
    return () => {
      next.ctl.dispose();
      next.lazy.dispose();
    };
  }, [pipeline, created]);
  if (!value || value.ctl.pipeline !== pipeline) return <div className="page muted">loading…</div>;
  return <Notebook value={value} onCreated={() => setCreated((n) => n + 1)} />;
}

function Notebook({ value, onCreated }: { value: NotebookContextValue; onCreated: () => void }) {
  const missing = useSignal(value.ctl.missing);
  const pipeline = value.ctl.pipeline;
  if (missing) return <MissingPipeline pipeline={pipeline} onCreated={onCreated} />;
  return (
    <NotebookContext.Provider value={value}>
      <div className="notebook">
        <Toolbar />
        <WorkerBanner />
        <NoticeBar />
        <PipelineRunStatus />
        <div className="notebook-body">
          <main className="blocks">
            <BlockList />
          </main>
          <aside className="side">
            <GraphView />
            <TriggersPanel pipeline={pipeline} />
            <RecentRuns pipeline={pipeline} />
          </aside>
        </div>
      </div>
    </NotebookContext.Provider>
  );
}

function Toolbar() {
  const { ctl } = useNotebook();
  const worker = useSignal(ctl.worker);
  const autoRun = useSignal(ctl.autoRun);
  const connected = useSignal(ctl.connected);
  const run = useSignal(ctl.pipelineRun);
  const [adding, setAdding] = useState(false);
  const [generating, setGenerating] = useState(false);
  const dead = worker.status === "dead";
  const runActive = !!run && (run.status === "starting" || run.status === "running");
  return (
    <>
      <div className="toolbar">
        <h2 className="pipeline-name">{ctl.pipeline}</h2>
        <span className={`worker worker-${worker.status}`} data-testid="worker-status">
          worker: {worker.status}
          {worker.running ? ` (${worker.running})` : ""}
        </span>
        {connected === false && (
          <span className="badge warn" data-testid="ws-disconnected" title="the live connection to the worker is down">
            reconnecting…
          </span>
        )}
        <span className="spacer" />
        <button data-testid="run-all" onClick={() => void ctl.run(null, "all")}>
          Run all
        </button>
        <button data-testid="run-pipeline" disabled={runActive} onClick={() => void ctl.startPipelineRun()} title="A real run, recorded in the history">
          Run pipeline
        </button>
        <button data-testid="interrupt" onClick={() => void ctl.interrupt()}>
          Interrupt
        </button>
        <button data-testid={dead ? "toolbar-restart-worker" : "restart-worker"} onClick={() => void ctl.restart()}>
          Restart worker
        </button>
        <label className="check" title="after a block runs successfully, run the blocks downstream of it">
          <input type="checkbox" data-testid="auto-run" checked={autoRun} onChange={(e) => ctl.setAutoRun(e.target.checked)} />
          auto-run
        </label>
        <button data-testid="generate-block" onClick={() => setGenerating(!generating)} title="Write a block from a description">
          Generate
        </button>
        <button data-testid="add-block" className="primary" onClick={() => setAdding(!adding)}>
          Add block
        </button>
      </div>
      {adding && <AddBlockForm onDone={() => setAdding(false)} />}
      {generating && <GeneratePanel onDone={() => setGenerating(false)} />}
    </>
  );
}

function AddBlockForm({ onDone }: { onDone: () => void }) {
  const { ctl, lazy } = useNotebook();
  const [name, setName] = useState("");
  const [language, setLanguage] = useState<Language>("python");
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    const trimmed = name.trim();
    if (!trimmed) return;
    setBusy(true);
    const ok = await ctl.addBlock(trimmed, language);
    setBusy(false);
    if (!ok) return;
    onDone();
    setTimeout(() => {
      const card = document.getElementById(`card-${trimmed}`);
      card?.scrollIntoView({ block: "center" });
      const editor = card?.querySelector(".editor");
      if (editor) lazy.mountNow(editor);
      ctl.focusEditor(trimmed);
    }, 50);
  };
  return (
    <form
      className="add-block-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label>
        Name{" "}
        <input
          autoFocus
          data-testid="new-block-name"
          value={name}
          placeholder="clean_orders"
          onChange={(e) => setName(e.target.value)}
          onKeyDown={(e) => e.key === "Escape" && onDone()}
        />
      </label>
      <label>
        Language{" "}
        <select data-testid="new-block-language" value={language} onChange={(e) => setLanguage(e.target.value as Language)}>
          <option value="python">Python</option>
          <option value="sql">SQL</option>
          <option value="r">R</option>
        </select>
      </label>
      <button type="submit" className="primary" data-testid="add-block-submit" disabled={busy || !name.trim()}>
        Add
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}

function WorkerBanner() {
  const { ctl } = useNotebook();
  const worker = useSignal(ctl.worker);
  if (worker.status !== "dead") return null;
  return (
    <div className="banner banner-error" data-testid="worker-banner">
      worker stopped: {worker.message ?? "the worker process ended"}
      <button data-testid="restart-worker" onClick={() => void ctl.restart()}>
        Restart
      </button>
    </div>
  );
}

function NoticeBar() {
  const { ctl } = useNotebook();
  const notice = useSignal(ctl.notice);
  if (!notice) return null;
  return (
    <div className={`banner banner-${notice.kind}`} data-testid="notice">
      <span className="pre-line">{notice.text}</span>
      <button className="link" onClick={() => ctl.setNotice(null)} aria-label="dismiss">
        ×
      </button>
    </div>
  );
}

function PipelineRunStatus() {
  const { ctl } = useNotebook();
  const run = useSignal(ctl.pipelineRun);
  if (!run) return null;
  const done = run.blocks.filter((b) => b.status !== "running" && b.status !== "queued").length;
  const failed = run.blocks.filter((b) => b.status === "failed").length;
  return (
    <div className={`banner run-banner run-${run.status}`} data-testid="pipeline-run-status" data-status={run.status}>
      Pipeline run {run.id ? <code>{run.id}</code> : null}: <b data-testid="pipeline-run-state">{run.status}</b>
      {run.blocks.length > 0 && (
        <span className="muted">
          {" "}
          · {done} block{done === 1 ? "" : "s"} done{failed ? `, ${failed} failed` : ""}
        </span>
      )}
      {run.error && <span className="error-text"> · {run.error}</span>}
      {run.id && (
        <a href={`#/runs/${encodeURIComponent(run.id)}`} data-testid="pipeline-run-link">
          history
        </a>
      )}
      <button className="link" onClick={() => ctl.pipelineRun.set(null)} aria-label="dismiss">
        ×
      </button>
    </div>
  );
}

function BlockList() {
  const { ctl } = useNotebook();
  const order = useSignal(ctl.order);
  const loading = useSignal(ctl.loading);
  if (!loading.done) return <div className="muted">loading…</div>;
  if (loading.error && order.length === 0) {
    return (
      <div className="banner banner-error pre-line" data-testid="load-error">
        {loading.error}
      </div>
    );
  }
  if (order.length === 0) return <div className="muted">No blocks yet: add one.</div>;
  return (
    <>
      {order.map((name) => (
        <BlockCard key={name} name={name} />
      ))}
    </>
  );
}
