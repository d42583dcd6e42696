//! The process's allocator: jemalloc on Linux with the `jemalloc` feature
//! (the default), else the system's.
//!
//! The operator's memory is mostly many small, long-lived allocations (a
//! cache entry, a condition, a name per connection). glibc's malloc keeps
//! more beside each and per thread arena: with 20,000 connections and
//! 20,000 Secrets, the process took 89.3 MiB with it and 83.0 MiB with
//! jemalloc (anonymous memory 75.9 against 68.1 MiB; `bench/README.md`,
//! Memory). Only the binary sets it: the library, its tests and the bench
//! driver keep the system's. Heap profilers that wrap `malloc` (heaptrack)
//! do not see jemalloc's allocations: profile a build without the feature.

#[cfg(all(target_os = "linux", feature = "jemalloc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
