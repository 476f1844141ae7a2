//! Data loading: the embedded digits, the IDX reader's errors, MNIST-layout folders, batches.

use flate2::write::GzEncoder;
use sigmo::data::{self, idx, Batches, Dataset};
use std::io::Write;
use std::path::{Path, PathBuf};

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// `n` 3×2 images with pixel values i·10 + j and labels i % 10.
fn images(n: usize) -> (Vec<u8>, Vec<u8>) {
    let px: Vec<u8> = (0..n * 6).map(|i| ((i / 6) * 10 + i % 6) as u8).collect();
    (
        idx::encode(&[n, 3, 2], &px),
        idx::encode(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>()),
    )
}

#[test]
fn the_embedded_digits_are_split_by_class() {
    let s = data::digits();
    assert_eq!(s.train.len() + s.test.len(), 1797);
    assert_eq!((s.train.len(), s.test.len()), (1442, 355));
    assert_eq!((s.train.dim(), s.train.classes()), (64, 10));
    // Every 5th sample of each class is held out: 20% of each class, rounded down.
    let (tr, te) = (s.train.class_counts(), s.test.class_counts());
    for c in 0..10 {
        assert_eq!(te[c], (tr[c] + te[c]) / 5, "class {c}");
    }
    // Values 0..=16 scale by 16: 1.0 occurs, nothing above it.
    let f = s.train.features();
    assert!(f.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(f.contains(&1.0) && f.contains(&0.5625)); // 16/16 and 9/16
    assert_eq!(data::digits(), s, "the split is fixed");
}

#[test]
fn gzip_and_raw_files_read_the_same_and_scale_by_255() {
    let dir = tempfile::tempdir().unwrap();
    let (img, lab) = images(12);
    let a =
        Dataset::load_idx(&write(dir.path(), "i", &img), &write(dir.path(), "l", &lab)).unwrap();
    let b = Dataset::load_idx(
        &write(dir.path(), "i.gz", &gz(&img)),
        &write(dir.path(), "l.gz", &gz(&lab)),
    )
    .unwrap();
    assert_eq!(a.features(), b.features());
    assert_eq!(a.labels(), b.labels());
    assert_eq!((a.len(), a.dim()), (12, 6));
    assert_eq!(
        a.sample(11),
        &[
            110.0 / 255.0,
            111.0 / 255.0,
            112.0 / 255.0,
            113.0 / 255.0,
            114.0 / 255.0,
            115.0 / 255.0
        ]
    );
}

/// Loads broken images (and good labels, or the reverse) and returns the error text.
fn error_of(img: &[u8], lab: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (i, l) = (
        write(dir.path(), "imgs-idx3", img),
        write(dir.path(), "labs-idx1", lab),
    );
    let e = Dataset::load_idx(&i, &l).unwrap_err();
    let text = e.to_string();
    let file = e
        .file()
        .expect("the error names a file")
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(text.contains(&file), "{text}");
    text
}

#[test]
fn every_broken_file_is_an_error_naming_the_file_and_the_fault() {
    let (img, lab) = images(5);
    let cases: Vec<(Vec<u8>, Vec<u8>, &str, &str)> = vec![
        (vec![], lab.clone(), "imgs-idx3", "empty"),
        (img.clone(), vec![], "labs-idx1", "empty"),
        (
            img[..img.len() - 1].to_vec(),
            lab.clone(),
            "imgs-idx3",
            "truncated",
        ),
        (
            img[..10].to_vec(),
            lab.clone(),
            "imgs-idx3",
            "truncated header",
        ),
        (img[..2].to_vec(), lab.clone(), "imgs-idx3", "truncated"),
        (
            [&img[..], &[0, 0]].concat(),
            lab.clone(),
            "imgs-idx3",
            "2 bytes after",
        ),
        (
            lab.clone(),
            lab.clone(),
            "imgs-idx3",
            "wrong magic number 0x00000801",
        ),
        (
            img.clone(),
            img.clone(),
            "labs-idx1",
            "wrong magic number 0x00000803",
        ),
        (
            img.clone(),
            idx::encode(&[4], &[0, 1, 2, 3]),
            "labs-idx1",
            "4 labels for 5 images",
        ),
        (
            img.clone(),
            idx::encode(&[5], &[0, 1, 11, 3, 4]),
            "labs-idx1",
            "label 11 at index 2",
        ),
        (
            gz(&img)[..30].to_vec(),
            lab.clone(),
            "imgs-idx3",
            "corrupt gzip",
        ),
        (
            idx::encode(&[0, 3, 2], &[]),
            idx::encode(&[0], &[]),
            "imgs-idx3",
            "no images",
        ),
    ];
    for (i, l, file, what) in cases {
        let e = error_of(&i, &l);
        assert!(
            e.contains(file) && e.contains(what),
            "want {file:?} and {what:?} in: {e}"
        );
    }
    // A header announcing more than a usize counts, or more than memory holds.
    let huge = [&[0u8, 0, 8, 3][..], &[0xFF; 12], &[0; 8]].concat();
    let e = error_of(&huge, &lab);
    assert!(e.contains("overflow"), "{e}");
    let big = [
        &[
            0u8, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x10, 0, 0, 0, 0x10, 0,
        ][..],
        &[0; 8],
    ]
    .concat();
    let e = error_of(&big, &lab);
    assert!(
        e.contains("more than memory holds") || e.contains("truncated"),
        "{e}"
    );
    // Garbage after a gzip member.
    let e = error_of(&[gz(&img), b"trailing".to_vec()].concat(), &lab);
    assert!(e.contains("corrupt gzip"), "{e}");
    // Pixels above the stated maximum.
    let dir = tempfile::tempdir().unwrap();
    let e = Dataset::load_idx_scaled(
        &write(dir.path(), "i", &img),
        &write(dir.path(), "l", &lab),
        16,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("above the maximum 16"), "{e}");
    let missing =
        Dataset::load_idx(Path::new("/no/such/imgs"), Path::new("/no/such/labs")).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/no/such/imgs: cannot read"),
        "{missing}"
    );
}

