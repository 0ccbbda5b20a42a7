import { memo, useState } from "react";
import type { ItemEntry } from "./controller";
import { ErrorView, Logs, Outputs } from "./Outputs";

function itemTitle(item: ItemEntry): string {
  const { status, error } = item.state;
  return error?.message ? `${item.unit}: ${status} — ${error.message}` : `${item.unit}: ${status}`;
}

/** The items of a mapped block: a square per item colored by its status, a counter, and
 * the log lines, error and outputs of the item clicked, which can be run again alone. */
export const ItemsStrip = memo(function ItemsStrip({
  pipeline,
  block,
  items,
  onRunItem,
}: {
  pipeline: string;
  block: string;
  items: ItemEntry[];
  onRunItem: (index: number) => void;
}) {
  const [selected, setSelected] = useState<number | null>(null);
  const done = items.filter((i) => i.state.status === "success").length;
  const failed = items.filter((i) => i.state.status === "failed").length;
  const shown = selected === null ? undefined : items.find((i) => i.index === selected);
  return (
    <div className="items" data-testid={`items-${block}`}>
      <div className="items-head">
        <span className="items-label">Items</span>
        <span className="items-squares">
          {items.map((item) => (
            <button
              key={item.index}
              type="button"
              className={`item-square status-${item.state.status}${item.index === selected ? " selected" : ""}`}
              data-testid={`item-${block}-${item.index}`}
              data-status={item.state.status}
              title={itemTitle(item)}
              aria-label={itemTitle(item)}
              onClick={() => setSelected(item.index === selected ? null : item.index)}
            />
          ))}
        </span>
        <span className="muted items-count" data-testid={`items-count-${block}`}>
          {done}/{items.length} items done{failed ? `, ${failed} failed` : ""}
        </span>
      </div>
      {shown && (
        <div className="item-detail">
          <div className="item-detail-head mono">
            {shown.unit} <span className={`badge status status-${shown.state.status}`}>{shown.state.status}</span>
            <button
              type="button"
              data-testid={`run-item-${block}-${shown.index}`}
              onClick={() => onRunItem(shown.index)}
              title="Run this item again; the other items keep their outputs"
            >
              ▶ Run this item
            </button>
          </div>
          {shown.state.logs.length > 0 && <Logs block={shown.unit} logs={shown.state.logs} />}
          {shown.state.error && <ErrorView block={shown.unit} error={shown.state.error} />}
          {shown.state.outputs.length > 0 && <Outputs pipeline={pipeline} block={shown.unit} outputs={shown.state.outputs} />}
          {!shown.state.logs.length && !shown.state.error && !shown.state.outputs.length && (
            <div className="muted item-empty">nothing yet</div>
          )}
        </div>
      )}
    </div>
  );
});
