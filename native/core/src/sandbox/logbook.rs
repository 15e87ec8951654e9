//! A bounded log per connector: records from the `log` interface and the
//! guest's stdout/stderr. The oldest records are dropped (and counted) when
//! it is full, so a chatty guest costs bounded memory.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Records kept per connector.
pub const LOG_CAPACITY: usize = 1000;
/// Longest message kept, in bytes; longer ones are cut.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// `trace` … `error`.
    pub level: &'static str,
    /// `log` (the interface), `stdout`, `stderr` or `host`.
    pub source: &'static str,
    /// The text, at most [`MAX_MESSAGE_BYTES`].
    pub message: String,
}

/// The bounded log.
#[derive(Debug, Default)]
pub struct LogBook {
    records: Mutex<VecDeque<LogRecord>>,
    dropped: AtomicU64,
}

impl LogBook {
    /// Appends a record, dropping the oldest when full.
    pub fn push(&self, level: &'static str, source: &'static str, message: &str) {
        let mut end = message.len().min(MAX_MESSAGE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() == LOG_CAPACITY {
            records.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        records.push_back(LogRecord { level, source, message: message[..end].to_string() });
    }

    /// Takes every record so far, oldest first.
    pub fn drain(&self) -> Vec<LogRecord> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
    }

    /// Records dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
