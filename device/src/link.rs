//! The device's network link as the update cycle sees it: a hook before each request to the
//! server and one for each piece of an image as it arrives. A real device uses [`Direct`]
//! (nothing added); a simulator adds latency, bandwidth limits and cut-off transfers here.

use async_trait::async_trait;

/// What happens to a piece of an image on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The whole piece arrives.
    Whole,
    /// Only the first `n` bytes arrive, then the connection drops.
    CutAfter(usize),
}

#[async_trait]
pub trait Link: Send + Sync {
    /// Called before the check-in and before an image request.
    async fn before_request(&self) {}

    /// Called for each piece of an image: `received` bytes of `length` have arrived before it.
    async fn image_piece(&self, _received: u64, piece: usize, _length: u64) -> Arrival {
        let _ = piece;
        Arrival::Whole
    }
}

/// The link as it is: nothing added.
#[derive(Debug, Clone, Copy, Default)]
pub struct Direct;

impl Link for Direct {}
