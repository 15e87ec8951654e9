//! The guest's WASI stdout and stderr into the log, one record per message
//! (the same for every contract version).

use crate::sandbox::logbook::{LogBook, MAX_MESSAGE_BYTES};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Most bytes of a call's output kept to explain a trap (a panic message).
pub const TAIL_BYTES: usize = 2048;

/// What the guest wrote during the current call, bounded: attached to the
/// error when the call traps, so a panic's message reaches the caller.
#[derive(Clone, Default)]
pub struct OutputTail(Arc<Mutex<Vec<u8>>>);

impl OutputTail {
    /// Forgets what earlier calls wrote.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The last [`TAIL_BYTES`] written since the last clear, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).trim().to_string()
    }

    /// Adds a line (a message the guest logged at `error`).
    pub fn push_line(&self, line: &str) {
        self.push(line.as_bytes());
        self.push(b"\n");
    }

    fn push(&self, bytes: &[u8]) {
        let mut tail = self.0.lock().unwrap_or_else(|p| p.into_inner());
        tail.extend_from_slice(bytes);
        let excess = tail.len().saturating_sub(TAIL_BYTES);
        tail.drain(..excess);
    }
}

/// A WASI output stream whose messages become log records: what one write
/// delivers up to its last newline is one record (a panic message or a
/// multi-line `eprintln!` stays whole); text after the last newline waits
/// for the next write.
#[derive(Clone)]
pub struct LogStream {
    log: Arc<LogBook>,
    level: &'static str,
    source: &'static str,
    partial: Arc<Mutex<Vec<u8>>>,
    tail: OutputTail,
}

impl LogStream {
    /// A stream logging at `level` from `source`, keeping what it gets in `tail` too.
    pub fn new(log: Arc<LogBook>, level: &'static str, source: &'static str, tail: OutputTail) -> Self {
        Self { log, level, source, partial: Arc::default(), tail }
    }

    fn accept(&self, bytes: &[u8]) {
        self.tail.push(bytes);
        let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        partial.extend_from_slice(bytes);
        if let Some(last) = partial.iter().rposition(|&b| b == b'\n') {
            let message: Vec<u8> = partial.drain(..=last).collect();
            self.log.push(self.level, self.source, None, String::from_utf8_lossy(&message).trim_end_matches(['\n', '\r']));
        }
        if partial.len() > MAX_MESSAGE_BYTES {
            let line: Vec<u8> = std::mem::take(&mut *partial);
            self.log.push(self.level, self.source, None, &String::from_utf8_lossy(&line));
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_per_message_and_a_tail_for_the_trap() {
        let log = Arc::new(LogBook::default());
        let tail = OutputTail::default();
        let stream = LogStream::new(log.clone(), "warn", "stderr", tail.clone());
        stream.accept(b"thread panicked at src/lib.rs:3:5:\nboom\nnote: run with RUST_BACKTRACE=1\n");
        stream.accept(b"partial ");
        assert_eq!(
            log.drain().iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
            ["thread panicked at src/lib.rs:3:5:\nboom\nnote: run with RUST_BACKTRACE=1"]
        );
        stream.accept(b"line\r\n");
        assert_eq!(log.drain()[0].message, "partial line");
        assert!(tail.text().ends_with("partial line"));
        tail.push_line("from the log interface");
        assert!(tail.text().ends_with("partial line\r\nfrom the log interface"));
    }
}