#[test]
fn a_mnist_layout_folder_loads_with_gz_or_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    let (img, lab) = images(20);
    let (ti, tl) = images(7);
    write(dir.path(), "train-images-idx3-ubyte.gz", &gz(&img));
    write(dir.path(), "train-labels-idx1-ubyte", &lab);
    write(dir.path(), "t10k-images-idx3-ubyte", &ti);
    write(dir.path(), "t10k-labels-idx1-ubyte.gz", &gz(&tl));
    let s = data::mnist(dir.path()).unwrap();
    assert_eq!((s.train.len(), s.test.len(), s.train.dim()), (20, 7, 6));
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let e = data::mnist(dir.path()).unwrap_err().to_string();
    assert!(e.contains("t10k-labels-idx1-ubyte.gz: not found"), "{e}");
    let e = data::fashion_mnist(Some(Path::new("/no/such/dir")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("dataset-fashion-mnist"), "{e}");
}

#[test]
fn train_and_test_of_different_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (img, lab) = images(4);
    let other = idx::encode(&[4, 2, 2], &[0; 16]);
    let e = data::from_files(
        &write(dir.path(), "a", &img),
        &write(dir.path(), "b", &lab),
        &write(dir.path(), "c", &other),
        &write(dir.path(), "d", &lab),
        255,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("4 pixels per image, the training images have 6"),
        "{e}"
    );
}

#[test]
fn fashion_mnist_from_the_debian_package() {
    // CI installs dataset-fashion-mnist; elsewhere the error must say how to get it.
    match data::fashion_mnist(None) {
        Ok(s) => {
            assert_eq!(
                (s.train.len(), s.test.len(), s.train.dim()),
                (60000, 10000, 784)
            );
            assert_eq!(s.train.class_counts(), vec![6000; 10]);
            assert_eq!(s.test.class_counts(), vec![1000; 10]);
        }
        Err(e) => assert!(
            e.to_string()
                .contains("apt-get install dataset-fashion-mnist"),
            "{e}"
        ),
    }
}

#[test]
fn datasets_check_their_parts() {
    assert!(Dataset::new("x", vec![0.0; 5], vec![0, 1], 3, 10)
        .unwrap_err()
        .to_string()
        .contains("5 features"));
    assert!(Dataset::new("x", vec![0.0; 6], vec![0, 12], 3, 10)
        .unwrap_err()
        .to_string()
        .contains("label 12"));
    assert!(Dataset::new("x", vec![0.0, f32::NAN, 0.0], vec![0], 3, 10)
        .unwrap_err()
        .to_string()
        .contains("NaN"));
    let d = Dataset::new("x", (0..9).map(|v| v as f32).collect(), vec![2, 0, 1], 3, 3).unwrap();
    let (mut x, mut l) = (vec![0.0; 6], vec![0; 2]);
    d.gather(&[2, 0], &mut x, &mut l);
    assert_eq!((x, l), (vec![6.0, 7.0, 8.0, 0.0, 1.0, 2.0], vec![1, 2]));
}

#[test]
fn batches_are_seeded_permutations() {
    let mut a = Batches::new(1000, 42);
    let mut b = Batches::new(1000, 42);
    let mut c = Batches::new(1000, 43);
    let mut orders = Vec::new();
    for _ in 0..3 {
        a.shuffle();
        b.shuffle();
        c.shuffle();
        assert_eq!(a.order(), b.order(), "same seed, same order");
        assert_ne!(a.order(), c.order(), "another seed, another order");
        let mut sorted = a.order().to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "a permutation");
        orders.push(a.order().to_vec());
    }
    assert_ne!(orders[0], orders[1], "each epoch reshuffles");
    let sizes: Vec<usize> = a.batches(128).map(<[usize]>::len).collect();
    assert_eq!(sizes, [128, 128, 128, 128, 128, 128, 128, 104]);
}
