// Runs the extension inside a real VS Code (@vscode/test-electron) on a workspace with a broken spec:
// the VS Code binary at VSCODE_EXECUTABLE, or with OBSERVATORY_VSCODE_DOWNLOAD=1 one downloaded from
// VS Code's update server. This project's machines reach no such server (only package registries), so
// by default nothing is downloaded: it prints why and skips.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { downloadAndUnzipVSCode, runTests } from "@vscode/test-electron";

async function main(): Promise<void> {
  const root = path.resolve(__dirname, "../../..");
  let vscode = process.env.VSCODE_EXECUTABLE;
  if (!vscode) {
    if (process.env.OBSERVATORY_VSCODE_DOWNLOAD !== "1") {
      console.log(
        "skipped: no VS Code to run in (set VSCODE_EXECUTABLE to a VS Code binary, or OBSERVATORY_VSCODE_DOWNLOAD=1 where its update server is reachable)",
      );
      return;
    }
    try {
      vscode = await downloadAndUnzipVSCode({ version: "1.85.0", timeout: 15_000 });
    } catch (err) {
      console.log(`skipped: no VS Code to run in (VSCODE_EXECUTABLE is unset and the download failed: ${(err as Error).message})`);
      return;
    }
  }
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), "observatory-vscode-"));
  fs.cpSync(path.join(root, "test/fixtures/workspace"), workspace, { recursive: true });
  const code = await runTests({
    vscodeExecutablePath: vscode,
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(__dirname, "suite/index.js"),
    launchArgs: [workspace, "--disable-extensions"],
    extensionTestsEnv: { OBSERVATORY_TEST_CLI: process.env.OBSERVATORY_TEST_CLI ?? "" },
  });
  process.exitCode = code;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
