//! The server's stdio transport: a reader thread that turns `Content-Length` frames from stdin
//! into messages, and a writer thread that frames messages onto stdout, joined to the main loop
//! by channels (the `Connection` of `lsp-server`). Unlike `lsp-server`'s own stdio transport,
//! whose reader stops at the first frame that is not a JSON-RPC message, this one reports such a
//! frame to the main loop (as the notification `MALFORMED`) and reads on: a client that sends a
//! bad message once does not lose its server.

use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{unbounded, Receiver, Sender};
use lsp_server::{Connection, Message, Notification};

/// The method of the notification that stands for a frame that could not be read.
pub const MALFORMED: &str = "$/nnc/malformedMessage";

pub struct Threads {
    reader: JoinHandle<()>,
    writer: JoinHandle<io::Result<()>>,
}

impl Threads {
    /// Wait for the writer to flush what the server sent. The reader is not joined: it may be
    /// blocked on a stdin the client keeps open, and the process ends anyway.
    pub fn join(self) -> Result<(), String> {
        drop(self.reader);
        match self.writer.join() {
            Ok(result) => result.map_err(|e| format!("writing to the client failed: {e}")),
            Err(_) => Err("the writer thread panicked".to_string()),
        }
    }
}

/// The largest message the server reads: far above any model file an editor sends (the whole
/// document comes with each change), far below what would exhaust memory.
pub const MAX_MESSAGE: u64 = 64 << 20;

/// The next message of a stream of `Content-Length` frames; `None` at the end of the stream. A
/// frame whose length is above `MAX_MESSAGE` is skipped (read and dropped a piece at a time)
/// and reported as `InvalidData`, as a frame that is not a message is: `lsp-server`'s own reader
/// allocates the length a header states before it reads, so that one bad header (a length of
/// 10¹⁷ bytes, found by fuzzing) aborted the process.
pub fn read_message(r: &mut impl BufRead) -> io::Result<Option<Message>> {
    let mut length: Option<u64> = None;
    let mut headers = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        // A header line is short; a stream without line ends is not a header.
        if r.by_ref().take(1024).read_line(&mut line)? == 0 {
            return match headers.is_empty() {
                true => Ok(None),
                false => Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the stream ended inside a header",
                )),
            };
        }
        if !line.ends_with('\n') {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "a header line is too long",
            ));
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
        }
        headers.push_str(&line);
    }
    let Some(length) = length else {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("a frame without a valid Content-Length: {headers:?}"),
        ));
    };
    if length > MAX_MESSAGE {
        let skipped = io::copy(&mut r.by_ref().take(length), &mut io::sink())?;
        if skipped < length {
            return Ok(None);
        }
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("a message of {length} bytes, above the {MAX_MESSAGE} the server reads"),
        ));
    }
    let mut body = Vec::new();
    r.by_ref().take(length).read_to_end(&mut body)?;
    if (body.len() as u64) < length {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the stream ended inside a message",
        ));
    }
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(&body);
    Message::read(&mut io::Cursor::new(frame))
}

/// A connection over stdin and stdout.
pub fn stdio() -> (Connection, Threads) {
    let (to_server, from_client): (Sender<Message>, Receiver<Message>) = unbounded();
    let (to_client, from_server): (Sender<Message>, Receiver<Message>) = unbounded();
    let reader = thread::spawn(move || {
        let mut stdin = BufReader::new(io::stdin().lock());
        loop {
            let message = match read_message(&mut stdin) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                // The frame was read whole but is not a message (not JSON, not JSON-RPC, not
                // UTF-8), or its header is broken: report it and read the next frame.
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    Message::Notification(Notification::new(MALFORMED.to_string(), e.to_string()))
                }
                Err(_) => break,
            };
            let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
            if to_server.send(message).is_err() || exit {
                break;
            }
        }
    });
    let writer = thread::spawn(move || {
        let mut stdout = io::stdout().lock();
        for message in from_server {
            message.write(&mut stdout)?;
        }
        Ok(())
    });
    (
        Connection {
            sender: to_client,
            receiver: from_client,
        },
        Threads { reader, writer },
    )
}
