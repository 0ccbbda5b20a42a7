// A run's logs: one block's or all of them, numbered, filtered to the lines holding the
// search text, which is highlighted. The server does the search (GET /api/runs/ID/logs).
import { Fragment, useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { LogSearch } from "../types";

const TYPING_MS = 250;

/** `text` with each case-insensitive occurrence of `query` in a <mark>. */
function highlight(text: string, query: string) {
  if (!query) return text;
  const lower = text.toLowerCase();
  const needle = query.toLowerCase();
  const parts = [];
  let from = 0;
  for (let at = lower.indexOf(needle); at >= 0; at = lower.indexOf(needle, from)) {
    parts.push(<Fragment key={`t${at}`}>{text.slice(from, at)}</Fragment>);
    parts.push(<mark key={`m${at}`}>{text.slice(at, at + needle.length)}</mark>);
    from = at + needle.length;
  }
  parts.push(<Fragment key="end">{text.slice(from)}</Fragment>);
  return parts;
}

export function LogViewer({
  runId,
  blocks,
  block,
  onBlock,
  version,
}: {
  runId: string;
  blocks: string[];
  block: string | null;
  onBlock: (block: string | null) => void;
  /** Changes when the run's logs may have grown: they are read again. */
  version: string;
}) {
  const [typed, setTyped] = useState("");
  const [query, setQuery] = useState("");
  // The answer with the search it answers, so that it is highlighted with that text.
  const [found, setFound] = useState<(LogSearch & { query: string }) | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const timer = setTimeout(() => setQuery(typed), TYPING_MS);
    return () => clearTimeout(timer);
  }, [typed]);

  useEffect(() => {
    let live = true;
    api
      .searchLogs(runId, block, query)
      .then((result) => {
        if (!live) return;
        setFound({ ...result, query });
        setError(null);
      })
      .catch((e: unknown) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [runId, block, query, version]);

  return (
    <div className="log-viewer" data-testid="log-viewer">
      <div className="log-viewer-head">
        <h3>Logs</h3>
        <select data-testid="log-block" value={block ?? ""} onChange={(e) => onBlock(e.target.value || null)}>
          <option value="">all blocks</option>
          {blocks.map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
        <input
          type="search"
          placeholder="search the logs"
          data-testid="log-search"
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
        {found && (
          <span className="muted small" data-testid="log-count">
            {`${found.lines.length}${found.truncated ? "+" : ""} ${found.query ? "matching " : ""}line${found.lines.length === 1 ? "" : "s"}`}
          </span>
        )}
      </div>
      {error && <div className="error-text">{error}</div>}
      <div className="log-lines" data-testid="log-lines">
        {found === null ? (
          <div className="muted">loading…</div>
        ) : found.lines.length === 0 ? (
          <div className="muted">{found.query ? "No line matches." : "(no output)"}</div>
        ) : (
          found.lines.map((line) => (
            <div className="log-row" key={`${line.block}:${line.line}`} data-testid="log-line">
              {block === null && <span className="log-block">{line.block}</span>}
              <span className="log-no">{line.line}</span>
              <span className="log-text">{highlight(line.text, found.query)}</span>
            </div>
          ))
        )}
        {found?.truncated && <div className="muted small">Only the first {found.lines.length} lines are shown: narrow the search.</div>}
      </div>
    </div>
  );
}
