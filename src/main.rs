fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_system();
    basewatch::cli::main()
}

/// Buffers of a megabyte or more (an attachment being cleaned is one of 25 MiB)
/// are mapped on their own and given back to the system when freed. glibc's
/// default raises this threshold to 32 MiB after the first such buffer is
/// freed, and from then on keeps freed attachment buffers in each thread's
/// arena: the bench's 8 concurrent 25 MiB uploads then peaked at 440 MB
/// resident instead of 124 MB (`scripts/bench-attachments.sh`, README).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_system() {
    // SAFETY: mallopt sets one allocator parameter; it is called before any
    // other thread exists, and its failure (0) only leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_system() {}
