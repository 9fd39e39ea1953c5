// The thin part that talks to VS Code: settings, diagnostics, commands. The logic is in modules that
// do not import `vscode` (problems, cli, run, dashboards, debounce) and are unit-tested in plain Node.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import { checkVersion, locateCli, Located } from "./cli";
import { dashboardAt, findPanel, panelLine, parsePanels, slugAt } from "./dashboards";
import { Debouncer } from "./debounce";
import { toDiagnostics } from "./problems";
import { CliMissing, interpretValidate, runCli, RunResult } from "./run";

const SPEC_NAME = "observatory.yaml";
const SCHEME = "observatory-rendered";
const SEVERITY = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
  hint: vscode.DiagnosticSeverity.Hint,
};

let output: vscode.OutputChannel;
const checked = new Map<string, Promise<string | undefined>>(); // CLI path -> problem with it, or undefined
const shown = new Set<string>(); // messages already shown in a pop-up this session (all are logged)

export function activate(context: vscode.ExtensionContext): void {
  output = vscode.window.createOutputChannel("LLM Observatory");
  const diagnostics = vscode.languages.createDiagnosticCollection("observatory");
  const rendered = new Map<string, string>();
  const debouncer = new Debouncer<string>(
    () => setting<number>("debounceMilliseconds", 300),
    (uri) => {
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
      if (doc) void validate(doc, diagnostics);
    },
  );
  context.subscriptions.push(
    output,
    diagnostics,
    { dispose: () => debouncer.dispose() },
    vscode.workspace.onDidSaveTextDocument((doc) => {
      if (isSpec(doc) && setting<boolean>("validateOnSave", true)) debouncer.trigger(doc.uri.toString());
    }),
    vscode.workspace.onDidOpenTextDocument((doc) => {
      if (isSpec(doc) && setting<boolean>("validateOnSave", true)) debouncer.trigger(doc.uri.toString());
    }),
    vscode.workspace.onDidCloseTextDocument((doc) => diagnostics.delete(doc.uri)),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration("observatory.cliPath") && checked.clear()),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, { provideTextDocumentContent: (uri) => rendered.get(uri.toString()) ?? "" }),
    vscode.commands.registerCommand("observatory.validate", async () => {
      const doc = await specDocument();
      if (doc && (await validate(doc, diagnostics)) === 0) void vscode.window.showInformationMessage(`${vscode.workspace.asRelativePath(doc.uri)}: valid`);
    }),
    vscode.commands.registerCommand("observatory.render", async () => {
      const doc = await specDocument();
      if (doc) await render(doc, diagnostics);
    }),
    vscode.commands.registerCommand("observatory.showGenerated", async () => {
      const doc = await specDocument();
      if (doc) await showGenerated(doc, rendered);
    }),
    vscode.commands.registerCommand("observatory.openPanel", async () => {
      const doc = await specDocument();
      if (doc) await openPanel(doc);
    }),
  );
  vscode.workspace.textDocuments.filter(isSpec).forEach((d) => debouncer.trigger(d.uri.toString()));
  if (!vscode.extensions.getExtension("redhat.vscode-yaml")) {
    notify("info", "LLM Observatory: completion and hover in observatory.yaml need the YAML extension by Red Hat (redhat.vscode-yaml); diagnostics and commands work without it.");
  }
}

export function deactivate(): void {}

function setting<T>(name: string, fallback: T): T {
  return vscode.workspace.getConfiguration("observatory").get<T>(name, fallback);
}

function isSpec(doc: vscode.TextDocument): boolean {
  return doc.uri.scheme === "file" && path.basename(doc.uri.fsPath) === SPEC_NAME;
}

/** The spec to act on: the active editor's, else the first observatory.yaml in the workspace. */
async function specDocument(): Promise<vscode.TextDocument | undefined> {
  const active = vscode.window.activeTextEditor?.document;
  if (active && isSpec(active)) return active;
  const [found] = await vscode.workspace.findFiles(`**/${SPEC_NAME}`, "**/{node_modules,.venv,tests}/**", 1);
  if (found) return vscode.workspace.openTextDocument(found);
  notify("error", `LLM Observatory: no ${SPEC_NAME} is open or in the workspace.`);
  return undefined;
}

function notify(level: "info" | "error", message: string): void {
  output.appendLine(message);
  if (shown.has(message)) return;
  shown.add(message);
  if (level === "error") void vscode.window.showErrorMessage(message, "Show log").then((pick) => pick && output.show());
  else void vscode.window.showInformationMessage(message);
}

function cliFor(doc: vscode.TextDocument): Located {
  return locateCli({
    configured: setting<string>("cliPath", ""),
    specDir: path.dirname(doc.uri.fsPath),
    workspaceRoots: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    platform: process.platform,
    home: os.homedir(),
    exists: (file) => fs.existsSync(file),
  });
}

/** Runs the CLI for the spec `doc` after checking its version once; undefined (and a message shown) when it cannot. */
async function run(doc: vscode.TextDocument, args: string[]): Promise<RunResult | undefined> {
  const cli = cliFor(doc);
  const cwd = path.dirname(doc.uri.fsPath);
  try {
    if (!checked.has(cli.command)) {
      checked.set(cli.command, runCli(cli.command, ["--version"], { cwd }).then((r) => {
        const check = checkVersion(r.stdout, cli.command);
        return check.ok ? undefined : check.message;
      }));
    }
    const problem = await checked.get(cli.command);
    if (problem) {
      notify("error", `LLM Observatory: ${problem}`);
      return undefined;
    }
    output.appendLine(`$ ${cli.command} ${args.join(" ")}   (in ${cwd})`);
    return await runCli(cli.command, args, { cwd });
  } catch (err) {
    checked.delete(cli.command);
    if (err instanceof CliMissing) {
      notify("error", `LLM Observatory: the observatory CLI was not found (looked at ${cli.searched.join(", ")}). Run \`make install\` in the repository, or set observatory.cliPath.`);
    } else {
      notify("error", `LLM Observatory: ${(err as Error).message}`);
    }
    return undefined;
  }
}

