// CodeMirror 6 for block files: the language by block, Ctrl/Cmd+S to save,
// Shift/Ctrl/Cmd+Enter to run, and line marks for a failure and graph problems.
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import { PostgreSQL, sql } from "@codemirror/lang-sql";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  StreamLanguage,
  syntaxHighlighting,
} from "@codemirror/language";
import { r } from "@codemirror/legacy-modes/mode/r";
import { EditorState, type Extension, StateEffect, StateField } from "@codemirror/state";
import {
  Decoration,
  type DecorationSet,
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import type { Language } from "../types";

let rLanguage: Extension | null = null;

function languageSupport(language: Language): Extension {
  switch (language) {
    case "python":
      return python();
    case "sql":
      return sql({ dialect: PostgreSQL });
    case "r":
      rLanguage ??= StreamLanguage.define(r);
      return rLanguage;
    default:
      return [];
  }
}

export interface Marks {
  error: number | null;
  problems: number[];
}

const setMarks = StateEffect.define<Marks>();

function buildMarks(state: EditorState, marks: Marks): DecorationSet {
  const ranges = [];
  const lines = state.doc.lines;
  for (const line of marks.problems) {
    if (line >= 1 && line <= lines && line !== marks.error) {
      ranges.push(
        Decoration.line({ class: "cm-problem-line", attributes: { "data-problem-line": String(line) } }).range(
          state.doc.line(line).from,
        ),
      );
    }
  }
  if (marks.error !== null && marks.error >= 1 && marks.error <= lines) {
    ranges.push(
      Decoration.line({ class: "cm-error-line", attributes: { "data-error-line": String(marks.error) } }).range(
        state.doc.line(marks.error).from,
      ),
    );
  }
  return Decoration.set(ranges, true);
}

const marksField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(value, tr) {
    let next = value.map(tr.changes);
    for (const effect of tr.effects) if (effect.is(setMarks)) next = buildMarks(tr.state, effect.value);
    return next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

const theme = EditorView.theme({
  "&": { fontSize: "13px", backgroundColor: "#fff" },
  ".cm-content": { fontFamily: "var(--mono)" },
  ".cm-gutters": { backgroundColor: "#f7f7f9", color: "#999", borderRight: "1px solid #eee" },
  ".cm-error-line": { backgroundColor: "#fde2e2" },
  ".cm-problem-line": { backgroundColor: "#fff3cd" },
  "&.cm-focused": { outline: "none" },
});

export interface EditorCallbacks {
  onChange(text: string): void;
  onSave(): void;
  onRun(): void;
}

export function createEditor(
  parent: HTMLElement,
  doc: string,
  language: Language,
  callbacks: EditorCallbacks,
  marks: Marks,
): EditorView {
  const run = () => {
    callbacks.onRun();
    return true;
  };
  const state = EditorState.create({
    doc,
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      closeBrackets(),
      highlightActiveLine(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      keymap.of([
        {
          key: "Mod-s",
          run: () => {
            callbacks.onSave();
            return true;
          },
          preventDefault: true,
        },
        { key: "Shift-Enter", run },
        { key: "Mod-Enter", run },
        ...closeBracketsKeymap,
        ...defaultKeymap,
        ...historyKeymap,
        indentWithTab,
      ]),
      languageSupport(language),
      marksField,
      theme,
      EditorView.updateListener.of((update) => {
        if (update.docChanged) callbacks.onChange(update.state.doc.toString());
      }),
    ],
  });
  const view = new EditorView({ state, parent });
  if (marks.error !== null || marks.problems.length) view.dispatch({ effects: setMarks.of(marks) });
  return view;
}

export function updateMarks(view: EditorView, marks: Marks): void {
  view.dispatch({ effects: setMarks.of(marks) });
}

/** Replace the whole text (an edit made on disk), keeping the cursor where it can stay. */
export function replaceText(view: EditorView, text: string): void {
  const head = Math.min(view.state.selection.main.head, text.length);
  view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: text },
    selection: { anchor: head },
  });
}
