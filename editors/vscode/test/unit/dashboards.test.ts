import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { dashboardAt, DashboardEntry, findPanel, panelLine, parsePanels, slugAt } from "../../src/dashboards";

// The repository's committed dashboard, as `observatory render` writes it (out/test/unit -> repository root).
const REPO = path.resolve(__dirname, "../../../../..");
const COST = fs.readFileSync(path.join(REPO, "dashboards/llm-cost.json"), "utf8");

const INDEX: DashboardEntry[] = [
  { name: "overview", enabled: true, file: "dashboards/llm-overview.json", panels: [{ slug: "error_ratio", title: "Error ratio", id: 2 }], hidden: [] },
  { name: "cost", enabled: true, file: "dashboards/llm-cost.json", panels: [{ slug: "cost_per_request", title: "Cost per priced request", id: 2 }], hidden: ["cache_savings"] },
  { name: "quality", enabled: false, file: null, panels: [], hidden: [] },
];

test("panelLine finds the panel's id among the top-level panels of a rendered dashboard, not a nested id", () => {
  const panels = JSON.parse(COST).panels as { id: number; title: string }[];
  const lines = COST.split("\n");
  for (const panel of panels) {
    const line = panelLine(COST, panel.id);
    assert.notEqual(line, undefined, `panel ${panel.id}`);
    // The object that holds that line is the panel: its title follows within the same object, at the same indent.
    const title = lines.slice(line).find((l) => l.startsWith('      "title": '));
    assert.equal(title, `      "title": ${JSON.stringify(panel.title)},`);
  }
  assert.equal(panelLine(COST, 999), undefined);
  assert.equal(panelLine("{}", 1), undefined);
});

test("a slug is found on its dashboard; a hidden, disabled or unknown one says why it is in no file", () => {
  assert.deepEqual(findPanel(INDEX, "cost_per_request"), { kind: "panel", dashboard: "cost", file: "dashboards/llm-cost.json", panel: INDEX[1].panels[0] });
  assert.deepEqual(findPanel(INDEX, "cache_savings"), { kind: "hidden", dashboard: "cost" });
  assert.deepEqual(findPanel(INDEX, "truncated_ratio", "quality"), { kind: "disabled", dashboard: "quality" });
  assert.deepEqual(findPanel(INDEX, "ratio"), { kind: "unknown", suggestions: ["error_ratio"] });
});

test("the slug under the cursor and the dashboard it is listed under come from the spec's text", () => {
  const spec = ["dashboards:", "  cost:", "    hidden_panels: [cache_savings, spend_by_team]", "version: v1"];
  assert.equal(slugAt(spec[2], 22), "cache_savings");
  assert.equal(slugAt(spec[2], 40), "spend_by_team");
  assert.equal(dashboardAt(spec, 2, ["cost", "overview"]), "cost");
  assert.equal(dashboardAt(spec, 3, ["cost"]), undefined);
});

test("the CLI's panel index is read, and anything else refused", () => {
  assert.deepEqual(parsePanels(JSON.stringify({ dashboards: INDEX })), INDEX);
  assert.throws(() => parsePanels("usage: observatory"), /did not answer JSON/);
  assert.throws(() => parsePanels("{}"), /no `dashboards` list/);
});
