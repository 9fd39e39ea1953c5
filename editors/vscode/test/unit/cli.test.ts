import assert from "node:assert/strict";
import { test } from "node:test";
import { checkVersion, compareVersions, locateCli, LocateOptions, MIN_CLI_VERSION, parseVersion } from "../../src/cli";

function options(existing: string[], o: Partial<LocateOptions> = {}): LocateOptions {
  return { configured: "", specDir: "/repo/sub", workspaceRoots: ["/ws"], platform: "linux", home: "/home/me", exists: (f) => existing.includes(f), ...o };
}

test("the CLI is the .venv of the spec's folder or the nearest folder above it", () => {
  assert.deepEqual(locateCli(options(["/repo/.venv/bin/observatory"])), {
    command: "/repo/.venv/bin/observatory",
    how: "venv",
    searched: ["/repo/sub/.venv/bin/observatory", "/repo/.venv/bin/observatory"],
  });
});

test("without a .venv above the spec, the workspace folder's, then observatory on the PATH", () => {
  assert.equal(locateCli(options(["/ws/.venv/bin/observatory"])).command, "/ws/.venv/bin/observatory");
  const none = locateCli(options([]));
  assert.equal(none.command, "observatory");
  assert.equal(none.how, "PATH");
  assert.deepEqual(none.searched, ["/repo/sub/.venv/bin/observatory", "/repo/.venv/bin/observatory", "/.venv/bin/observatory", "/ws/.venv/bin/observatory", "observatory on the PATH"]);
});

test("the setting wins, with ~ and paths relative to the workspace resolved", () => {
  const everything = ["/repo/.venv/bin/observatory"];
  assert.equal(locateCli(options(everything, { configured: "~/bin/observatory" })).command, "/home/me/bin/observatory");
  assert.equal(locateCli(options(everything, { configured: "tools/observatory" })).command, "/ws/tools/observatory");
  assert.equal(locateCli(options(everything, { configured: "observatory-dev" })).command, "observatory-dev"); // a name: the PATH's
});

test("on Windows the .venv keeps its Scripts folder", () => {
  const found = locateCli(options(["C:\\repo\\.venv\\Scripts\\observatory.exe"], { platform: "win32", specDir: "C:\\repo", workspaceRoots: [] }));
  assert.equal(found.command, "C:\\repo\\.venv\\Scripts\\observatory.exe");
});

test("versions compare by number, not as text", () => {
  assert.deepEqual(parseVersion("observatory 0.10.2\n"), [0, 10, 2]);
  assert.equal(compareVersions([0, 10, 0], [0, 9, 9]), 1);
  assert.equal(compareVersions([0, 2, 0], [0, 2, 0]), 0);
  assert.equal(compareVersions([0, 1, 9], [0, 2, 0]), -1);
  assert.equal(parseVersion("Python 3.12.1"), undefined);
});

test(`a CLI older than ${MIN_CLI_VERSION} is refused with a message that says how to update, a newer one accepted`, () => {
  const old = checkVersion("observatory 0.1.0\n", "/r/.venv/bin/observatory");
  assert.equal(old.ok, false);
  assert.match(!old.ok ? old.message : "", /is observatory 0\.1\.0; this extension needs 0\.2\.0 or newer .*make install.*observatory\.cliPath/);
  assert.deepEqual(checkVersion(`observatory ${MIN_CLI_VERSION}\n`, "x"), { ok: true, version: MIN_CLI_VERSION });
  assert.deepEqual(checkVersion("observatory 1.0.0\n", "x"), { ok: true, version: "1.0.0" });
  const other = checkVersion("usage: something else", "observatory");
  assert.match(!other.ok ? other.message : "", /did not print "observatory X\.Y\.Z".*LLM Observatory CLI/);
});
