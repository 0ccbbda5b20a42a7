import type { EditorView } from "@codemirror/view";
import { memo, useEffect, useRef, useState } from "react";
import type { Language } from "../types";
import { createEditor, type Marks, replaceText, updateMarks } from "./codemirror";
import { useNotebook } from "./context";

interface Props {
  name: string;
  language: Language;
  /** The text on disk, shown until the editor is created. */
  source: string;
  errorLine: number | null;
  /** Lines with graph problems, comma-separated (a string, so memo compares it cheaply). */
  problemLines: string;
}

/** A block's CodeMirror editor, created lazily; a <pre> of the source stands in before. */
export const Editor = memo(function Editor({ name, language, source, errorLine, problemLines }: Props) {
  const { ctl, lazy } = useNotebook();
  const boxRef = useRef<HTMLDivElement>(null);
  const hostRef = useRef<HTMLDivElement>(null);
  const viewRef = useRef<EditorView | null>(null);
  const [mounted, setMounted] = useState(false);
  const marks: Marks = {
    error: errorLine,
    problems: problemLines ? problemLines.split(",").map(Number) : [],
  };
  const marksRef = useRef(marks);
  marksRef.current = marks;

  useEffect(() => {
    const box = boxRef.current;
    const host = hostRef.current;
    if (!box || !host) return;
    let unregister: () => void = () => {};
    const cancel = lazy.add(box, () => {
      const view = createEditor(
        host,
        ctl.textOf(name),
        language,
        {
          onChange: (text) => ctl.onEdit(name, text),
          onSave: () => void ctl.save(name),
          onRun: () => void ctl.run(name, "block"),
        },
        marksRef.current,
      );
      viewRef.current = view;
      unregister = ctl.registerEditor(name, {
        getText: () => view.state.doc.toString(),
        setText: (text) => replaceText(view, text),
        focus: () => view.focus(),
      });
      setMounted(true);
    });
    return () => {
      cancel();
      unregister();
      viewRef.current?.destroy();
      viewRef.current = null;
      setMounted(false);
    };
  }, [ctl, lazy, name, language]);

  useEffect(() => {
    if (viewRef.current) updateMarks(viewRef.current, marksRef.current);
  }, [errorLine, problemLines, mounted]);

  const mountAndFocus = () => {
    if (!mounted && boxRef.current) {
      lazy.mountNow(boxRef.current);
      ctl.focusEditor(name);
    }
  };

  return (
    <div ref={boxRef} className="editor" data-testid={`editor-${name}`}>
      {!mounted && (
        <pre className="editor-placeholder" onClick={mountAndFocus}>
          {source || " "}
        </pre>
      )}
      <div ref={hostRef} className="editor-host" />
    </div>
  );
});
