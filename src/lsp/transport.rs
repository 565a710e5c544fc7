//! The server's stdio transport: a reader thread that turns `Content-Length` frames from stdin
//! into messages, and a writer thread that frames messages onto stdout, joined to the main loop
//! by channels (the `Connection` of `lsp-server`). Unlike `lsp-server`'s own stdio transport,
//! whose reader stops at the first frame that is not a JSON-RPC message, this one reports such a
//! frame to the main loop (as the notification `MALFORMED`) and reads on: a client that sends a
//! bad message once does not lose its server.

use std::io::{self, BufReader, ErrorKind};
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

/// A connection over stdin and stdout.
pub fn stdio() -> (Connection, Threads) {
    let (to_server, from_client): (Sender<Message>, Receiver<Message>) = unbounded();
    let (to_client, from_server): (Sender<Message>, Receiver<Message>) = unbounded();
    let reader = thread::spawn(move || {
        let mut stdin = BufReader::new(io::stdin().lock());
        loop {
            let message = match Message::read(&mut stdin) {
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
