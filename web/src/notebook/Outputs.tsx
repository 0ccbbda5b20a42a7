import { memo, useEffect, useLayoutEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import type { BlockFailure, LogLine, Output, Page } from "../types";

const PAGE_SIZE = 50;

function cell(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

interface TableProps {
  pipeline: string;
  block: string;
  output: Extract<Output, { kind: "table" }>;
  testId: string; // output-table-{block}, or with -{output name} for a block's later tables
  rowsTestId: string;
}

/** A table output: columns with types, the row count, and pages fetched on demand. */
export const TableOutput = memo(function TableOutput({ pipeline, block, output, testId, rowsTestId }: TableProps) {
  const [page, setPage] = useState<Page>(output.page);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setPage(output.page); // a new run: back to its first page
    setError(null);
  }, [output]);

  const go = async (offset: number) => {
    setLoading(true);
    try {
      setPage(await api.outputPage(pipeline, block, output.name, offset, PAGE_SIZE));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  };

  const total = page.total ?? output.rows;
  const first = page.rows.length ? page.offset + 1 : 0;
  const last = page.offset + page.rows.length;
  const columns = page.columns.length ? page.columns : output.columns;
  return (
    <div className="output output-table">
      <div className="output-head">
        <span className="output-name">{output.name}</span>
        <span className="muted" data-testid={rowsTestId}>
          {plural(output.rows, "row")}
        </span>
        <span className="muted">{plural(columns.length, "column")}</span>
        <span className="spacer" />
        <span className="muted" data-testid={`${testId}-range`}>
          {first}–{last} of {total}
        </span>
        <button
          data-testid={`${testId}-prev`}
          disabled={loading || page.offset <= 0}
          onClick={() => void go(Math.max(0, page.offset - PAGE_SIZE))}
        >
          Prev
        </button>
        <button
          data-testid={`${testId}-next`}
          disabled={loading || last >= total}
          onClick={() => void go(page.offset + PAGE_SIZE)}
        >
          Next
        </button>
      </div>
      {error && <div className="error-text">{error}</div>}
      <div className="table-scroll">
        <table data-testid={testId}>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.name}>
                  <div>{c.name}</div>
                  <div className="col-type">{c.type}</div>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {page.rows.map((row, i) => (
              <tr key={page.offset + i}>
                {row.map((value, j) => (
                  <td key={j} className={value === null ? "null" : typeof value === "number" ? "num" : undefined}>
                    {cell(value)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
});

export function ValueOutput({ output, testId }: { output: Extract<Output, { kind: "value" }>; testId: string }) {
  return (
    <div className="output output-value">
      <div className="output-head">
        <span className="output-name">{output.name}</span>
      </div>
      <pre data-testid={testId}>{output.repr}</pre>
    </div>
  );
}

export function Outputs({ pipeline, block, outputs }: { pipeline: string; block: string; outputs: Output[] }) {
  let tables = 0;
  let values = 0;
  return (
    <div className="outputs" data-testid={`outputs-${block}`}>
      {outputs.map((output) => {
        if (output.kind === "table") {
          const suffix = tables++ === 0 ? "" : `-${output.name}`;
          return (
            <TableOutput
              key={output.name}
              pipeline={pipeline}
              block={block}
              output={output}
              testId={`output-table-${block}${suffix}`}
              rowsTestId={`output-rows-${block}${suffix}`}
            />
          );
        }
        const suffix = values++ === 0 ? "" : `-${output.name}`;
        return <ValueOutput key={output.name} output={output} testId={`output-value-${block}${suffix}`} />;
      })}
    </div>
  );
}

export function ErrorView({ block, error }: { block: string; error: BlockFailure }) {
  const where = error.file ? (error.line !== null ? `${error.file}:${error.line}` : error.file) : null;
  return (
    <div className="block-error" data-testid={`error-${block}`}>
      <div className="error-message">{error.message}</div>
      {where && (
        <div className="error-where" data-testid={`error-line-${block}`}>
          {where}
        </div>
      )}
      {error.traceback && (
        <details open>
          <summary>traceback</summary>
          <pre data-testid={`traceback-${block}`}>{error.traceback}</pre>
        </details>
      )}
    </div>
  );
}

/** The block's log lines; stays scrolled to the end while lines arrive. */
export const Logs = memo(function Logs({ block, logs }: { block: string; logs: LogLine[] }) {
  const ref = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });
  return (
    <div
      ref={ref}
      className="logs"
      data-testid={`log-${block}`}
      onScroll={(e) => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
      }}
    >
      {logs.map((l, i) => (
        <div key={i} className={`log-line stream-${l.stream}`}>
          {l.line}
        </div>
      ))}
    </div>
  );
});
