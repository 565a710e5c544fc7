//! `nnc lsp`: a language server over stdio, on `lsp-server` (the transport and JSON-RPC framing
//! rust-analyzer uses) and `lsp-types` (the protocol's types). It keeps the text of every open
//! `.nn` document, and on open and on every change checks it as `nnc check` would (syntax,
//! names, options, shapes, and the data file's columns when that file exists) and publishes the
//! diagnostics with their codes, help and related locations; closing a document clears them.
//! Documents are synchronized in full, and positions are in UTF-16 code units, the protocol's
//! default (`convert`). A request the server does not implement gets the protocol's
//! "method not found" error; nothing a client sends ends the server but `exit`.

mod convert;

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::{
    PublishDiagnosticsParams, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind,
    Uri,
};

use crate::train::session;

pub use convert::{path_to_uri, position, uri_to_path};

/// Serve one client on stdin and stdout until it asks the server to exit.
pub fn serve() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        ..Default::default()
    };
    let capabilities = serde_json::to_value(capabilities)
        .map_err(|e| format!("the server's capabilities do not serialize: {e}"))?;
    connection
        .initialize(capabilities)
        .map_err(|e| format!("initialization failed: {e}"))?;
    Server::default().run(&connection)?;
    drop(connection);
    io_threads
        .join()
        .map_err(|e| format!("the connection closed with an error: {e}"))
}

/// The open documents, by URI.
#[derive(Default)]
struct Server {
    documents: HashMap<String, String>,
}

impl Server {
    fn run(&mut self, connection: &Connection) -> Result<(), String> {
        for message in &connection.receiver {
            match message {
                Message::Request(request) => {
                    if connection
                        .handle_shutdown(&request)
                        .map_err(|e| format!("shutdown failed: {e}"))?
                    {
                        return Ok(());
                    }
                    send(connection, Message::Response(self.respond(request)))?;
                }
                Message::Notification(notification) => {
                    for published in self.notice(notification) {
                        send(connection, Message::Notification(published))?;
                    }
                }
                Message::Response(_) => {}
            }
        }
        Ok(())
    }

    /// Every request but shutdown is one the server does not implement yet.
    fn respond(&mut self, request: Request) -> Response {
        Response::new_err(
            request.id,
            ErrorCode::MethodNotFound as i32,
            format!("nnc lsp does not implement `{}`", request.method),
        )
    }

    /// The diagnostics to publish after a notification: those of the document it opened or
    /// changed, an empty list for one it closed, nothing for others (or for parameters that do
    /// not parse, which the protocol gives no way to answer).
    fn notice(&mut self, n: Notification) -> Vec<Notification> {
        let uri = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                self.documents
                    .insert(uri.as_str().to_string(), p.text_document.text);
                uri
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                // Full synchronization: the last change holds the whole text.
                let Some(change) = p.content_changes.into_iter().last() else {
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                self.documents.insert(uri.as_str().to_string(), change.text);
                uri
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                self.documents.remove(uri.as_str());
                return vec![publish(uri, Vec::new())];
            }
            _ => return Vec::new(),
        };
        let diagnostics = self.check(&uri);
        vec![publish(uri, diagnostics)]
    }

    /// The diagnostics of an open document.
    fn check(&self, uri: &Uri) -> Vec<lsp_types::Diagnostic> {
        let Some(text) = self.documents.get(uri.as_str()) else {
            return Vec::new();
        };
        // A document that is not a file on disk (an unsaved buffer) is checked as if it were
        // in the current folder, so its data path means what it would mean there.
        let path = uri_to_path(uri).unwrap_or_else(|| PathBuf::from("untitled.nn"));
        match session::check_text(&path, text.clone()) {
            Ok(()) => Vec::new(),
            Err(d) => vec![convert::diagnostic(&d, uri, text)],
        }
    }
}

fn publish(uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>) -> Notification {
    Notification::new(
        PublishDiagnostics::METHOD.to_string(),
        PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        },
    )
}

fn send(connection: &Connection, message: Message) -> Result<(), String> {
    connection
        .sender
        .send(message)
        .map_err(|e| format!("the client went away: {e}"))
}
