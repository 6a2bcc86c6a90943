//! Single-precision matrix multiply, `C += A · B`, cache-blocked with a register-tiled
//! micro-kernel (AVX-512 / AVX2 on x86-64 when the CPU has them, portable Rust otherwise).
//!
//! Invariant: every element of `C` is the left fold, in increasing `k`, of separately rounded
//! products added to `C`'s initial value: `c = ((c + a0*b0) + a1*b1) + ...`. No fused
//! multiply-add, no reassociation. Block sizes, kernel ISA and the thread split decide only
//! *who* computes an element and when, never this order, so the result is bit-identical to
//! [`gemm_reference`] on every CPU and for every thread count. (On 32-bit x86 this needs
//! SSE2 floats, the default for Rust's i686 targets; x87 extended precision would not do.)

use std::ops::Range;

/// Rows of `C` per micro-tile.
pub const MR: usize = 6;
/// Columns of `C` per micro-tile: one AVX-512 register, two AVX2 registers. (A 6x32
/// AVX-512 tile measured ~15% slower on this workload's shapes.)
pub const NR: usize = 16;
/// Depth of a cache block: one `KC x NR` panel of `B` (16 KiB) stays in L1.
const KC: usize = 256;
/// Rows of `C` per cache block (16 micro-panels; `MC x KC` of `A` = 96 KiB stays in L2).
const MC_PANELS: usize = 16;
/// Columns of `C` per cache block, in 16-column units.
const NC_PANELS: usize = 64;
/// Below this many multiply-adds a GEMM runs on the calling thread (a pool task costs ~15 µs).
const PARALLEL_MIN_MACS: usize = 1 << 19;

/// A read-only strided matrix view: element `(r, c)` is `data[r * rs + c * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows x cols` matrix. Panics if `data` is shorter.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// A general strided view. Panics if any element would fall outside `data`.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * rs + (cols - 1) * cs;
            assert!(
                last < data.len(),
                "matrix view {rows}x{cols} (strides {rs},{cs}) exceeds {} elements",
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// The transpose (a view; nothing is copied).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.rs + c * self.cs]
    }
}

/// The definition of the result, written as plainly as possible. Tests compare the fast path
/// against it bit for bit.
pub fn gemm_reference(a: MatRef<'_>, b: MatRef<'_>, c: &mut [f32]) {
    let (m, k, n) = check_dims(&a, &b, c);
    for i in 0..m {
        for j in 0..n {
            let mut acc = c[i * n + j];
            for p in 0..k {
                acc += a.at(i, p) * b.at(p, j);
            }
            c[i * n + j] = acc;
        }
    }
}

fn check_dims(a: &MatRef<'_>, b: &MatRef<'_>, c: &[f32]) -> (usize, usize, usize) {
    assert_eq!(
        a.cols, b.rows,
        "gemm: inner dimensions differ ({}x{} · {}x{})",
        a.rows, a.cols, b.rows, b.cols
    );
    assert_eq!(
        c.len(),
        a.rows * b.cols,
        "gemm: C has {} elements, expected {}x{}",
        c.len(),
        a.rows,
        b.cols
    );
    (a.rows, a.cols, b.cols)
}

/// Which micro-kernel runs. All give identical bits; they differ only in speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Isa {
    /// Plain Rust loops (any CPU).
    Portable = 0,
    /// 256-bit AVX2 intrinsics.
    Avx2 = 1,
    /// 512-bit AVX-512F intrinsics.
    Avx512 = 2,
}

/// 0 = no override, else `Isa as u8 + 1`.
static ISA_OVERRIDE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Forces every later [`gemm`] in this process onto `isa` (`None`: back to the fastest).
/// Results are identical either way; this exists so tests and benchmarks can show it.
/// Panics if `isa` is unavailable.
pub fn force_isa(isa: Option<Isa>) {
    if let Some(isa) = isa {
        assert!(isa_available(isa), "{isa:?} is not supported by this CPU");
    }
    let code = isa.map_or(0, |i| i as u8 + 1);
    ISA_OVERRIDE.store(code, std::sync::atomic::Ordering::Relaxed);
}

