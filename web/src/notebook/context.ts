import { createContext, useContext } from "react";
import type { NotebookController } from "./controller";
import type { LazyMounter } from "./lazy";

export interface NotebookContextValue {
  ctl: NotebookController;
  lazy: LazyMounter;
}

export const NotebookContext = createContext<NotebookContextValue | null>(null);

export function useNotebook(): NotebookContextValue {
  const value = useContext(NotebookContext);
  if (!value) throw new Error("useNotebook outside a notebook page");
  return value;
}
