// A block's Explain and Fix actions: the explanation, or a corrected file shown beside the
// current one and applied as an ordinary edit (saved against the hash it was based on).
import { useState } from "react";
import { api, errorText } from "../api";
import type { Proposal } from "../types";
import { useNotebook } from "./context";
import { origin, ProposalProblems } from "./GeneratePanel";

type Shown = { kind: "explain"; text: string } | { kind: "fix"; proposal: Proposal } | null;

export function BlockAssist({ name, failed }: { name: string; failed: boolean }) {
  const { ctl } = useNotebook();
  const [shown, setShown] = useState<Shown>(null);
  const [busy, setBusy] = useState<"explain" | "fix" | null>(null);
  const [error, setError] = useState<string | null>(null);

  const ask = async (kind: "explain" | "fix") => {
    setBusy(kind);
    setError(null);
    try {
      if (kind === "explain") setShown({ kind, text: (await api.explain(ctl.pipeline, name)).text });
      else setShown({ kind, proposal: await api.fix(ctl.pipeline, name) });
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(null);
    }
  };
  const apply = async (proposal: Proposal) => {
    ctl.putText(name, proposal.code);
    if (await ctl.save(name)) setShown(null);
  };

  return (
    <>
      <div className="assist-bar">
        <button data-testid={`explain-${name}`} disabled={busy !== null} onClick={() => void ask("explain")}>
          {busy === "explain" ? "Explaining…" : "Explain"}
        </button>
        <button
          data-testid={`fix-${name}`}
          disabled={busy !== null || !failed}
          title={failed ? "propose a corrected file from the error" : "enabled when the block failed"}
          onClick={() => void ask("fix")}
        >
          {busy === "fix" ? "Fixing…" : "Fix"}
        </button>
      </div>
      {(shown || error) && (
        <div className="assist" data-testid={`assist-${name}`}>
          {error && <div className="error-text pre-line">{error}</div>}
          {shown?.kind === "explain" && (
            <div className="ai-text pre-line" data-testid={`explanation-${name}`}>
              {shown.text}
            </div>
          )}
          {shown?.kind === "fix" && (
            <>
              <div className="muted">Proposed fix ({origin(shown.proposal)}):</div>
              <ProposalProblems proposal={shown.proposal} />
              <div className="fix-compare">
                <pre className="ai-code">{ctl.textOf(name)}</pre>
                <pre className="ai-code" data-testid={`fix-code-${name}`}>
                  {shown.proposal.code}
                </pre>
              </div>
              <button className="primary" data-testid={`fix-apply-${name}`} onClick={() => void apply(shown.proposal)}>
                Apply
              </button>
            </>
          )}
          <button className="link" onClick={() => {
              setShown(null);
              setError(null);
            }} aria-label="close">
            ×
          </button>
        </div>
      )}
    </>
  );
}