/// The kernel [`gemm`] uses: a forced one, else the fastest this CPU supports.
pub fn detect_isa() -> Isa {
    match ISA_OVERRIDE.load(std::sync::atomic::Ordering::Relaxed) {
        1 => return Isa::Portable,
        2 => return Isa::Avx2,
        3 => return Isa::Avx512,
        _ => {}
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// Whether `isa` can run on this CPU.
pub fn isa_available(isa: Isa) -> bool {
    match isa {
        Isa::Portable => true,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
        #[cfg(not(target_arch = "x86_64"))]
        _ => false,
    }
}

/// Whether a GEMM adds to `C` or replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beta {
    /// `C = A · B` (the fold starts from +0.0, exactly like zero-filling `C` first).
    Overwrite,
    /// `C += A · B` (the fold starts from `C`'s value).
    Accumulate,
}

/// `C += A · B` with `C` row-major `a.rows() x b.cols()`, on up to `threads` threads.
pub fn gemm(threads: usize, a: MatRef<'_>, b: MatRef<'_>, c: &mut [f32]) {
    gemm_with(detect_isa(), threads, a, b, c, Beta::Accumulate);
}

/// `C = A · B`: like zero-filling `C` and calling [`gemm`], without the extra pass.
pub fn gemm_overwrite(threads: usize, a: MatRef<'_>, b: MatRef<'_>, c: &mut [f32]) {
    gemm_with(detect_isa(), threads, a, b, c, Beta::Overwrite);
}

/// [`gemm`] with an explicit kernel and `beta`. Panics if `isa` is unavailable.
///
/// The kernel reads `A` in place when either of its strides is 1 and `B` in place when its
/// column stride is 1; anything else is copied into panels first. When only `B` would need
/// that copy and `A` is smaller, it computes `Cᵀ = Bᵀ · Aᵀ` instead (products commute
/// exactly, so the bits are the same).
pub fn gemm_with(
    isa: Isa,
    threads: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    beta: Beta,
) {
    let (m, k, n) = check_dims(&a, &b, c);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if beta == Beta::Overwrite {
            c.fill(0.0);
        }
        return;
    }
    assert!(
        isa_available(isa),
        "gemm: {isa:?} is not supported by this CPU"
    );
    let threads = if m * n * k < PARALLEL_MIN_MACS {
        1
    } else {
        threads.max(1)
    };
    let pack_b = if b.cs == 1 { 0 } else { k * n };
    let pack_a_t = if a.rs == 1 { 0 } else { m * k };
    if pack_b > 0 && pack_a_t + 2 * m * n < pack_b {
        let mut ct = vec![0.0f32; m * n];
        if beta == Beta::Accumulate {
            transpose(c, m, n, &mut ct);
        }
        gemm_direct(isa, threads, b.t(), a.t(), &mut ct, beta);
        transpose(&ct, n, m, c);
    } else {
        gemm_direct(isa, threads, a, b, c, beta);
    }
}

