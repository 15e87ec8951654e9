//! A bounded log per connector: records from the `log` interface, the
//! guest's stdout/stderr and the host's notes about it. The oldest records
//! are dropped (and counted, see [`LogBook::dropped`]) when it is full, so a
//! chatty guest costs bounded memory.

use crate::connector::LogRecord;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Records kept per connector.
pub const LOG_CAPACITY: usize = 1000;
/// Longest message kept, in bytes; longer ones are cut.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The bounded log.
#[derive(Debug, Default)]
pub struct LogBook {
    records: Mutex<VecDeque<LogRecord>>,
    dropped: AtomicU64,
    /// `dropped` at the last drain.
    reported: AtomicU64,
}

impl LogBook {
    /// Appends a record, dropping the oldest when full.
    pub fn push(&self, level: &'static str, source: &'static str, op: Option<&'static str>, message: &str) {
        let mut end = message.len().min(MAX_MESSAGE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let timestamp_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let record = LogRecord { level, source, op, timestamp_ms, message: message[..end].to_string() };
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() == LOG_CAPACITY {
            records.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        records.push_back(record);
    }

    /// Takes every record so far, oldest first; when records were dropped
    /// since the last drain, the first is a `host` warning saying how many.
    pub fn drain(&self) -> Vec<LogRecord> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = self.dropped.load(Ordering::Relaxed);
        let unseen = dropped - self.reported.swap(dropped, Ordering::Relaxed);
        let mut out = Vec::with_capacity(records.len() + 1);
        if unseen > 0 {
            let timestamp_ms = records.front().map(|r| r.timestamp_ms).unwrap_or(0);
            let message = format!("{unseen} older record(s) dropped: the log keeps the newest {LOG_CAPACITY}; drain it more often");
            out.push(LogRecord { level: "warn", source: "host", op: None, timestamp_ms, message });
        }
        out.extend(records.drain(..));
        out
    }

    /// Records dropped because the log was full (reported in the connector's stats).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_what_it_drops() {
        let log = LogBook::default();
        for i in 0..LOG_CAPACITY + 5 {
            log.push("info", "log", Some("put"), &format!("record {i}"));
        }
        let records = log.drain();
        assert_eq!(records.len(), LOG_CAPACITY + 1);
        assert_eq!((records[0].source, records[0].message.starts_with("5 older record(s) dropped")), ("host", true));
        assert_eq!(records[1].message, "record 5");
        assert_eq!(records[1].op, Some("put"));
        assert_eq!(log.dropped(), 5);
        log.push("warn", "stderr", None, &"é".repeat(MAX_MESSAGE_BYTES));
        assert!(log.drain()[0].message.len() <= MAX_MESSAGE_BYTES, "cut on a character boundary");
    }
}
