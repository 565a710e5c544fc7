//! `nnc lsp` as an editor meets it: the binary started as a process, spoken to in JSON-RPC over
//! stdin and stdout with the protocol's `Content-Length` framing. It initializes, publishes the
//! diagnostics of a broken document with the right code and a range in UTF-16 units (after
//! non-ASCII text on the same line), publishes an empty list once the document is fixed, answers
//! a request it does not implement with "method not found", gives the document's outline,
//! completions, a layer's and an activation's hover, formatting (and an invalid request), and
//! shuts down and exits cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nnc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nnc lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Client {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn request(&mut self, id: i64, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// The next message from the server.
    fn receive(&mut self) -> Value {
        let mut length = None;
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the server hung up"
            );
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = Some(n.parse::<usize>().unwrap());
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next message that is not a notification of another method.
    fn receive_method(&mut self, method: &str) -> Value {
        loop {
            let m = self.receive();
            if m["method"] == method {
                return m;
            }
        }
    }
}

const URI: &str = "file:///nonexistent-folder/model.nn";

#[test]
fn diagnostics_follow_the_document_and_the_server_exits_cleanly() {
    let mut client = Client::start();
    client.request(1, "initialize", json!({"capabilities": {}}));
    let init = client.receive();
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["capabilities"]["textDocumentSync"], 1);
    client.notify("initialized", json!({}));

    // "é" is two bytes in UTF-8 and one UTF-16 unit, "😀" four bytes and two units.
    let broken = "model {\n  input(4)\n  dense(3, activation: softmax)\n}\n\
                  data { path: \"é😀.csv\" target: \"y\" } loss: cross_entropyy\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "nn", "version": 1, "text": broken}}),
    );
    let published = client.receive_method("textDocument/publishDiagnostics");
    assert_eq!(published["params"]["uri"], URI);
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let d = &diagnostics[0];
    assert_eq!(d["code"], "nnc::lower::unknown_loss");
    assert_eq!(d["severity"], 1);
    assert!(d["message"]
        .as_str()
        .unwrap()
        .contains("help: did you mean `cross_entropy`"));
    let line = broken.lines().nth(4).unwrap();
    let bytes = line.find("cross_entropyy").unwrap();
    let units: usize = line[..bytes].chars().map(char::len_utf16).sum();
    assert_eq!(
        units + 1,
        bytes - 2,
        "é saves one unit over its bytes and 😀 two"
    );
    assert_eq!(d["range"]["start"], json!({"line": 4, "character": units}));
    assert_eq!(
        d["range"]["end"],
        json!({"line": 4, "character": units + "cross_entropyy".len()})
    );

    let fixed = broken.replace("cross_entropyy", "cross_entropy");
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    let published = client.receive_method("textDocument/publishDiagnostics");
    assert_eq!(published["params"]["diagnostics"], json!([]));

    client.request(2, "textDocument/notAMethod", json!({}));
    let answer = client.receive();
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["error"]["code"], -32601);

    // The outline: the model block with its layers, then the settings.
    client.request(
        4,
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let answer = client.receive();
    assert_eq!(answer["id"], 4);
    let symbols = answer["result"].as_array().unwrap();
    let names: Vec<&str> = symbols
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["model", "data", "loss"]);
    assert_eq!(symbols[0]["children"][1]["name"], "dense");
    // Go to definition of a name the file does not define: nothing.
    client.request(
        5,
        "textDocument/definition",
        json!({"textDocument": {"uri": URI}, "position": {"line": 2, "character": 4}}),
    );
    let answer = client.receive();
    assert_eq!(
        (answer["id"].clone(), answer["result"].clone()),
        (json!(5), Value::Null)
    );
    // Completion after `activation: ` offers the activations.
    let column = "  dense(3, activation: ".len();
    client.request(
        6,
        "textDocument/completion",
        json!({"textDocument": {"uri": URI}, "position": {"line": 2, "character": column}}),
    );
    let answer = client.receive();
    assert_eq!(answer["id"], 6);
    let labels: Vec<&str> = answer["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"relu") && labels.contains(&"gelu"),
        "{labels:?}"
    );
    // Hover over the layer: its output shape and parameter count (4·3 + 3).
    client.request(
        7,
        "textDocument/hover",
        json!({"textDocument": {"uri": URI}, "position": {"line": 2, "character": 4}}),
    );
    let answer = client.receive();
    assert_eq!(answer["id"], 7);
    let shown = answer["result"]["contents"]["value"].as_str().unwrap();
    assert!(
        shown.contains("`(B, 3)`") && shown.contains("15 parameters"),
        "{shown}"
    );

    // Hover over an activation: its formula.
    let column = "  dense(3, activation: so".len();
    client.request(
        8,
        "textDocument/hover",
        json!({"textDocument": {"uri": URI}, "position": {"line": 2, "character": column}}),
    );
    let shown = client.receive()["result"]["contents"]["value"].clone();
    let shown = shown.as_str().unwrap();
    assert!(
        shown.starts_with("**softmax** (activation)") && shown.contains("Σ_j"),
        "{shown}"
    );

    // Formatting: one edit replacing the whole document by `nnc fmt`'s layout, which splits the
    // one-line data block; once applied, no edit.
    client.request(
        9,
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    let answer = client.receive();
    assert_eq!(answer["id"], 9);
    let edits = answer["result"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{edits:?}");
    let formatted = nnc::fmt::format_text("model.nn", &fixed).unwrap();
    assert_ne!(formatted, fixed);
    assert_eq!(edits[0]["newText"], formatted.as_str());
    let lines = fixed.lines().count();
    assert_eq!(
        edits[0]["range"],
        json!({"start": {"line": 0, "character": 0}, "end": {"line": lines, "character": 0}})
    );
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": formatted}]}),
    );
    let published = client.receive_method("textDocument/publishDiagnostics");
    assert_eq!(published["params"]["diagnostics"], json!([]));
    client.request(
        10,
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert_eq!(client.receive()["result"], json!([]));
    // A request whose parameters are not the method's: "invalid params", and the server goes on.
    client.request(11, "textDocument/formatting", json!({"textDocument": 7}));
    let answer = client.receive();
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(11), json!(-32602))
    );

    client.request(3, "shutdown", Value::Null);
    assert_eq!(client.receive()["id"], 3);
    client.notify("exit", Value::Null);
    let status = client.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
}

