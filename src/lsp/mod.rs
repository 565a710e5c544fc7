//! `nnc lsp`: a language server over stdio, on `lsp-server` (the messages, framing and handshake
//! rust-analyzer uses, over a transport of our own: `transport`) and `lsp-types` (the protocol's
//! types). It keeps the text of every open
//! `.nn` document, and on open and on every change checks it as `nnc check` would (syntax,
//! names, options, shapes, and the data file's columns when that file exists) and publishes the
//! diagnostics with their codes, help and related locations; closing a document clears them.
//! It answers outline (document symbol) and go-to-definition requests from the syntax tree
//! (`symbols`), hover (`hover`: a layer's or named value's shape and parameters, an activation's,
//! loss's or optimizer's formula and options, a data column's inferred type), completion by
//! context (`complete`: the language's words, options, the data file's columns), and formatting
//! requests with `nnc fmt`'s layout.
//! Documents are synchronized in full, and positions are in UTF-16 code units, the protocol's
//! default (`convert`). A request the server does not implement gets the protocol's
//! "method not found" error; a frame that is not a message is reported to the client's log and
//! skipped (`transport`); only `exit`, or the end of stdin, ends the server. Changes that arrive
//! faster than they are checked are coalesced: the server reads every message already waiting
//! before it checks, and then checks each changed document once, at its latest text.

mod columns;
mod complete;
mod convert;
mod hover;
mod symbols;
mod transport;

use std::collections::HashMap;
use std::path::PathBuf;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, LogMessage,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, Request as _,
};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DocumentFormattingParams,
    DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse,
    Hover, HoverContents, HoverParams, HoverProviderCapability, LogMessageParams, MarkupContent,
    MarkupKind, MessageType, OneOf, PublishDiagnosticsParams, ServerCapabilities,
    TextDocumentSyncCapability, TextDocumentSyncKind, Uri,
};

use crate::train::session;

pub use convert::{path_to_uri, position, uri_to_path};

