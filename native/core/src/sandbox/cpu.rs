//! A connector's CPU budget (`limits.cpuMsPerSec`): a token bucket of CPU
//! time shared by all its instances. Guest code that has used its budget is
//! held back (its thread sleeps at the next epoch tick) until the bucket
//! refills, so one tenant's spinning connector cannot take more than its
//! share of the machine from its neighbours. The wall-clock deadline keeps
//! running while a call is held back.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// CPU time available to one connector, refilled continuously.
#[derive(Debug)]
pub struct CpuBudget {
    /// Microseconds of CPU per second of wall time (also the bucket's depth).
    rate_us: u64,
    bucket: Mutex<Bucket>,
    throttled_us: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    /// Microseconds available; negative when overdrawn.
    available: i64,
    refilled: Instant,
}

impl CpuBudget {
    /// A budget of `ms_per_sec` milliseconds of CPU per wall second.
    pub fn new(ms_per_sec: u64) -> Self {
        let rate_us = ms_per_sec.saturating_mul(1000).max(1);
        let bucket = Bucket { available: i64::try_from(rate_us).unwrap_or(i64::MAX), refilled: Instant::now() };
        Self { rate_us, bucket: Mutex::new(bucket), throttled_us: AtomicU64::new(0) }
    }

    /// Charges `used` CPU time; when the budget is overdrawn, sleeps until it
    /// is not (or until `deadline`).
    pub fn charge(&self, used: Duration, deadline: Instant) {
        let wait = {
            let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
            self.refill(&mut b);
            b.available = b.available.saturating_sub(i64::try_from(used.as_micros()).unwrap_or(i64::MAX));
            if b.available >= 0 {
                return;
            }
            Duration::from_micros(b.available.unsigned_abs().saturating_mul(1_000_000) / self.rate_us)
        };
        let wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        std::thread::sleep(wait);
        self.throttled_us.fetch_add(wait.as_micros() as u64, Ordering::Relaxed);
    }

    fn refill(&self, b: &mut Bucket) {
        let now = Instant::now();
        let earned = (now.duration_since(b.refilled).as_micros() as u64).saturating_mul(self.rate_us) / 1_000_000;
        if earned > 0 {
            let cap = i64::try_from(self.rate_us).unwrap_or(i64::MAX);
            b.available = b.available.saturating_add(i64::try_from(earned).unwrap_or(i64::MAX)).min(cap);
            b.refilled = now;
        }
    }

    /// Milliseconds guest code was held back so far.
    pub fn throttled_ms(&self) -> u64 {
        self.throttled_us.load(Ordering::Relaxed) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_once_the_budget_is_spent() {
        let b = CpuBudget::new(100); // 100 ms per second
        let far = Instant::now() + Duration::from_secs(60);
        b.charge(Duration::from_millis(100), far); // the whole bucket
        assert_eq!(b.throttled_ms(), 0, "no wait within the budget");
        let t = Instant::now();
        b.charge(Duration::from_millis(20), far); // overdrawn by ~20 ms of CPU: ~200 ms of wall time
        assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
        let held = b.throttled_ms();
        assert!(held >= 150, "{held}");
        b.charge(Duration::from_secs(5), Instant::now() + Duration::from_millis(10));
        assert!(b.throttled_ms() - held <= 10, "never holds back past the deadline");
    }
}
