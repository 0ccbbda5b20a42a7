import { memo, useEffect, useState } from "react";
import { formatTime } from "../pages/common";
import { useKey, useSignal } from "../store";
import type { BlockFailure, StateOrigin } from "../types";
import { BlockAssist } from "./BlockAssist";
import { useNotebook } from "./context";
import { Editor } from "./Editor";
import { ItemsStrip } from "./Items";
import { NoteChips } from "./Notes";
import { ErrorView, Logs, Outputs } from "./Outputs";
import { RenameForm } from "./RenameForm";
import { Warnings } from "./Warnings";

const LANGUAGE_LABEL = { python: "Python", sql: "SQL", r: "R" } as const;

function basename(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** Whether a failure's line is a line of this block's file. */
function inBlockFile(error: BlockFailure, blockFile: string): boolean {
  if (!error.file) return true;
  return error.file === blockFile || error.file.endsWith(`/${blockFile}`) || basename(error.file) === basename(blockFile);
}

function duration(seconds: number | null): string {
  if (seconds === null) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function ago(iso: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return seconds < 5 ? "just now" : `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** Where the card's state comes from: this session, or a pipeline run (with a link). */
function Origin({ name, origin }: { name: string; origin: StateOrigin }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, []);
  const when = <span title={formatTime(origin.at)}>{ago(origin.at, now)}</span>;
  if (origin.kind === "notebook") {
    return (
      <div className="card-origin muted small" data-testid={`origin-${name}`} data-origin="notebook">
        this session · {when}
      </div>
    );
  }
  return (
    <div className="card-origin muted small" data-testid={`origin-${name}`} data-origin="run" data-run={origin.run_id}>
      run{" "}
      <a className="mono" href={`#/runs/${encodeURIComponent(origin.run_id)}`}>
        {origin.run_id}
      </a>{" "}
      · {origin.trigger} · {when}
    </div>
  );
}

/** One block: its header and actions, editor, logs and result. Subscribes to its own file,
 * run state and problems only. */
export const BlockCard = memo(function BlockCard({ name }: { name: string }) {
  const { ctl } = useNotebook();
  const file = useKey(ctl.files, name);
  const state = useKey(ctl.states, name);
  const problems = useKey(ctl.problems, name);
  const notes = useKey(ctl.notes, name);
  const items = useKey(ctl.items, name);
  const order = useSignal(ctl.order);
  const position = order.indexOf(name);
  const [mode, setMode] = useState<"none" | "rename" | "delete">("none");

  if (!file) return null;
  const { block } = file;
  const status = state?.status ?? "never";
  const showStale = !!state?.stale && !["never", "queued", "running", "skipped"].includes(status);
  const skipped = status === "skipped";
  const error = skipped ? null : (state?.error ?? null);
  const errorLine = error && error.line !== null && inBlockFile(error, block.file) ? error.line : null;
  const problemLines = (problems ?? [])
    .map((p) => p.line)
    .filter((l): l is number => typeof l === "number")
    .join(",");

  return (
    <section
      className={`card status-${status}${file.dirty ? " dirty" : ""}`}
      id={`card-${name}`}
      data-testid={`block-card-${name}`}
      onKeyDown={(e) => {
        // the editor handles its own Ctrl/Cmd+S (and prevents the default)
        if (!e.defaultPrevented && (e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
          e.preventDefault();
          void ctl.save(name);
        }
      }}
    >
      <header className="card-head">
        <span className="block-name" title={block.file}>
          {name}
        </span>
        <span className={`badge lang lang-${block.language}`} data-testid={`language-${name}`}>
          {LANGUAGE_LABEL[block.language] ?? block.language}
        </span>
        <span className={`badge status status-${status}`} data-testid={`status-${name}`}>
          {status}
        </span>
        <NoteChips notes={notes} items={items ? items.length : null} testId={`notes-${name}`} />
        {showStale && (
          <span className="badge stale" data-testid={`stale-${name}`} title="changed, or upstream ran again, since it last ran">
            stale
          </span>
        )}
        {file.dirty && (
          <span className="badge dirty" data-testid={`dirty-${name}`}>
            unsaved
          </span>
        )}
        {state?.duration_s != null && status !== "running" && status !== "skipped" && (
          <span className="muted" data-testid={`duration-${name}`}>
            {duration(state.duration_s)}
          </span>
        )}
        <span className="card-actions">
          <button
            data-testid={`move-up-${name}`}
            className="icon"
            disabled={position <= 0}
            onClick={() => void ctl.move(name, -1)}
            title="Move up (writes the order to pipeline.yaml)"
            aria-label="move up"
          >
            ↑
          </button>
          <button
            data-testid={`move-down-${name}`}
            className="icon"
            disabled={position < 0 || position >= order.length - 1}
            onClick={() => void ctl.move(name, 1)}
            title="Move down (writes the order to pipeline.yaml)"
            aria-label="move down"
          >
            ↓
          </button>
          <button data-testid={`run-${name}`} onClick={() => void ctl.run(name, "block")} title="Run this block (Shift+Enter)">
            Run
          </button>
          <button data-testid={`run-downstream-${name}`} onClick={() => void ctl.run(name, "downstream")}>
            Run downstream
          </button>
          <button data-testid={`save-${name}`} disabled={file.saving} onClick={() => void ctl.save(name)} title="Save (Ctrl/Cmd+S)">
            {file.saving ? "Saving…" : "Save"}
          </button>
          <button
            data-testid={`rename-${name}`}
            onClick={() => setMode(mode === "rename" ? "none" : "rename")}
          >
            Rename
          </button>
          <button data-testid={`delete-${name}`} className="danger" onClick={() => setMode(mode === "delete" ? "none" : "delete")}>
            Delete
          </button>
        </span>
      </header>
      {state?.origin && <Origin name={name} origin={state.origin} />}
      <BlockAssist name={name} failed={status === "failed"} />

      {mode === "rename" && <RenameForm name={name} onDone={() => setMode("none")} />}
      {mode === "delete" && (
        <div className="inline-form">
          Delete {block.file}?{" "}
          <button
            className="danger"
            data-testid={`delete-confirm-${name}`}
            onClick={() => void ctl.remove(name).then((ok) => ok || setMode("none"))}
          >
            Delete the file
          </button>
          <button onClick={() => setMode("none")}>Cancel</button>
        </div>
      )}
      {file.conflict && (
        <div className="conflict" data-testid={`conflict-${name}`}>
          {block.file} changed on disk while you were editing it.
          <button data-testid={`reload-${name}`} onClick={() => void ctl.reload(name)}>
            Reload from disk
          </button>
          <button data-testid={`overwrite-${name}`} className="danger" onClick={() => void ctl.overwrite(name)}>
            Overwrite
          </button>
        </div>
      )}
      {file.message && (
        <div className="card-message error-text" data-testid={`message-${name}`}>
          {file.message}
        </div>
      )}
      {problems && problems.length > 0 && (
        <ul className="problems" data-testid={`problems-${name}`}>
          {problems.map((p, i) => (
            <li key={i}>
              {p.line !== null && <span className="muted">line {p.line}: </span>}
              {p.message}
              {p.hint && <span className="muted"> — {p.hint}</span>}
            </li>
          ))}
        </ul>
      )}
      <Warnings name={name} />

      <Editor
        key={block.language}
        name={name}
        language={block.language}
        source={block.source}
        errorLine={errorLine}
        problemLines={problemLines}
      />

      {state && state.logs.length > 0 && <Logs block={name} logs={state.logs} />}
      {skipped && (
        <div className="skip-reason" data-testid={`skip-reason-${name}`} title={state?.error?.message ?? undefined}>
          {state?.error?.message || "skipped"}
        </div>
      )}
      {items && (
        <ItemsStrip pipeline={ctl.pipeline} block={name} items={items} onRunItem={(i) => void ctl.runItem(name, i)} />
      )}
      {error && <ErrorView block={name} error={error} />}
      {state && state.outputs.length > 0 && <Outputs pipeline={ctl.pipeline} block={name} outputs={state.outputs} />}
    </section>
  );
});
