import assert from "node:assert/strict";
import { test } from "node:test";
import { CliOutputError, parseReport, tokenRange, toDiagnostics, utf16Offset } from "../../src/problems";

const SPEC = ["version: v1", "models:", "  - provider: openai", "    input_usd_per_million_tokens: -1  # typo", '    model: "gpt-4o"'];

function report(...problems: object[]): string {
  return JSON.stringify({ file: "observatory.yaml", valid: problems.length === 0, problems });
}

test("a problem becomes a diagnostic at its line and column, covering the value up to its comment", () => {
  const r = parseReport(report({ file: "observatory.yaml", line: 4, column: 35, path: "models[0].input_usd_per_million_tokens", message: "must be >= 0, got -1", severity: "error" }));
  assert.deepEqual(toDiagnostics(r, SPEC), [
    { startLine: 3, startCharacter: 34, endLine: 3, endCharacter: 36, message: "models[0].input_usd_per_million_tokens: must be >= 0, got -1", severity: "error", code: "models[0].input_usd_per_million_tokens" },
  ]);
});

test("a key's problem covers the key up to its colon, a quoted value up to its closing quote", () => {
  assert.deepEqual(tokenRange(SPEC[3], 4), [4, 32]);
  assert.deepEqual(tokenRange(SPEC[4], 11), [11, 19]);
});

test("a problem without a path says only its message, and one past the end of the file lands on the last line", () => {
  const r = parseReport(report({ file: "x", line: 99, column: 1, path: "", message: "YAML syntax error", severity: "error" }));
  const [d] = toDiagnostics(r, SPEC);
  assert.equal(d.message, "YAML syntax error");
  assert.equal(d.startLine, SPEC.length - 1);
});

test("columns count characters as Python does, and VS Code's UTF-16 offsets follow", () => {
  assert.equal(utf16Offset("a: 😀 b", 5), 6); // the emoji is one character, two UTF-16 code units
  const r = parseReport(report({ file: "x", line: 1, column: 6, path: "a", message: "m", severity: "warning" }));
  assert.deepEqual(toDiagnostics(r, ["a: 😀 bad"]).map((d) => [d.startCharacter, d.endCharacter, d.severity]), [[6, 9, "warning"]]);
});

test("an empty line or a column past its end still gives a range VS Code can show", () => {
  assert.deepEqual(tokenRange("", 0), [0, 0]);
  assert.deepEqual(tokenRange("abc", 10), [2, 3]);
});

test("a valid spec gives no diagnostics", () => {
  assert.deepEqual(toDiagnostics(parseReport(report()), SPEC), []);
});

test("output that is not the CLI's report is refused with what is wrong, never half read", () => {
  assert.throws(() => parseReport("Traceback (most recent call last):"), (e: Error) => e instanceof CliOutputError && /did not answer JSON/.test(e.message));
  assert.throws(() => parseReport("{}"), /no `valid` and `problems`/);
  assert.throws(() => parseReport(report({ line: 0, column: 1, path: "", message: "m", severity: "error" })), /problems\[0\]: line and column/);
  assert.throws(() => parseReport(report({ line: 1, column: 1, path: "", message: "m", severity: "fatal" })), /unknown severity "fatal"/);
});
