import { memo } from "react";
import type { BlockNotes } from "../types";

interface Chip {
  key: string;
  text: string;
  title: string;
}

function chips(notes: BlockNotes, items: number | null): Chip[] {
  const out: Chip[] = [];
  if (notes.run_if !== undefined) {
    const short = notes.run_if.length > 24 ? `${notes.run_if.slice(0, 23)}…` : notes.run_if;
    out.push({ key: "run_if", text: `if ${short}`, title: `run_if: ${notes.run_if}` });
  }
  if (notes.condition) {
    out.push({ key: "condition", text: "condition", title: "a gate: when its value is false, the blocks downstream are skipped" });
  }
  if (notes.trigger_rule) {
    out.push({ key: "trigger_rule", text: notes.trigger_rule, title: `trigger_rule: ${notes.trigger_rule}` });
  }
  if (notes.fan_out) {
    out.push({ key: "fan_out", text: "fan-out", title: "fan_out: its value is cut into items for mapped blocks" });
  }
  if (notes.map) {
    const n = items ?? notes.items ?? null;
    const how = notes.map === "zip" ? "" : ` ${notes.map}`;
    out.push({
      key: "map",
      text: `map${how}${n !== null ? ` ×${n}` : ""}`,
      title: `map: ${notes.map} — runs once per item${n !== null ? ` (${n} item${n === 1 ? "" : "s"})` : ""}`,
    });
  }
  return out;
}

/** The compact notes of a block: "if …", "condition", a trigger rule, "fan-out", "map ×N".
 * `items`: the number of items known here (the notebook's), else the latest run's. */
export const NoteChips = memo(function NoteChips({
  notes,
  items,
  testId,
}: {
  notes: BlockNotes | undefined;
  items: number | null;
  testId: string;
}) {
  const list = notes ? chips(notes, items) : [];
  if (!list.length) return null;
  return (
    <span className="note-chips" data-testid={testId}>
      {list.map((c) => (
        <span key={c.key} className={`note-chip note-${c.key}`} title={c.title}>
          {c.text}
        </span>
      ))}
    </span>
  );
});