/** Validates `doc` (its saved file) and shows every problem; the exit code, or undefined when the CLI could not tell. */
async function validate(doc: vscode.TextDocument, diagnostics: vscode.DiagnosticCollection): Promise<number | undefined> {
  const result = await run(doc, ["validate", doc.uri.fsPath, "--format", "json"]);
  if (!result) return undefined;
  const outcome = interpretValidate(result, cliFor(doc).command);
  if (outcome.kind !== "report") {
    notify("error", `LLM Observatory: ${outcome.message}`);
    return undefined;
  }
  const lines = doc.getText().split(/\r?\n/);
  diagnostics.set(
    doc.uri,
    toDiagnostics(outcome.report, lines).map((d) => {
      const diagnostic = new vscode.Diagnostic(new vscode.Range(d.startLine, d.startCharacter, d.endLine, d.endCharacter), d.message, SEVERITY[d.severity]);
      diagnostic.source = "observatory";
      diagnostic.code = d.code || undefined;
      return diagnostic;
    }),
  );
  return result.code;
}

async function render(doc: vscode.TextDocument, diagnostics: vscode.DiagnosticCollection): Promise<void> {
  if (doc.isDirty) await doc.save();
  if ((await validate(doc, diagnostics)) !== 0) {
    notify("error", "LLM Observatory: the spec has problems (see Problems); nothing was rendered.");
    return;
  }
  const result = await run(doc, ["--spec", doc.uri.fsPath, "render"]);
  if (!result) return;
  output.append(result.stdout + result.stderr);
  const summary = result.stdout.trim().split("\n").pop() ?? "";
  if (result.code === 0) void vscode.window.showInformationMessage(`LLM Observatory: rendered: ${summary}`);
  else notify("error", `LLM Observatory: render failed: ${result.stderr.trim() || summary}`);
}

/** Opens a generated file as the spec renders it now, beside the spec, as a diff against the committed one. */
async function showGenerated(doc: vscode.TextDocument, rendered: Map<string, string>): Promise<void> {
  if (doc.isDirty) await doc.save();
  const listed = await run(doc, ["--spec", doc.uri.fsPath, "show", "--list"]);
  if (!listed || listed.code !== 0) return listed && notify("error", `LLM Observatory: ${listed.stderr.trim()}`);
  const root = path.dirname(doc.uri.fsPath);
  const active = vscode.window.activeTextEditor?.document.uri.fsPath ?? "";
  const files = listed.stdout.split("\n").filter(Boolean);
  const here = path.relative(root, active).split(path.sep).join("/");
  const file = files.includes(here) ? here : await vscode.window.showQuickPick(files, { placeHolder: "Generated file to compare with what the spec renders now" });
  if (!file) return;
  const shownFile = await run(doc, ["--spec", doc.uri.fsPath, "show", file]);
  if (!shownFile || shownFile.code !== 0) return shownFile && notify("error", `LLM Observatory: ${shownFile.stderr.trim()}`);
  const right = vscode.Uri.from({ scheme: SCHEME, path: `/${file}`, query: String(Date.now()) });
  rendered.set(right.toString(), shownFile.stdout);
  const committed = vscode.Uri.file(path.join(root, file));
  const left = fs.existsSync(committed.fsPath) ? committed : vscode.Uri.from({ scheme: SCHEME, path: `/${file}`, query: "absent" });
  await vscode.commands.executeCommand("vscode.diff", left, right, `${file}: committed ↔ rendered from the spec`, { viewColumn: vscode.ViewColumn.Beside, preview: true });
}

/** Opens the dashboard JSON at the panel whose slug is under the cursor, or one picked from the list. */
async function openPanel(doc: vscode.TextDocument): Promise<void> {
  const result = await run(doc, ["--spec", doc.uri.fsPath, "panels", "--format", "json"]);
  if (!result || result.code !== 0) return result && notify("error", `LLM Observatory: ${result.stderr.trim()}`);
  const index = parsePanels(result.stdout);
  const editor = vscode.window.activeTextEditor;
  const names = index.map((d) => d.name);
  let slug: string | undefined;
  let board: string | undefined;
  if (editor?.document === doc) {
    const pos = editor.selection.active;
    slug = slugAt(doc.lineAt(pos.line).text, pos.character);
    board = dashboardAt(doc.getText().split(/\r?\n/), pos.line, names);
  }
  if (!slug || findPanel(index, slug, board).kind === "unknown") {
    const picks = index.flatMap((d) => d.panels.map((p) => ({ label: p.slug, description: `${d.name}: ${p.title}`, board: d.name })));
    const pick = await vscode.window.showQuickPick(picks, { placeHolder: "Panel slug", matchOnDescription: true });
    if (!pick) return;
    [slug, board] = [pick.label, pick.board];
  }
  const found = findPanel(index, slug, board);
  if (found.kind !== "panel") {
    const why = { hidden: "hidden by the spec (hidden_panels), so in no file", disabled: "on a disabled dashboard", unknown: "not a panel slug" }[found.kind];
    return notify("error", `LLM Observatory: ${slug} is ${why}.`);
  }
  const file = vscode.Uri.file(path.join(path.dirname(doc.uri.fsPath), found.file));
  const text = await vscode.workspace.openTextDocument(file);
  const line = panelLine(text.getText(), found.panel.id) ?? 0;
  await vscode.window.showTextDocument(text, { viewColumn: vscode.ViewColumn.Beside, selection: new vscode.Range(line, 0, line, 0) });
}
