// Starts `nnc lsp` for .nn files and connects VS Code's language client to it over stdio.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("nnc").get("path", "nnc");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "nnc",
    "nnc",
    { run: server, debug: server },
    { documentSelector: [{ language: "nn" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
