//! The clock shared by the lab's server and its devices when time is simulated.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug)]
pub struct SimClock(AtomicI64);

impl SimClock {
    pub fn new(t: jiff::Timestamp) -> Self {
        SimClock(AtomicI64::new(t.as_millisecond()))
    }

    pub fn set(&self, t: jiff::Timestamp) {
        self.0.store(t.as_millisecond(), Ordering::SeqCst);
    }

    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.0.load(Ordering::SeqCst))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

impl airlock_server::Clock for SimClock {
    fn now(&self) -> jiff::Timestamp {
        SimClock::now(self)
    }
}
