//! IDX loading: valid files (raw and gzip), every rejection path, and real MNIST if present.

use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_ml::data::{self, DataError, IMAGES_MAGIC, LABELS_MAGIC, Split};

fn images_file(count: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [IMAGES_MAGIC, count, rows, cols] {
        bytes.extend(word.to_be_bytes());
    }
    bytes.extend((0..pixels).map(|i| (i % 251) as u8));
    bytes
}

fn labels_file(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [LABELS_MAGIC, labels.len() as u32] {
        bytes.extend(word.to_be_bytes());
    }
    bytes.extend(labels);
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8], gzip: bool) -> PathBuf {
    let path = dir.join(name);
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).expect("create"),
            flate2::Compression::fast(),
        );
        enc.write_all(bytes).expect("write");
        enc.finish().expect("finish");
    } else {
        std::fs::write(&path, bytes).expect("write");
    }
    path
}

#[test]
fn raw_and_gzip_files_load_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let labels = [3u8, 1, 4, 1, 5];
    let img = images_file(5, 3, 2, 30);
    write(dir.path(), "train-images-idx3-ubyte", &img, false);
    write(
        dir.path(),
        "train-labels-idx1-ubyte",
        &labels_file(&labels),
        false,
    );
    write(dir.path(), "t10k-images-idx3-ubyte.gz", &img, true);
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &labels_file(&labels),
        true,
    );
    let raw = data::load_mnist(dir.path(), Split::Train).expect("raw");
    let gz = data::load_mnist(dir.path(), Split::Test).expect("gz");
    assert_eq!(raw, gz);
    assert_eq!((raw.len(), raw.rows(), raw.cols()), (5, 3, 2));
    assert_eq!(raw.labels(), labels);
    assert_eq!(raw.image(1), &img[16 + 6..16 + 12]);
}

#[test]
fn malformed_files_give_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = Path::new("x.idx");
    let mut bad_magic = images_file(2, 2, 2, 8);
    bad_magic[3] = 0x01;
    assert!(matches!(
        data::parse_idx_images(&bad_magic, p),
        Err(DataError::BadMagic { got: 0x0801, .. })
    ));
    assert!(matches!(
        data::parse_idx_labels(&images_file(1, 1, 1, 1), p, 10),
        Err(DataError::BadMagic {
            expected: LABELS_MAGIC,
            ..
        })
    ));
    assert!(matches!(
        data::parse_idx_images(&images_file(2, 2, 2, 7), p),
        Err(DataError::Truncated {
            expected_bytes: 24,
            got_bytes: 23,
            ..
        })
    ));
    assert!(matches!(
        data::parse_idx_images(&[0, 0, 8], p),
        Err(DataError::Truncated { .. })
    ));
    assert!(matches!(
        data::parse_idx_images(&images_file(2, 2, 2, 9), p),
        Err(DataError::TrailingBytes { .. })
    ));
    assert!(matches!(
        data::parse_idx_images(&images_file(2_000_000, 28, 28, 0), p),
        Err(DataError::TooLarge {
            what: "image count",
            ..
        })
    ));
    assert!(matches!(
        data::parse_idx_labels(&labels_file(&[1, 10]), p, 10),
        Err(DataError::LabelOutOfRange {
            index: 1,
            label: 10,
            ..
        })
    ));

    let images = write(dir.path(), "imgs", &images_file(3, 2, 2, 12), false);
    let labels = write(dir.path(), "lbls.gz", &labels_file(&[0, 1]), true);
    let err = data::load_pair(&images, &labels).expect_err("count mismatch");
    assert!(matches!(
        err,
        DataError::CountMismatch {
            image_count: 3,
            label_count: 2,
            ..
        }
    ));
    let message = err.to_string();
    assert!(
        message.contains("imgs") && message.contains("lbls.gz"),
        "{message}"
    );

    let corrupt = write(
        dir.path(),
        "corrupt.gz",
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3],
        false,
    );
    assert!(matches!(
        data::load_idx_labels(&corrupt),
        Err(DataError::Gzip { .. })
    ));
    let missing = data::load_idx_labels(&dir.path().join("nope")).expect_err("missing");
    assert!(matches!(missing, DataError::Io { .. }) && missing.to_string().contains("nope"));
    assert!(matches!(
        data::load_mnist(&dir.path().join("empty"), Split::Train),
        Err(DataError::NotFound { .. })
    ));
}

/// `/work/shared/data/mnist`, i.e. beside the project checkout.
fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
}

#[test]
fn real_mnist_loads_with_the_published_counts() {
    let dir = mnist_dir();
    if !dir.is_dir() {
        println!(
            "SKIPPED real_mnist_loads_with_the_published_counts: {} not found (see shared/data/README.md)",
            dir.display()
        );
        return;
    }
    let train = data::load_mnist(&dir, Split::Train).expect("MNIST train");
    let test = data::load_mnist(&dir, Split::Test).expect("MNIST test");
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!((train.rows(), train.cols(), train.classes()), (28, 28, 10));
    let mut counts = [0usize; 10];
    train.labels().iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(
        counts,
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    // The first training digit is a 5 and the first test digit a 7.
    assert_eq!((train.labels()[0], test.labels()[0]), (5, 7));
}

#[test]
fn synthetic_data_is_seeded_and_balanced() {
    let config = data::SyntheticConfig {
        samples: 100,
        seed: 4,
        ..Default::default()
    };
    let a = data::synthetic(&config);
    assert_eq!(a, data::synthetic(&config));
    assert_ne!(
        a,
        data::synthetic(&data::SyntheticConfig { seed: 5, ..config })
    );
    assert_eq!(
        (a.len(), a.rows(), a.cols(), a.classes()),
        (100, 28, 28, 10)
    );
    assert!((0..10).all(|l| a.labels().iter().filter(|&&x| x == l).count() == 10));
}
