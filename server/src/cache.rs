//! A value kept for a short time, so that unauthenticated requests (`/metrics` scrapes,
//! `/readyz` probes) that would otherwise reach the database cost at most one load per period
//! however often they come. Concurrent callers wait for the one load in progress.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Cached<T> {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, T)>>,
    loads: AtomicU64,
}

impl<T: Clone> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Cached {
            ttl,
            slot: tokio::sync::Mutex::new(None),
            loads: AtomicU64::new(0),
        }
    }

    /// The value loaded within the last `ttl` before `now`, or a fresh one from `load`
    /// (an error is not kept: the next caller tries again).
    pub async fn get<E, F>(&self, now: Instant, load: F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            if now.saturating_duration_since(*at) < self.ttl {
                return Ok(value.clone());
            }
        }
        self.loads.fetch_add(1, Ordering::Relaxed);
        let value = load.await?;
        *slot = Some((now, value.clone()));
        Ok(value)
    }

    /// How many loads ran (for tests and debugging).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_load_per_period() {
        let cache = Cached::new(Duration::from_secs(10));
        let start = Instant::now();
        for i in 0..100u64 {
            let v: Result<u64, ()> = cache.get(start, async move { Ok(i) }).await;
            assert_eq!(v, Ok(0), "the first load's value is served");
        }
        assert_eq!(cache.loads(), 1);
        let later = start + Duration::from_secs(11);
        assert_eq!(cache.get(later, async { Ok::<_, ()>(7) }).await, Ok(7));
        let failed = cache
            .get(later + Duration::from_secs(11), async {
                Err::<u64, _>("down")
            })
            .await;
        assert_eq!(failed, Err("down"));
        assert_eq!(cache.loads(), 3);
    }
}
