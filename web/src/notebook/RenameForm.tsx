import { useState } from "react";
import { errorText } from "../api";
import type { Reader } from "../types";
import { useNotebook } from "./context";

/** Rename a block. When other blocks read its name, ask first whether to rewrite them to
 * read the new name (R and templated SQL readers are listed to update by hand). */
export function RenameForm({ name, onDone }: { name: string; onDone: () => void }) {
  const { ctl } = useNotebook();
  const [newName, setNewName] = useState(name);
  const [readers, setReaders] = useState<Reader[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const target = newName.trim();

  const rename = async (withReaders: Reader[]) => {
    setBusy(true);
    const ok = await ctl.rename(name, target, withReaders);
    setBusy(false);
    if (ok) onDone();
  };

  const submit = async () => {
    if (!target || target === name) {
      onDone();
      return;
    }
    setBusy(true);
    try {
      const found = await ctl.readersOf(name);
      setBusy(false);
      if (found.length) setReaders(found);
      else await rename([]);
    } catch (error) {
      setBusy(false);
      setMessage(errorText(error));
    }
  };

  if (readers) {
    const byHand = readers.filter((r) => !r.updatable);
    return (
      <div className="inline-form rename-readers" role="dialog" data-testid={`rename-readers-${name}`}>
        <div>
          {readers.length === 1 ? "1 block reads" : `${readers.length} blocks read`} <code>{name}</code>; after the
          rename to <code>{target}</code> {readers.length === 1 ? "it" : "they"} would read a name no block defines:
        </div>
        <ul>
          {readers.map((r) => (
            <li key={r.block} data-testid={`reader-${name}-${r.block}`}>
              <code>{r.block}</code> <span className="muted">{r.file}</span>
              {!r.updatable && <span className="muted"> (update by hand)</span>}
            </li>
          ))}
        </ul>
        {byHand.length < readers.length && (
          <button disabled={busy} data-testid={`rename-update-readers-${name}`} onClick={() => void rename(readers)}>
            Rename and update {readers.length - byHand.length === 1 ? "the reader" : "readers"}
          </button>
        )}
        <button disabled={busy} data-testid={`rename-only-${name}`} onClick={() => void rename([])}>
          Rename only
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    );
  }

  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <label>
        New name{" "}
        <input
          autoFocus
          data-testid={`rename-input-${name}`}
          value={newName}
          onChange={(e) => setNewName(e.target.value)}
          onKeyDown={(e) => e.key === "Escape" && onDone()}
        />
      </label>
      <button type="submit" disabled={busy} data-testid={`rename-submit-${name}`}>
        Rename
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
      {message && <span className="error-text">{message}</span>}
    </form>
  );
}