/// `dst[j * rows + i] = src[i * cols + j]` for a row-major `rows x cols` `src`.
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const BLOCK: usize = 32;
    for i0 in (0..rows).step_by(BLOCK) {
        for j0 in (0..cols).step_by(BLOCK) {
            for i in i0..(i0 + BLOCK).min(rows) {
                for j in j0..(j0 + BLOCK).min(cols) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}

fn gemm_direct(isa: Isa, threads: usize, a: MatRef<'_>, b: MatRef<'_>, c: &mut [f32], beta: Beta) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let a_src = PanelSource::new(a, m.div_ceil(MR), MR, Side::A);
    let b_src = PanelSource::new(b, n.div_ceil(NR), NR, Side::B);
    let mut a_pack = vec![0.0f32; a_src.packed_len()];
    let mut b_pack = vec![0.0f32; b_src.packed_len()];
    run_split(threads, &mut a_pack, a_src.packed_panels, |buf, range| {
        a_src.pack(buf, range)
    });
    run_split(threads, &mut b_pack, b_src.packed_panels, |buf, range| {
        b_src.pack(buf, range)
    });
    let job = Job {
        isa,
        m,
        n,
        k,
        beta,
        a: &a_src,
        b: &b_src,
        a_pack: &a_pack,
        b_pack: &b_pack,
    };
    let (m_panels, n_panels) = (m.div_ceil(MR), n.div_ceil(NR));
    let c_ptr = SharedMut(c.as_mut_ptr());
    let split_rows = m_panels >= n_panels;
    let total = if split_rows { m_panels } else { n_panels };
    let parts = split_even(total, threads);
    let work = |part: Range<usize>| {
        let (rows, cols) = if split_rows {
            (part, 0..n_panels)
        } else {
            (0..m_panels, part)
        };
        // SAFETY: parts are disjoint panel ranges, so every thread writes disjoint C tiles.
        unsafe { job.compute(rows, cols, c_ptr) };
    };
    if parts.len() == 1 {
        work(parts[0].clone());
    } else {
        rayon::scope(|s| {
            for part in parts {
                s.spawn(move |_| work(part));
            }
        });
    }
}

/// Splits `0..total` into at most `parts` contiguous, non-empty, near-equal ranges.
pub fn split_even(total: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, total.max(1));
    (0..parts)
        .map(|i| (i * total / parts)..((i + 1) * total / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// Runs `f(chunk, panel_range)` over `panels` equal chunks of `buf`, spread over threads.
fn run_split<F>(threads: usize, buf: &mut [f32], panels: usize, f: F)
where
    F: Fn(&mut [f32], Range<usize>) + Sync,
{
    if panels == 0 {
        return;
    }
    let panel_len = buf.len() / panels;
    let parts = split_even(panels, threads);
    if parts.len() == 1 {
        f(buf, 0..panels);
        return;
    }
    rayon::scope(|s| {
        let mut rest = &mut *buf;
        for part in parts {
            let (head, tail) = rest.split_at_mut(part.len() * panel_len);
            rest = tail;
            let f = &f;
            s.spawn(move |_| f(head, part));
        }
    });
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// Where the micro-kernel reads one operand's panels from. A panel of `A` is `MR` rows, of
/// `B` is `NR` columns ("lanes"); the kernel reads lane `l` at step `k` from
/// `ptr + l * lane_stride + k * k_stride`, and `B` needs `lane_stride == 1` (vector loads).
/// Full panels of a matrix with a usable stride are read in place; others (and a ragged last
/// panel) are first copied ("packed") into a zero-padded buffer with `k_stride = width`.
struct PanelSource<'a> {
    mat: MatRef<'a>,
    side: Side,
    width: usize,
    /// Strides of the in-place layout, if usable.
    direct: Option<(usize, usize)>,
    /// Panels `first_packed..` live in the packed buffer.
    first_packed: usize,
    packed_panels: usize,
    depth: usize,
}

impl<'a> PanelSource<'a> {
    fn new(mat: MatRef<'a>, panels: usize, width: usize, side: Side) -> Self {
        // (extent along lanes, depth, lane stride, k stride)
        let (extent, depth, lane_stride, k_stride) = match side {
            Side::A => (mat.rows, mat.cols, mat.rs, mat.cs),
            Side::B => (mat.cols, mat.rows, mat.cs, mat.rs),
        };
        let direct = match side {
            Side::A if lane_stride == 1 || k_stride == 1 => Some((lane_stride, k_stride)),
            Side::B if lane_stride == 1 => Some((1, k_stride)),
            _ => None,
        };
        let first_packed = if direct.is_some() { extent / width } else { 0 };
        Self {
            mat,
            side,
            width,
            direct,
            first_packed,
            packed_panels: panels - first_packed,
            depth,
        }
    }

    fn packed_len(&self) -> usize {
        self.packed_panels * self.depth * self.width
    }

    /// Element `(lane, k)` of the operand: lane is a row of A or a column of B.
    fn get(&self, lane: usize, k: usize) -> f32 {
        match self.side {
            Side::A => self.mat.at(lane, k),
            Side::B => self.mat.at(k, lane),
        }
    }

    fn extent(&self) -> usize {
        match self.side {
            Side::A => self.mat.rows,
            Side::B => self.mat.cols,
        }
    }

    /// Packs panels `range` (indices relative to the packed region) into `buf`, walking the
    /// source along its contiguous direction in L1-sized blocks of `k`.
    fn pack(&self, buf: &mut [f32], range: Range<usize>) {
        const K_BLOCK: usize = 64;
        let (w, depth, extent) = (self.width, self.depth, self.extent());
        let lanes_contiguous = match self.side {
            Side::A => self.mat.rs == 1,
            Side::B => self.mat.cs == 1,
        };
        for (slot, rel) in range.enumerate() {
            let panel = self.first_packed + rel;
            let out = &mut buf[slot * depth * w..(slot + 1) * depth * w];
            let lanes = (extent - panel * w).min(w);
            for k0 in (0..depth).step_by(K_BLOCK) {
                let k1 = (k0 + K_BLOCK).min(depth);
                if lanes_contiguous {
                    for k in k0..k1 {
                        for l in 0..lanes {
                            out[k * w + l] = self.get(panel * w + l, k);
                        }
                    }
                } else {
                    for l in 0..lanes {
                        for k in k0..k1 {
                            out[k * w + l] = self.get(panel * w + l, k);
                        }
                    }
                }
            }
        }
    }

    /// Start of panel `p` and its `(lane_stride, k_stride)`.
    fn panel(&self, p: usize, packed: &[f32]) -> (*const f32, usize, usize) {
        match self.direct {
            Some((lane_stride, k_stride)) if p < self.first_packed => (
                self.mat.data[p * self.width * lane_stride..].as_ptr(),
                lane_stride,
                k_stride,
            ),
            _ => {
                let offset = (p - self.first_packed) * self.depth * self.width;
                (packed[offset..].as_ptr(), 1, self.width)
            }
        }
    }
}

#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: only used to hand disjoint tiles of one buffer to tasks that finish before it is freed.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

/// Strided read access to one micro-panel of A and of B (see [`PanelSource`]).
#[derive(Clone, Copy)]
struct Panels {
    a: *const f32,
    a_lane: usize,
    a_k: usize,
    b: *const f32,
    b_k: usize,
}

struct Job<'a> {
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    beta: Beta,
    a: &'a PanelSource<'a>,
    b: &'a PanelSource<'a>,
    a_pack: &'a [f32],
    b_pack: &'a [f32],
}

impl Job<'_> {
    /// Computes the C tiles in panel ranges `rows x cols`.
    ///
    /// # Safety
    /// `c` must point to the `m x n` output and no other thread may touch these tiles.
    unsafe fn compute(&self, rows: Range<usize>, cols: Range<usize>, c: SharedMut) {
        let k_blocks = self.k.div_ceil(KC);
        for kb in 0..k_blocks {
            let k0 = kb * self.k / k_blocks;
            let k1 = (kb + 1) * self.k / k_blocks;
            let load_c = kb > 0 || self.beta == Beta::Accumulate;
            for jc in cols.clone().step_by(NC_PANELS) {
                let jc_end = (jc + NC_PANELS).min(cols.end);
                for ic in rows.clone().step_by(MC_PANELS) {
                    let ic_end = (ic + MC_PANELS).min(rows.end);
                    for q in jc..jc_end {
                        let (b_ptr, _, b_k) = self.b.panel(q, self.b_pack);
                        for p in ic..ic_end {
                            let (a_ptr, a_lane, a_k) = self.a.panel(p, self.a_pack);
                            // SAFETY: panels cover the full depth, so offsetting to k0 stays
                            // inside them; the tile is in bounds and owned by this thread.
                            unsafe {
                                let panels = Panels {
                                    a: a_ptr.add(k0 * a_k),
                                    a_lane,
                                    a_k,
                                    b: b_ptr.add(k0 * b_k),
                                    b_k,
                                };
                                self.tile(p, q, k1 - k0, panels, load_c, c);
                            }
                        }
                    }
                }
            }
        }
    }

    unsafe fn tile(
        &self,
        p: usize,
        q: usize,
        kc: usize,
        panels: Panels,
        load_c: bool,
        c: SharedMut,
    ) {
        let nr = NR;
        let (row0, col0) = (p * MR, q * nr);
        let rows = (self.m - row0).min(MR);
        let cols = (self.n - col0).min(nr);
        // SAFETY (whole block): row0 < m and col0 < n, the caller owns this tile.
        unsafe {
            let c_tile = c.0.add(row0 * self.n + col0);
            if rows == MR && cols == nr {
                kernel(self.isa, kc, panels, c_tile, self.n, load_c);
            } else {
                // Ragged edge: run the full kernel on a scratch tile and copy the valid part.
                let mut scratch = [0.0f32; MR * NR];
                if load_c {
                    for r in 0..rows {
                        for j in 0..cols {
                            scratch[r * nr + j] = *c_tile.add(r * self.n + j);
                        }
                    }
                }
                kernel(self.isa, kc, panels, scratch.as_mut_ptr(), nr, true);
                for r in 0..rows {
                    for j in 0..cols {
                        *c_tile.add(r * self.n + j) = scratch[r * nr + j];
                    }
                }
            }
        }
    }
}

/// `C[0..MR, 0..NR] (+)= A_panel · B_panel` over `kc` steps; `load_c = false` starts from +0.
///
/// # Safety
/// `a + r*a_lane + k*a_k` (r < MR) and `b + k*b_k .. +NR` must be readable for `k < kc`, and
/// the tile `c + r*ldc .. +NR` writable for `r < MR`.
unsafe fn kernel(isa: Isa, kc: usize, p: Panels, c: *mut f32, ldc: usize, load_c: bool) {
    // SAFETY: forwarded contract; the ISA was checked by `gemm_with`.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86::kernel_avx512(kc, p, c, ldc, load_c),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::kernel_avx2(kc, p, c, ldc, load_c),
            _ => kernel_portable(kc, p, c, ldc, load_c),
        }
    }
}

