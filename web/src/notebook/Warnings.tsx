import { useKey } from "../store";
import { useNotebook } from "./context";

/** A block's graph warnings: names it reads that no block defines, where it reads them
 * first and the defined names like them (a rename elsewhere may have broken this block). */
export function Warnings({ name }: { name: string }) {
  const { ctl } = useNotebook();
  const warnings = useKey(ctl.warnings, name);
  if (!warnings || warnings.length === 0) return null;
  return (
    <ul className="warnings" data-testid={`warnings-${name}`}>
      {warnings.map((w, i) => (
        <li key={i} data-testid={`warning-${name}-${w.name ?? i}`}>
          <span className="warning-kind">warning</span>{" "}
          <span className="muted">
            {w.file}
            {w.line !== null ? `:${w.line}` : ""}
          </span>{" "}
          reads <code>{w.name}</code>, which no block defines
          {w.suggestions && w.suggestions.length > 0 ? (
            <span>
              {" "}
              — did you mean{" "}
              {w.suggestions.map((s, j) => (
                <span key={s}>
                  {j > 0 && " or "}
                  <code>{s}</code>
                </span>
              ))}
              ?
            </span>
          ) : (
            w.hint && <span className="muted"> — {w.hint}</span>
          )}
        </li>
      ))}
    </ul>
  );
}
