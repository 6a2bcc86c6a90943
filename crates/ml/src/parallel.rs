//! Parallel helpers. Work runs as rayon tasks on the current pool: spawning an OS thread
//! costs ~0.8 ms in this sandbox (more than a whole MLP step), a pool task ~15 µs.
//!
//! Invariant: a chunk's contents are computed by one closure call that does not depend on
//! which thread runs it or how many there are, so the output bytes never depend on `threads`.

use crate::gemm::split_even;

/// Calls `f(index, chunk)` for every `chunk_len`-sized chunk of `out` (the last may be
/// shorter), spreading contiguous runs of chunks over up to `threads` tasks.
pub fn for_each_chunk<F>(threads: usize, out: &mut [f32], chunk_len: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    if out.is_empty() || chunk_len == 0 {
        return;
    }
    let chunks = out.len().div_ceil(chunk_len);
    let parts = split_even(chunks, threads);
    let run = |first: usize, slab: &mut [f32]| {
        for (i, chunk) in slab.chunks_mut(chunk_len).enumerate() {
            f(first + i, chunk);
        }
    };
    if parts.len() <= 1 {
        run(0, out);
        return;
    }
    rayon::scope(|s| {
        let mut rest = out;
        for part in parts {
            let len = (part.len() * chunk_len).min(rest.len());
            let (head, tail) = rest.split_at_mut(len);
            rest = tail;
            let run = &run;
            s.spawn(move |_| run(part.start, head));
        }
    });
}

/// Runs `f` inside a dedicated pool of `threads` workers (so `threads` tasks really run in
/// parallel, independent of the global pool's size); with one thread, or if the pool cannot
/// be created, runs `f` here. The result is the same either way.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    if threads <= 1 {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