impl Client {
    fn send_raw(&mut self, body: &[u8]) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(body).unwrap();
        self.stdin.flush().unwrap();
    }
}

/// Frames that are not messages (bad JSON, bytes that are not UTF-8) are reported in the client's
/// log and skipped; a flood of changes is checked without stalling, and the last diagnostics
/// published are those of the last text.
#[test]
fn bad_frames_and_fast_changes_neither_crash_nor_stall_the_server() {
    let mut client = Client::start();
    // A watchdog: a stalled server fails the test instead of hanging it.
    let pid = client.child.id();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(120));
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    client.request(1, "initialize", json!({"capabilities": {}}));
    assert_eq!(client.receive()["id"], 1);
    client.notify("initialized", json!({}));

    client.send_raw(b"{ this is not json");
    let log = client.receive_method("window/logMessage");
    assert!(log["params"]["message"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    client.send_raw(b"{\"jsonrpc\": \"2.0\", \"method\": \"\xff\xfe\"}");
    client.receive_method("window/logMessage");

    let good = "model {\n  input(4)\n  dense(3, activation: softmax)\n}\nloss: cross_entropy\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "nn", "version": 1, "text": good}}),
    );
    let published = client.receive_method("textDocument/publishDiagnostics");
    assert_eq!(published["params"]["diagnostics"], json!([]));

    let changes = 300;
    for version in 0..changes {
        let text = if version + 1 == changes {
            good.replace("softmax", "softmx")
        } else {
            good.replace("dense(3", &format!("dense({}", 3 + version % 5))
        };
        client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version + 2},
                   "contentChanges": [{"text": text}]}),
        );
    }
    client.request(2, "textDocument/notAMethod", json!({}));
    let mut last = Value::Null;
    let mut publications = 0;
    loop {
        let m = client.receive();
        if m["id"] == 2 {
            break;
        }
        if m["method"] == "textDocument/publishDiagnostics" {
            publications += 1;
            last = m;
        }
    }
    // The request was read after every change, so the batch it closed held the last text; its
    // diagnostics may come just after the answer.
    if last["params"]["diagnostics"] == json!([]) || last.is_null() {
        last = client.receive_method("textDocument/publishDiagnostics");
    }
    assert!(publications <= changes, "{publications} publications");
    let diagnostics = last["params"]["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["code"], "nnc::lower::unknown_activation");

    client.request(3, "shutdown", Value::Null);
    loop {
        if client.receive()["id"] == 3 {
            break;
        }
    }
    client.notify("exit", Value::Null);
    assert!(client.child.wait().unwrap().success());
}

