//! tough's `Transport` over HTTP: the signer's (which `airlock verify` uses) is the same seam,
//! so the simulator reuses it rather than keeping a copy.

pub use airlock_signer::transport::HttpTransport;
