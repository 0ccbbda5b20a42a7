// The notebook's Generate dialog: a description in, a proposed block shown for review, saved
// through the same routes as a block added and edited by hand.
import { useState } from "react";
import { api, errorText } from "../api";
import type { Language, Proposal } from "../types";
import { useNotebook } from "./context";

/** Where a proposal came from, e.g. "from a template: deduplicate". */
export function origin(proposal: Proposal): string {
  if (proposal.source === "template") return `from a template: ${proposal.template ?? "?"}`;
  const repairs = Math.max(0, proposal.attempts - 1);
  if (repairs === 0) return "from the model";
  return `from the model, ${repairs} repair round${repairs === 1 ? "" : "s"}`;
}

export function ProposalProblems({ proposal }: { proposal: Proposal }) {
  if (proposal.problems.length === 0) return null;
  return (
    <ul className="problems" data-testid="proposal-problems">
      {proposal.problems.map((p, i) => (
        <li key={i}>
          {p.line !== null && <span className="muted">line {p.line}: </span>}
          {p.message}
          {p.hint && <span className="muted"> — {p.hint}</span>}
        </li>
      ))}
    </ul>
  );
}

export function GeneratePanel({ onDone }: { onDone: () => void }) {
  const { ctl, lazy } = useNotebook();
  const [description, setDescription] = useState("");
  const [language, setLanguage] = useState<Language>("python");
  const [name, setName] = useState("");
  const [showing, setShowing] = useState(false);
  const [context, setContext] = useState<string | null>(null);
  const [proposal, setProposal] = useState<Proposal | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const attempt = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  const showContext = (show: boolean, lang: Language) => {
    setShowing(show);
    setContext(null);
    if (show) void attempt(async () => setContext((await api.generationContext(ctl.pipeline, lang)).text));
  };
  const generate = () =>
    attempt(async () => setProposal(await api.generate(ctl.pipeline, description.trim(), language, name.trim() || null)));
  const save = async (chosen: Proposal) => {
    setBusy(true);
    // the add-block route creates the file from its starter text; the generated code is then
    // saved over it like an edit, against the hash of the file just created
    const added = await ctl.addBlock(chosen.name, chosen.language);
    if (added) {
      ctl.putText(chosen.name, chosen.code);
      await ctl.save(chosen.name);
    }
    setBusy(false);
    if (!added) return;
    onDone();
    setTimeout(() => {
      const card = document.getElementById(`card-${chosen.name}`);
      card?.scrollIntoView({ block: "center" });
      const editor = card?.querySelector(".editor");
      if (editor) lazy.mountNow(editor);
    }, 50);
  };

  return (
    <div className="generate-panel" data-testid="generate-panel">
      <form
        className="add-block-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (description.trim()) void generate();
        }}
      >
        <label className="grow">
          Describe the block{" "}
          <input
            autoFocus
            data-testid="generate-description"
            value={description}
            placeholder="deduplicate customers by email keeping the latest"
            onChange={(e) => setDescription(e.target.value)}
            onKeyDown={(e) => e.key === "Escape" && onDone()}
          />
        </label>
        <label>
          Language{" "}
          <select
            data-testid="generate-language"
            value={language}
            onChange={(e) => {
              const next = e.target.value as Language;
              setLanguage(next);
              if (showing) showContext(true, next);
            }}
          >
            <option value="python">Python</option>
            <option value="sql">SQL</option>
            <option value="r">R</option>
          </select>
        </label>
        <label>
          Name{" "}
          <input data-testid="generate-name" value={name} placeholder="optional" onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="check" title="the exact text a configured model would be sent">
          <input
            type="checkbox"
            data-testid="generate-show-context"
            checked={showing}
            onChange={(e) => showContext(e.target.checked, language)}
          />
          Show what is sent
        </label>
        <button type="submit" className="primary" data-testid="generate-submit" disabled={busy || !description.trim()}>
          {busy && !proposal ? "Generating…" : "Generate"}
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </form>
      {error && (
        <div className="card-message error-text pre-line" data-testid="generate-error">
          {error}
        </div>
      )}
      {showing && context !== null && (
        <pre className="ai-text" data-testid="generate-context">
          {context}
        </pre>
      )}
      {proposal && (
        <div className="proposal" data-testid="proposal">
          <div className="proposal-head">
            <b data-testid="proposal-name">{proposal.name}</b>{" "}
            <span className="muted" data-testid="proposal-origin">
              ({proposal.language}, {origin(proposal)})
            </span>
            <span className="spacer" />
            <button className="primary" data-testid="proposal-save" disabled={busy} onClick={() => void save(proposal)}>
              Save
            </button>
            <button data-testid="proposal-discard" onClick={() => setProposal(null)}>
              Discard
            </button>
          </div>
          <ProposalProblems proposal={proposal} />
          <pre className="ai-code" data-testid="proposal-code">
            {proposal.code}
          </pre>
        </div>
      )}
    </div>
  );
}