/// Started without a client (stdin closed before initialization), the server says so as a
/// diagnostic with a help line and exits with 1, not a panic.
#[test]
fn without_a_client_the_server_reports_and_exits() {
    let out = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .arg("lsp")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nnc::lsp::connection"), "{stderr}");
    assert!(stderr.contains("started by an editor"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `lsp::answer`, which the fuzzing harness drives, serves a recorded session as the server on
/// standard input does: the completion asked for, the shutdown answered; a session cut off in
/// the middle of a frame ends where it is cut, with the diagnostics of the opened document.
#[test]
fn a_recorded_session_is_answered_in_memory() {
    let frame = |v: Value| {
        let body = v.to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    let uri = "file:///tmp/recorded/model.nn";
    let session = [
        frame(
            json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri, "languageId": "nn", "version": 1,
                             "text": "model {\n  input(4)\n  dense(8, activation: rleu)\n}\n"}}}),
        ),
        frame(
            json!({"jsonrpc": "2.0", "id": 1, "method": "textDocument/completion", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 2, "character": 11}}}),
        ),
        frame(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})),
        frame(json!({"jsonrpc": "2.0", "method": "exit"})),
    ]
    .concat();
    let (replies, ended) = nnc::lsp::answer(session.as_bytes());
    assert_eq!(ended, Ok(()), "shutdown, then exit");
    let mut reader = BufReader::new(&replies[..]);
    let mut messages = Vec::new();
    loop {
        let mut length = 0;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.trim().parse().unwrap();
            }
            line.clear();
        }
        if length == 0 {
            break;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        messages.push(serde_json::from_slice::<Value>(&body).unwrap());
    }
    let completion = messages
        .iter()
        .find(|m| m["id"] == 1)
        .expect("a completion");
    assert!(
        completion["result"].to_string().contains("\"activation\""),
        "{completion}"
    );
    assert!(messages.iter().any(|m| m["id"] == 2), "shutdown answered");
    // Cut inside the second frame: the first is still served.
    let cut = &session.as_bytes()[..session.len() / 2];
    let (replies, ended) = nnc::lsp::answer(cut);
    let replies = String::from_utf8_lossy(&replies);
    assert!(
        replies.contains("publishDiagnostics") && replies.contains("rleu"),
        "{replies}"
    );
    assert!(
        ended.is_ok(),
        "a client that hangs up without exit ends the session"
    );
}

/// A frame whose header states an enormous length (the fuzzer's finding: 3.8·10¹⁷ bytes) is
/// skipped and reported, not allocated: the server neither aborts nor stops reading, in memory
/// and on standard input.
#[test]
fn an_enormous_content_length_is_refused_without_allocating_it() {
    let ok = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"shutdown\"}";
    let exit = "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}";
    // Above the bound but within the input: skipped, and the next frame is served.
    let body = "x".repeat(70 << 20);
    let session = format!(
        "Content-Length: {}\r\n\r\n{body}Content-Length: {}\r\n\r\n{ok}Content-Length: {}\r\n\r\n{exit}",
        body.len(),
        ok.len(),
        exit.len()
    );
    let (replies, ended) = nnc::lsp::answer(session.as_bytes());
    assert!(String::from_utf8_lossy(&replies).contains("\"id\":7"));
    assert_eq!(ended, Ok(()));
    // Far beyond the input: the session ends where the input does.
    let huge = "Content-Length: 383222222222222222\r\n\r\n{}";
    let (replies, _) = nnc::lsp::answer(huge.as_bytes());
    assert!(replies.is_empty());
    for input in std::fs::read_dir("fuzz/regressions/lsp").unwrap() {
        let _ = nnc::lsp::answer(&std::fs::read(input.unwrap().path()).unwrap());
    }
    let mut server = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server
        .stdin
        .take()
        .unwrap()
        .write_all(huge.as_bytes())
        .unwrap();
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "ended by a signal: {stderr}");
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}