/// Serve one client on stdin and stdout until it asks the server to exit.
pub fn serve() -> Result<(), String> {
    let (connection, threads) = transport::stdio();
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        document_symbol_provider: Some(OneOf::Left(true)),
        definition_provider: Some(OneOf::Left(true)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some([":", " ", "(", ",", "[", "\""].map(String::from).to_vec()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let capabilities = serde_json::to_value(capabilities)
        .map_err(|e| format!("the server's capabilities do not serialize: {e}"))?;
    connection
        .initialize(capabilities)
        .map_err(|e| format!("initialization failed: {e}"))?;
    let served = Server::default().run(&connection);
    drop(connection);
    threads.join()?;
    served
}

/// Serve a recorded session: the messages framed in `input` as a client writes them on the
/// server's standard input (the `initialize` handshake left out), answered by one server. Returns
/// the server's messages, framed the same way, and how the session ended: an error when it ends
/// otherwise than by `shutdown` and then `exit` (as on standard input). A frame that is not a
/// message is reported to the server as on standard input; reading stops where the input ends,
/// inside a frame or not. The fuzzing harness of the language server drives this.
pub fn answer(input: &[u8]) -> (Vec<u8>, Result<(), String>) {
    let (server, client) = lsp_server::Connection::memory();
    let mut reader = std::io::Cursor::new(input);
    loop {
        // As the stdio transport does: a frame that is not a message is reported, and reading
        // goes on.
        let message = match transport::read_message(&mut reader) {
            Ok(Some(m)) => m,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Message::Notification(
                Notification::new(transport::MALFORMED.to_string(), e.to_string()),
            ),
            Ok(None) | Err(_) => break,
        };
        if client.sender.send(message).is_err() {
            break;
        }
    }
    // The server reads until the client hangs up.
    drop(client.sender);
    let served = Server::default().run(&server);
    let mut out = Vec::new();
    while let Ok(message) = client.receiver.try_recv() {
        message
            .write(&mut out)
            .expect("invariant: writing a message into memory cannot fail");
    }
    (out, served)
}

/// The open documents, by URI.
#[derive(Default)]
struct Server {
    documents: HashMap<String, String>,
}

impl Server {
    fn run(&mut self, connection: &Connection) -> Result<(), String> {
        while let Ok(first) = connection.receiver.recv() {
            // Documents changed by the messages of this batch, in the order they changed.
            let mut changed: Vec<Uri> = Vec::new();
            let mut next = Some(first);
            while let Some(message) = next {
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
                    Message::Notification(n) if n.method == "exit" => {
                        return Err("the client sent `exit` without `shutdown`".to_string());
                    }
                    Message::Notification(n) => {
                        for reply in self.notice(n, &mut changed) {
                            send(connection, Message::Notification(reply))?;
                        }
                    }
                    Message::Response(_) => {}
                }
                next = connection.receiver.try_recv().ok();
            }
            for uri in changed {
                let diagnostics = self.check(&uri);
                send(connection, Message::Notification(publish(uri, diagnostics)))?;
            }
        }
        Ok(())
    }

    /// The answer to a request (shutdown is handled by the loop). Parameters that do not parse
    /// get "invalid params"; a method the server does not serve, "method not found".
    fn respond(&mut self, request: Request) -> Response {
        let Request { id, method, params } = request;
        let invalid = |id, e: serde_json::Error| {
            Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string())
        };
        match method.as_str() {
            DocumentSymbolRequest::METHOD => {
                match serde_json::from_value::<DocumentSymbolParams>(params) {
                    Ok(p) => {
                        let symbols = self
                            .documents
                            .get(p.text_document.uri.as_str())
                            .and_then(|text| symbols::document_symbols(text));
                        Response::new_ok(id, symbols.map(DocumentSymbolResponse::Nested))
                    }
                    Err(e) => invalid(id, e),
                }
            }
            GotoDefinition::METHOD => {
                match serde_json::from_value::<GotoDefinitionParams>(params) {
                    Ok(p) => {
                        let at = p.text_document_position_params;
                        let uri = at.text_document.uri;
                        let location = self
                            .documents
                            .get(uri.as_str())
                            .and_then(|text| symbols::definition(text, &uri, at.position));
                        Response::new_ok(id, location.map(GotoDefinitionResponse::Scalar))
                    }
                    Err(e) => invalid(id, e),
                }
            }
            HoverRequest::METHOD => match serde_json::from_value::<HoverParams>(params) {
                Ok(p) => {
                    let at = p.text_document_position_params;
                    let uri = at.text_document.uri;
                    let shown = self
                        .documents
                        .get(uri.as_str())
                        .and_then(|text| hover::hover(&document_path(&uri), text, at.position));
                    Response::new_ok(
                        id,
                        shown.map(|value| Hover {
                            contents: HoverContents::Markup(MarkupContent {
                                kind: MarkupKind::Markdown,
                                value,
                            }),
                            range: None,
                        }),
                    )
                }
                Err(e) => invalid(id, e),
            },
            Completion::METHOD => match serde_json::from_value::<CompletionParams>(params) {
                Ok(p) => {
                    let at = p.text_document_position;
                    let uri = at.text_document.uri;
                    let items = self
                        .documents
                        .get(uri.as_str())
                        .map(|text| {
                            let offset = symbols::offset(text, at.position);
                            complete::completions(&document_path(&uri), text, offset)
                        })
                        .unwrap_or_default();
                    Response::new_ok(id, CompletionResponse::Array(items))
                }
                Err(e) => invalid(id, e),
            },
            Formatting::METHOD => {
                match serde_json::from_value::<DocumentFormattingParams>(params) {
                    Ok(p) => {
                        let edits = self
                            .documents
                            .get(p.text_document.uri.as_str())
                            .and_then(|text| formatting(text));
                        Response::new_ok(id, edits)
                    }
                    Err(e) => invalid(id, e),
                }
            }
            _ => Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("nnc lsp does not implement `{method}`"),
            ),
        }
    }

    /// Take a notification into account: an opened or changed document joins `changed` (to be
    /// checked once the waiting messages are read); a closed one has its diagnostics cleared at
    /// once; a malformed frame is reported to the client's log. Returns what to send now.
    /// Parameters that do not parse are ignored: the protocol gives no way to answer them.
    fn notice(&mut self, n: Notification, changed: &mut Vec<Uri>) -> Vec<Notification> {
        let updated = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                    .ok()
                    .map(|p| (p.text_document.uri, p.text_document.text))
            }
            DidChangeTextDocument::METHOD => {
                serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                    .ok()
                    // Full synchronization: the last change holds the whole text.
                    .and_then(|p| {
                        let text = p.content_changes.into_iter().last()?.text;
                        Some((p.text_document.uri, text))
                    })
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                else {
                    return Vec::new();
                };
                let uri = p.text_document.uri;
                self.documents.remove(uri.as_str());
                changed.retain(|u| u != &uri);
                return vec![publish(uri, Vec::new())];
            }
            transport::MALFORMED => {
                let message = n.params.as_str().unwrap_or("unreadable").to_string();
                return vec![Notification::new(
                    LogMessage::METHOD.to_string(),
                    LogMessageParams {
                        typ: MessageType::ERROR,
                        message: format!("nnc lsp skipped a malformed message: {message}"),
                    },
                )];
            }
            _ => None,
        };
        if let Some((uri, text)) = updated {
            self.documents.insert(uri.as_str().to_string(), text);
            if !changed.contains(&uri) {
                changed.push(uri);
            }
        }
        Vec::new()
    }

    /// The diagnostics of an open document.
    fn check(&self, uri: &Uri) -> Vec<lsp_types::Diagnostic> {
        let Some(text) = self.documents.get(uri.as_str()) else {
            return Vec::new();
        };
        session::check_text(&document_path(uri), text.clone())
            .iter()
            .map(|d| convert::diagnostic(d, uri, text))
            .collect()
    }
}

/// The edit that puts `text` in `nnc fmt`'s layout: one replacement of the whole text, none when
/// it is already formatted, and `None` (no answer) when it does not parse — its diagnostics
/// already say why, and a format-on-save should not add an error of its own.
fn formatting(text: &str) -> Option<Vec<lsp_types::TextEdit>> {
    let formatted = crate::fmt::format_text("document.nn", text).ok()?;
    if formatted == text {
        return Some(Vec::new());
    }
    let whole = crate::diag::Span::new(0, text.len());
    Some(vec![lsp_types::TextEdit {
        range: convert::range(text, whole),
        new_text: formatted,
    }])
}

/// Where a document is: its file, or for one that is not a file on disk (an unsaved buffer) a
/// file in the current folder, so that its data path means what it would mean there.
fn document_path(uri: &Uri) -> PathBuf {
    uri_to_path(uri).unwrap_or_else(|| PathBuf::from("untitled.nn"))
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
