import assert from "node:assert/strict";
import { test } from "node:test";
import { CliMissing, interpretValidate, runCli } from "../../src/run";

test("a CLI that does not exist is CliMissing naming the path, not an empty result", async () => {
  await assert.rejects(runCli("/nonexistent/.venv/bin/observatory", ["--version"], { cwd: "/" }), (e: Error) => e instanceof CliMissing && /cannot run \/nonexistent\/\.venv\/bin\/observatory: no such file/.test(e.message));
});

test("a process's exit code, output and error output come back whole, whatever the code", async () => {
  const script = "process.stdout.write('out'); process.stderr.write('err'); process.exit(1)";
  assert.deepEqual(await runCli(process.execPath, ["-e", script], { cwd: "/" }), { code: 1, stdout: "out", stderr: "err" });
});

test("a process that hangs is stopped at the timeout, and the error says so", async () => {
  await assert.rejects(runCli(process.execPath, ["-e", "setTimeout(() => {}, 10000)"], { cwd: "/", timeoutMs: 200 }), /took longer than 200 ms and was stopped/);
});

test("a CLI from before --format json is reported as too old, from the usage error argparse prints", () => {
  // What observatory 0.1.0 printed: argparse's usage line and error, exit 2.
  const stderr = "usage: observatory [-h] [--version] [--spec SPEC] COMMAND ...\nobservatory: error: unrecognized arguments: --format json\n";
  const outcome = interpretValidate({ code: 2, stdout: "", stderr }, "observatory");
  assert.equal(outcome.kind, "tooOld");
});

test("exit 0 or 1 with the report is a report; anything else is a failure that carries the CLI's words", () => {
  const ok = interpretValidate({ code: 0, stdout: '{"file": "o.yaml", "valid": true, "problems": []}', stderr: "" }, "observatory");
  assert.deepEqual(ok, { kind: "report", report: { file: "o.yaml", valid: true, problems: [] } });
  const crashed = interpretValidate({ code: 1, stdout: "", stderr: "Traceback: boom" }, "observatory");
  assert.equal(crashed.kind, "failed");
  assert.match(crashed.kind === "failed" ? crashed.message : "", /did not answer JSON[\s\S]*Traceback: boom/);
  const other = interpretValidate({ code: 137, stdout: "", stderr: "" }, "observatory");
  assert.deepEqual(other, { kind: "failed", message: "observatory validate exited 137: no message" });
});
