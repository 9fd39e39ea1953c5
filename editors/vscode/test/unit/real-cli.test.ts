// The extension's logic against the real CLI, which `make test` points OBSERVATORY_TEST_CLI at (the
// pytest that builds the extension sets it); without it these tests skip and say so.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { checkVersion } from "../../src/cli";
import { findPanel, panelLine, parsePanels } from "../../src/dashboards";
import { toDiagnostics } from "../../src/problems";
import { interpretValidate, runCli } from "../../src/run";

const CLI = process.env.OBSERVATORY_TEST_CLI ?? "";
const skip = CLI ? false : "OBSERVATORY_TEST_CLI is not set (make test sets it to the repository's CLI)";
const REPO = path.resolve(__dirname, "../../../../..");

test("the real CLI is new enough", { skip }, async () => {
  const result = await runCli(CLI, ["--version"], { cwd: REPO });
  assert.equal(checkVersion(result.stdout, CLI).ok, true, result.stdout);
});

test("every problem the real CLI finds lands on the line and column of its text form", { skip }, async () => {
  const spec = path.join(REPO, "tests/specs/invalid/many_sections.yaml");
  const outcome = interpretValidate(await runCli(CLI, ["validate", spec, "--format", "json"], { cwd: REPO }), CLI);
  assert.equal(outcome.kind, "report");
  if (outcome.kind !== "report") return;
  const lines = fs.readFileSync(spec, "utf8").split("\n");
  const got = toDiagnostics(outcome.report, lines).map((d) => `${d.startLine + 1}:${d.startCharacter + 1}: ${d.message}`);
  // The committed snapshot of the text form: "tests/specs/invalid/many_sections.yaml:LINE:COL: path: message".
  const expected = fs.readFileSync(spec.replace(/\.yaml$/, ".errors"), "utf8").trim().split("\n").map((l) => l.replace(/^[^:]+:/, ""));
  assert.deepEqual(got, expected);
  assert.ok(got.length >= 2);
});

test("the repository's spec is valid to the real CLI, and its panel slugs open at their panel", { skip }, async () => {
  const spec = path.join(REPO, "observatory.yaml");
  const outcome = interpretValidate(await runCli(CLI, ["validate", spec, "--format", "json"], { cwd: REPO }), CLI);
  assert.deepEqual(outcome, { kind: "report", report: { file: spec, valid: true, problems: [] } });
  const index = parsePanels((await runCli(CLI, ["--spec", spec, "panels", "--format", "json"], { cwd: REPO })).stdout);
  const found = findPanel(index, "spend_by_model");
  assert.equal(found.kind, "panel");
  if (found.kind !== "panel") return;
  const text = fs.readFileSync(path.join(REPO, found.file), "utf8");
  const line = panelLine(text, found.panel.id) ?? -1;
  const title = text.split("\n").slice(line).find((l) => l.startsWith('      "title": '));
  assert.equal(title, `      "title": ${JSON.stringify(found.panel.title)},`);
});
