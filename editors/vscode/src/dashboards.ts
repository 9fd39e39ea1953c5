// Panel slugs to dashboard files and lines, from `observatory panels --format json`. No `vscode` import.

import { CliOutputError } from "./problems";

export interface PanelEntry {
  slug: string;
  title: string;
  id: number;
}

export interface DashboardEntry {
  name: string;
  enabled: boolean;
  file: string | null;
  panels: PanelEntry[];
  hidden: string[];
}

export function parsePanels(stdout: string): DashboardEntry[] {
  let data: { dashboards?: unknown };
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new CliOutputError(`observatory panels did not answer JSON: ${stdout.slice(0, 200) || "(nothing)"}`);
  }
  if (!Array.isArray(data?.dashboards)) throw new CliOutputError("observatory panels: no `dashboards` list");
  return data.dashboards as DashboardEntry[];
}

export type Found =
  | { kind: "panel"; dashboard: string; file: string; panel: PanelEntry }
  | { kind: "hidden"; dashboard: string }
  | { kind: "disabled"; dashboard: string }
  | { kind: "unknown"; suggestions: string[] };

/** Where `slug` is drawn (a slug may be on several dashboards: `dashboard` picks one), or why it is not. */
export function findPanel(index: readonly DashboardEntry[], slug: string, dashboard?: string): Found {
  const boards = dashboard ? index.filter((d) => d.name === dashboard) : index;
  for (const board of boards) {
    const panel = board.panels.find((p) => p.slug === slug);
    if (panel && board.file) return { kind: "panel", dashboard: board.name, file: board.file, panel };
  }
  const hidden = boards.find((d) => d.hidden.includes(slug));
  if (hidden) return { kind: "hidden", dashboard: hidden.name };
  const disabled = boards.find((d) => !d.enabled);
  if (disabled && dashboard) return { kind: "disabled", dashboard: disabled.name };
  const all = index.flatMap((d) => d.panels.map((p) => p.slug));
  return { kind: "unknown", suggestions: all.filter((s) => s.includes(slug) || slug.includes(s)).slice(0, 5) };
}

/**
 * The 0-based line of panel `id` in a dashboard file as `observatory render` writes it (keys sorted,
 * two-space indent): the `"id": N` line of an object directly in the top-level `panels` list.
 */
export function panelLine(json: string, id: number): number | undefined {
  const lines = json.split("\n");
  const start = lines.indexOf('  "panels": [');
  if (start === -1) return undefined;
  for (let i = start + 1; i < lines.length && !lines[i].startsWith("  ]"); i++) {
    if (new RegExp(`^ {6}"id": ${id},?$`).test(lines[i])) return i;
  }
  return undefined;
}

/** The panel slug under `character` of `line` (letters, digits, underscores), or undefined. */
export function slugAt(line: string, character: number): string | undefined {
  const re = /[a-z0-9_]+/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m.index <= character && character <= m.index + m[0].length) return m[0];
  }
  return undefined;
}

/** The dashboard a spec line is under, from the nearest `<name>:` key two levels in (`dashboards.<name>`). */
export function dashboardAt(lines: readonly string[], line: number, names: readonly string[]): string | undefined {
  for (let i = line; i >= 0; i--) {
    const m = /^\s+([a-z_]+):/.exec(lines[i]);
    if (m && names.includes(m[1])) return m[1];
    if (/^\S/.test(lines[i])) return undefined;
  }
  return undefined;
}
