//! Datasets: MNIST / Fashion-MNIST IDX files (raw or gzip) and a seeded synthetic set.
//!
//! Every file is treated as adversarial: magic numbers, dimensions, counts and lengths are
//! checked against the header and against limits before anything is allocated from them.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::rng::Rng;

/// Most items one IDX file may hold.
pub const MAX_IDX_ITEMS: u64 = 1_000_000;
/// Largest image side accepted.
pub const MAX_IDX_SIDE: u32 = 1024;
/// Most bytes read from one (decompressed) IDX file.
pub const MAX_IDX_BYTES: u64 = 256 << 20;
/// IDX magic for unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic for unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Why a dataset could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file looks gzip-compressed but does not decompress.
    #[error("{path}: bad gzip stream: {source}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The first four bytes are not the expected IDX magic.
    #[error("{path}: bad IDX magic {got:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The expected magic.
        expected: u32,
        /// The magic found.
        got: u32,
    },
    /// The file is shorter than its header promises.
    #[error("{path}: truncated: header promises {expected_bytes} bytes, file has {got_bytes}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected_bytes: u64,
        /// Bytes present.
        got_bytes: u64,
    },
    /// The file has bytes after the promised data.
    #[error("{path}: {got_bytes} bytes, but the header promises exactly {expected_bytes}")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies.
        expected_bytes: u64,
        /// Bytes present.
        got_bytes: u64,
    },
    /// A header field exceeds a limit.
    #[error("{path}: {what} is {got}, the limit is {max}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Which field.
        what: &'static str,
        /// Its value.
        got: u64,
        /// The limit.
        max: u64,
    },
    /// Image and label files disagree on the number of items.
    #[error("{images} has {image_count} images but {labels} has {label_count} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// The labels file.
        labels: PathBuf,
        /// Images in it.
        image_count: u64,
        /// Labels in it.
        label_count: u64,
    },
    /// A label is not a valid class.
    #[error("{path}: label {label} at index {index} is not below {classes}")]
    LabelOutOfRange {
        /// The labels file.
        path: PathBuf,
        /// Item index.
        index: usize,
        /// The label.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// Neither `name` nor `name.gz` exists in the directory.
    #[error("{dir}: neither {file} nor {file}.gz exists")]
    NotFound {
        /// The directory searched.
        dir: PathBuf,
        /// The base file name.
        file: String,
    },
}

