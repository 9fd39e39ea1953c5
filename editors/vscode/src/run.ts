// Runs the CLI as a process and reads its answers. No `vscode` import.

import { execFile } from "node:child_process";
import { CliOutputError, parseReport, Report } from "./problems";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI could not be started at all: no such file, or not executable. */
export class CliMissing extends Error {
  constructor(readonly command: string, reason: string) {
    super(`cannot run ${command}: ${reason}`);
  }
}

export interface RunOptions {
  cwd: string;
  /** Milliseconds before the process is killed; the CLI validates in about a second. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Runs `command args` and resolves with its exit code and output; rejects only when it cannot start or times out. */
export function runCli(command: string, args: readonly string[], o: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: o.cwd, timeout: o.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: o.env ?? process.env, windowsHide: true },
      (error, stdout, stderr) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        if (code === "ENOENT" || code === "EACCES") {
          reject(new CliMissing(command, code === "ENOENT" ? "no such file" : "not executable"));
        } else if (error && (error as { killed?: boolean }).killed) {
          reject(new Error(`${command} ${args.join(" ")} took longer than ${o.timeoutMs ?? 60_000} ms and was stopped`));
        } else if (error && typeof code !== "number") {
          reject(error);
        } else {
          resolve({ code: typeof code === "number" ? code : 0, stdout, stderr });
        }
      },
    );
  });
}

export type ValidateOutcome =
  | { kind: "report"; report: Report }
  | { kind: "tooOld"; message: string }
  | { kind: "failed"; message: string };

/** What `validate --format json` said: a report (exit 0 or 1), a CLI too old for the flag, or a failure. */
export function interpretValidate(result: RunResult, command: string): ValidateOutcome {
  if (result.code === 2 && /unrecognized arguments: --format|invalid choice/.test(result.stderr)) {
    return { kind: "tooOld", message: `${command} does not know validate --format json; update it (make install) or set observatory.cliPath` };
  }
  if (result.code === 0 || result.code === 1) {
    try {
      return { kind: "report", report: parseReport(result.stdout) };
    } catch (err) {
      if (!(err instanceof CliOutputError)) throw err;
      return { kind: "failed", message: `${err.message}${result.stderr ? `\n${result.stderr.trim()}` : ""}` };
    }
  }
  return { kind: "failed", message: `${command} validate exited ${result.code}: ${result.stderr.trim() || "no message"}` };
}
