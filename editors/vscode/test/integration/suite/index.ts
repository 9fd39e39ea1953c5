// Inside VS Code: open the fixture's broken observatory.yaml, save it, and wait for the CLI's problems
// to appear as diagnostics at their lines, the rules the schema cannot express included.

import assert from "node:assert/strict";
import * as vscode from "vscode";

async function poll<T>(what: string, fn: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function run(): Promise<void> {
  const cli = process.env.OBSERVATORY_TEST_CLI;
  if (cli) await vscode.workspace.getConfiguration("observatory").update("cliPath", cli, vscode.ConfigurationTarget.Workspace);
  const [uri] = await vscode.workspace.findFiles("observatory.yaml");
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc);
  await doc.save();
  const diagnostics = await poll("the observatory diagnostics", () => {
    const found = vscode.languages.getDiagnostics(uri).filter((d) => d.source === "observatory");
    return found.length ? found : undefined;
  });
  const lines = diagnostics.map((d) => `${d.range.start.line + 1}: ${d.message}`).sort();
  assert.deepEqual(lines, [
    "5: models[0].input_usd_per_million_tokens: must be >= 0, got -1",
    "9: dashboards.cost.hidden_panels[0]: the cost dashboard has no panel 'spend_by_modle' (did you mean 'spend_by_model'?)",
  ]);
}