/// Images with labels. Pixels are kept as bytes (a quarter of the memory of f32) and scaled to
/// `[0, 1]` when a batch is assembled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    rows: usize,
    cols: usize,
    classes: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl Dataset {
    /// Builds a dataset; panics if the lengths disagree or a label is out of range.
    pub fn new(rows: usize, cols: usize, classes: usize, pixels: Vec<u8>, labels: Vec<u8>) -> Self {
        assert_eq!(
            pixels.len(),
            rows * cols * labels.len(),
            "dataset: pixel count does not match labels"
        );
        assert!(
            labels.iter().all(|&l| (l as usize) < classes),
            "dataset: label out of range"
        );
        Self {
            rows,
            cols,
            classes,
            pixels,
            labels,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Features per sample (`rows * cols`, one channel).
    pub fn features(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Raw pixels of sample `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.features()..(i + 1) * self.features()]
    }

    /// Appends samples `indices` to `images` (scaled to `[0, 1]`) and `labels`, clearing both first.
    pub fn gather(&self, indices: &[usize], images: &mut Vec<f32>, labels: &mut Vec<u8>) {
        images.clear();
        labels.clear();
        for &i in indices {
            images.extend(self.image(i).iter().map(|&p| p as f32 / 255.0));
            labels.push(self.labels[i]);
        }
    }

    /// The first `n` samples (or all if fewer).
    pub fn truncated(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            pixels: self.pixels[..n * self.features()].to_vec(),
            labels: self.labels[..n].to_vec(),
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> Self {
        Self {
            rows: self.rows,
            cols: self.cols,
            classes: self.classes,
            pixels: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// Which half of an MNIST-style directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// `train-*` (60 000 for MNIST).
    Train,
    /// `t10k-*` (10 000 for MNIST).
    Test,
}

/// Loads `train-*` or `t10k-*` from an MNIST or Fashion-MNIST directory (same file names),
/// preferring the uncompressed file and falling back to `.gz`.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = find_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels = find_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    load_pair(&images, &labels)
}

fn find_file(dir: &Path, base: &str) -> Result<PathBuf, DataError> {
    [base.to_string(), format!("{base}.gz")]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::NotFound {
            dir: dir.to_path_buf(),
            file: base.to_string(),
        })
}

/// Loads an images file and a labels file (10 classes) and checks that they match.
pub fn load_pair(images_path: &Path, labels_path: &Path) -> Result<Dataset, DataError> {
    let images = load_idx_images(images_path)?;
    let labels = load_idx_labels(labels_path)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            image_count: images.count as u64,
            label_count: labels.len() as u64,
        });
    }
    Ok(Dataset::new(
        images.rows,
        images.cols,
        10,
        images.pixels,
        labels,
    ))
}

/// The contents of an IDX image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Height.
    pub rows: usize,
    /// Width.
    pub cols: usize,
    /// `count * rows * cols` bytes, row-major.
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (raw or gzip, detected by content).
pub fn load_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_idx_images(&read_maybe_gz(path)?, path)
}

/// Reads an IDX label file (raw or gzip); labels must be below 10.
pub fn load_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_idx_labels(&read_maybe_gz(path)?, path, 10)
}

/// Reads a whole file, gunzipping it if it starts with the gzip magic, within [`MAX_IDX_BYTES`].
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut raw = Vec::new();
    file.take(MAX_IDX_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(io_err)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        out
    } else {
        raw
    };
    if bytes.len() as u64 > MAX_IDX_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what: "decompressed size",
            got: bytes.len() as u64,
            max: MAX_IDX_BYTES,
        });
    }
    Ok(bytes)
}

fn header(bytes: &[u8], path: &Path, magic: u32, fields: usize) -> Result<Vec<u32>, DataError> {
    let need = 4 * (fields + 1);
    if bytes.len() < need {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected_bytes: need as u64,
            got_bytes: bytes.len() as u64,
        });
    }
    let word = |i: usize| {
        u32::from_be_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    if word(0) != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            got: word(0),
        });
    }
    Ok((1..=fields).map(word).collect())
}

fn check_len(bytes: &[u8], path: &Path, expected: u64) -> Result<(), DataError> {
    let got = bytes.len() as u64;
    let path = path.to_path_buf();
    match got.cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated {
            path,
            expected_bytes: expected,
            got_bytes: got,
        }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingBytes {
            path,
            expected_bytes: expected,
            got_bytes: got,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

fn limit(path: &Path, what: &'static str, got: u64, max: u64) -> Result<(), DataError> {
    if got > max {
        Err(DataError::TooLarge {
            path: path.to_path_buf(),
            what,
            got,
            max,
        })
    } else {
        Ok(())
    }
}

/// Parses IDX image bytes; `path` is only used in errors.
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    let h = header(bytes, path, IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (h[0], h[1], h[2]);
    limit(path, "image count", count as u64, MAX_IDX_ITEMS)?;
    limit(path, "rows", rows as u64, MAX_IDX_SIDE as u64)?;
    limit(path, "cols", cols as u64, MAX_IDX_SIDE as u64)?;
    check_len(bytes, path, 16 + count as u64 * rows as u64 * cols as u64)?;
    Ok(IdxImages {
        count: count as usize,
        rows: rows as usize,
        cols: cols as usize,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses IDX label bytes, checking every label is below `classes`.
pub fn parse_idx_labels(bytes: &[u8], path: &Path, classes: usize) -> Result<Vec<u8>, DataError> {
    let h = header(bytes, path, LABELS_MAGIC, 1)?;
    limit(path, "label count", h[0] as u64, MAX_IDX_ITEMS)?;
    check_len(bytes, path, 8 + h[0] as u64)?;
    let labels = bytes[8..].to_vec();
    if let Some(index) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: labels[index],
            classes,
        });
    }
    Ok(labels)
}

/// Shape of the synthetic dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    /// Number of samples.
    pub samples: usize,
    /// Seed for the prototypes and the samples.
    pub seed: u64,
    /// Amplitude of the uniform pixel noise in `[0, 255]`.
    pub noise: u8,
    /// Largest random shift of a prototype, in pixels, in each direction.
    pub max_shift: usize,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            samples: 6000,
            seed: 0,
            noise: 96,
            max_shift: 2,
        }
    }
}

/// 10 classes of 28x28 images: each class is a random prototype of bright 4x4 blocks; a
/// sample shifts it by up to `max_shift` pixels, dims it randomly and adds uniform noise.
/// Labels cycle 0..9 so any prefix is balanced. Same config → same bytes everywhere.
pub fn synthetic(config: &SyntheticConfig) -> Dataset {
    const SIDE: usize = 28;
    const CLASSES: usize = 10;
    let mut rng = Rng::new(config.seed);
    let prototypes: Vec<Vec<u8>> = (0..CLASSES)
        .map(|_| {
            let cells: Vec<bool> = (0..49).map(|_| rng.below(100) < 30).collect();
            (0..SIDE * SIDE)
                .map(|i| {
                    if cells[(i / SIDE / 4) * 7 + (i % SIDE) / 4] {
                        255
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect();
    let span = 2 * config.max_shift + 1;
    let mut pixels = Vec::with_capacity(config.samples * SIDE * SIDE);
    let mut labels = Vec::with_capacity(config.samples);
    for i in 0..config.samples {
        let label = i % CLASSES;
        let (sy, sx) = (
            rng.below(span) as isize - config.max_shift as isize,
            rng.below(span) as isize - config.max_shift as isize,
        );
        let brightness = 128 + rng.below(128) as u32; // 128..=255
        for y in 0..SIDE as isize {
            for x in 0..SIDE as isize {
                let (py, px) = (y - sy, x - sx);
                let inside = (0..SIDE as isize).contains(&py) && (0..SIDE as isize).contains(&px);
                let base = if inside {
                    prototypes[label][py as usize * SIDE + px as usize] as u32 * brightness / 255
                } else {
                    0
                };
                let noise = rng.below(config.noise as usize + 1) as u32;
                pixels.push((base + noise).min(255) as u8);
            }
        }
        labels.push(label as u8);
    }
    Dataset::new(SIDE, SIDE, CLASSES, pixels, labels)
}
