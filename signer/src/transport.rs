pub use airlock_device::transport::HttpTransport;