#[allow(clippy::needless_range_loop)]
unsafe fn kernel_portable(kc: usize, p: Panels, c: *mut f32, ldc: usize, load_c: bool) {
    // SAFETY: see `kernel`.
    unsafe {
        let mut acc = [[0.0f32; NR]; MR];
        if load_c {
            for r in 0..MR {
                for j in 0..NR {
                    acc[r][j] = *c.add(r * ldc + j);
                }
            }
        }
        for k in 0..kc {
            let bv = p.b.add(k * p.b_k);
            for r in 0..MR {
                let ar = *p.a.add(r * p.a_lane + k * p.a_k);
                for j in 0..NR {
                    acc[r][j] += ar * *bv.add(j);
                }
            }
        }
        for r in 0..MR {
            for j in 0..NR {
                *c.add(r * ldc + j) = acc[r][j];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{MR, NR, Panels};
    use core::arch::x86_64::*;

    const _: () = assert!(NR == 16);

    /// AVX2: 6x16 tile in 12 ymm accumulators. `mul` then `add`, never `fmadd`.
    #[target_feature(enable = "avx2")]
    #[allow(clippy::needless_range_loop)]
    pub(super) unsafe fn kernel_avx2(kc: usize, p: Panels, c: *mut f32, ldc: usize, load_c: bool) {
        // SAFETY: see `super::kernel`.
        unsafe {
            let mut lo = [_mm256_setzero_ps(); MR];
            let mut hi = [_mm256_setzero_ps(); MR];
            if load_c {
                for r in 0..MR {
                    lo[r] = _mm256_loadu_ps(c.add(r * ldc));
                    hi[r] = _mm256_loadu_ps(c.add(r * ldc + 8));
                }
            }
            // Unrolled by 4 (the order of updates to each accumulator is unchanged).
            let step = |lo: &mut [__m256; MR], hi: &mut [__m256; MR], k: usize| {
                let bv = p.b.add(k * p.b_k);
                let b0 = _mm256_loadu_ps(bv);
                let b1 = _mm256_loadu_ps(bv.add(8));
                let av = p.a.add(k * p.a_k);
                for r in 0..MR {
                    let ar = _mm256_broadcast_ss(&*av.add(r * p.a_lane));
                    lo[r] = _mm256_add_ps(lo[r], _mm256_mul_ps(ar, b0));
                    hi[r] = _mm256_add_ps(hi[r], _mm256_mul_ps(ar, b1));
                }
            };
            let mut k = 0;
            while k + 4 <= kc {
                step(&mut lo, &mut hi, k);
                step(&mut lo, &mut hi, k + 1);
                step(&mut lo, &mut hi, k + 2);
                step(&mut lo, &mut hi, k + 3);
                k += 4;
            }
            while k < kc {
                step(&mut lo, &mut hi, k);
                k += 1;
            }
            for r in 0..MR {
                _mm256_storeu_ps(c.add(r * ldc), lo[r]);
                _mm256_storeu_ps(c.add(r * ldc + 8), hi[r]);
            }
        }
    }

    /// AVX-512: 6x16 tile in 6 zmm accumulators. `mul` then `add`, never `fmadd`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)]
    pub(super) unsafe fn kernel_avx512(
        kc: usize,
        p: Panels,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    ) {
        // SAFETY: see `super::kernel`.
        unsafe {
            let mut acc = [_mm512_setzero_ps(); MR];
            if load_c {
                for r in 0..MR {
                    acc[r] = _mm512_loadu_ps(c.add(r * ldc));
                }
            }
            // Unrolled by 4 (the order of updates to each accumulator is unchanged).
            let step = |acc: &mut [__m512; MR], k: usize| {
                let b0 = _mm512_loadu_ps(p.b.add(k * p.b_k));
                let av = p.a.add(k * p.a_k);
                for r in 0..MR {
                    let ar = _mm512_set1_ps(*av.add(r * p.a_lane));
                    acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(ar, b0));
                }
            };
            let mut k = 0;
            while k + 4 <= kc {
                step(&mut acc, k);
                step(&mut acc, k + 1);
                step(&mut acc, k + 2);
                step(&mut acc, k + 3);
                k += 4;
            }
            while k < kc {
                step(&mut acc, k);
                k += 1;
            }
            for r in 0..MR {
                _mm512_storeu_ps(c.add(r * ldc), acc[r]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect()
    }

    #[test]
    fn every_kernel_layout_and_thread_count_matches_the_reference_bitwise() {
        let shapes = [
            (1, 1, 1),
            (5, 7, 3),
            (6, 16, 9),
            (13, 33, 300),
            (70, 40, 520),
            (64, 130, 97),
            (10, 600, 300),
            (3, 5, 0),
        ];
        for &(m, n, k) in &shapes {
            for a_t in [false, true] {
                for b_t in [false, true] {
                    let a_data = random(m * k, 1);
                    let b_data = random(k * n, 2);
                    let a = if a_t {
                        MatRef::row_major(&a_data, k, m).t()
                    } else {
                        MatRef::row_major(&a_data, m, k)
                    };
                    let b = if b_t {
                        MatRef::row_major(&b_data, n, k).t()
                    } else {
                        MatRef::row_major(&b_data, k, n)
                    };
                    let init = random(m * n, 3);
                    let mut expected = init.clone();
                    gemm_reference(a, b, &mut expected);
                    let mut expected_zero = vec![0.0; m * n];
                    gemm_reference(a, b, &mut expected_zero);
                    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
                        if !isa_available(isa) {
                            continue;
                        }
                        for threads in [1, 2, 3] {
                            let mut got = init.clone();
                            gemm_with(isa, threads, a, b, &mut got, Beta::Accumulate);
                            let same = got
                                .iter()
                                .zip(&expected)
                                .all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(
                                same,
                                "{m}x{n}x{k} at={a_t} bt={b_t} {isa:?} threads={threads}"
                            );
                            let mut got = random(m * n, 4);
                            gemm_with(isa, threads, a, b, &mut got, Beta::Overwrite);
                            let same = got
                                .iter()
                                .zip(&expected_zero)
                                .all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(
                                same,
                                "overwrite {m}x{n}x{k} at={a_t} bt={b_t} {isa:?} threads={threads}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn split_even_covers_everything_once() {
        for total in 0..20 {
            for parts in 1..6 {
                let ranges = split_even(total, parts);
                let flat: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(flat, (0..total).collect::<Vec<_>>());
            }
        }
    }
}
