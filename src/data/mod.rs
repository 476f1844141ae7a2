//! Data sets: the IDX reader, the embedded 8×8 digits, MNIST and Fashion-MNIST from a folder,
//! and shuffled mini-batches from a seeded RNG.
//!
//! ```
//! use sigmo::data;
//!
//! let split = data::digits();                 // embedded: no file, no download
//! assert_eq!(split.train.len() + split.test.len(), 1797);
//! assert_eq!(split.train.dim(), 64);          // 8×8 pixels, scaled to [0, 1]
//! assert!(split.train.features().iter().all(|&p| (0.0..=1.0).contains(&p)));
//! ```

mod batches;
pub mod idx;

pub use batches::Batches;

use std::fmt;
use std::path::{Path, PathBuf};

/// The default folder of Fashion-MNIST: where the Debian package `dataset-fashion-mnist` puts
/// it.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The number of classes of every data set here (digits 0–9, ten kinds of clothing).
pub const CLASSES: usize = 10;

/// A data set that could not be loaded: which file (if any), and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    file: Option<PathBuf>,
    what: String,
}

impl DataError {
    pub(crate) fn new(file: &Path, what: impl Into<String>) -> Self {
        DataError {
            file: Some(file.to_path_buf()),
            what: what.into(),
        }
    }

    pub(crate) fn other(what: impl Into<String>) -> Self {
        DataError {
            file: None,
            what: what.into(),
        }
    }

    /// The file the error is about, if it is about one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{}: {}", p.display(), self.what),
            None => f.write_str(&self.what),
        }
    }
}

impl std::error::Error for DataError {}

/// Labelled samples: `len()` rows of `dim()` features in [0, 1], one class label each.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    features: Vec<f32>,
    labels: Vec<u8>,
    dim: usize,
    classes: usize,
}

/// A training set and a test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The samples to train on.
    pub train: Dataset,
    /// The held-out samples to measure accuracy on.
    pub test: Dataset,
}

impl Dataset {
    /// A data set from row-major features (`labels.len()` rows of `dim`) and labels below
    /// `classes`.
    ///
    /// # Errors
    /// When the lengths disagree, a label is out of range, or a feature is not finite.
    pub fn new(
        name: impl Into<String>,
        features: Vec<f32>,
        labels: Vec<u8>,
        dim: usize,
        classes: usize,
    ) -> Result<Dataset, DataError> {
        let name = name.into();
        let needs = labels.len().checked_mul(dim).ok_or_else(|| {
            DataError::other(format!(
                "{name}: {} labels of dimension {dim} overflow the address space",
                labels.len()
            ))
        })?;
        if features.len() != needs {
            return Err(DataError::other(format!(
                "{name}: {} features for {} labels of dimension {dim} (needs {needs})",
                features.len(),
                labels.len(),
            )));
        }
        if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
            return Err(DataError::other(format!(
                "{name}: label {} at index {i} is out of range 0..={}",
                labels[i],
                classes.saturating_sub(1)
            )));
        }
        if let Some(i) = features.iter().position(|f| !f.is_finite()) {
            return Err(DataError::other(format!(
                "{name}: feature {} of sample {} is {}",
                i % dim.max(1),
                i / dim.max(1),
                features[i]
            )));
        }
        Ok(Dataset {
            name,
            features,
            labels,
            dim,
            classes,
        })
    }

    /// Reads an image file (`idx3`, u8) and its label file (`idx1`, u8), gzip or raw. Pixels
    /// scale to [0, 1] by the format's maximum, 255 (MNIST, Fashion-MNIST).
    ///
    /// # Errors
    /// When either file is missing, empty, corrupt or truncated, the counts differ, or a label
    /// is not below 10; the message names the file and says what is wrong.
    pub fn load_idx(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
        Self::load_idx_scaled(images, labels, 255)
    }

    /// As [`load_idx`](Self::load_idx), pixels divided by `max` (16 for the UCI 8×8 digits,
    /// whose values are 0..=16).
    ///
    /// # Errors
    /// As [`load_idx`](Self::load_idx), or when a pixel is above `max` (or `max` is 0).
    pub fn load_idx_scaled(images: &Path, labels: &Path, max: u8) -> Result<Dataset, DataError> {
        let img = idx::read(images, 3)?;
        let lab = idx::read(labels, 1)?;
        Self::from_idx(&images.display().to_string(), img, lab, max)
            .map_err(|(which, what)| DataError::new(if which { images } else { labels }, what))
    }

    /// Builds a data set from decoded IDX images and labels; on error, says whether the
    /// images (true) or the labels (false) are at fault, and what is wrong.
    fn from_idx(
        name: &str,
        img: idx::Idx,
        lab: idx::Idx,
        max: u8,
    ) -> Result<Dataset, (bool, String)> {
        let (n, rows, cols) = (img.dims[0], img.dims[1], img.dims[2]);
        if n == 0 || rows * cols == 0 {
            return Err((true, format!("no images ({n}×{rows}×{cols})")));
        }
        if lab.dims[0] != n {
            return Err((
                false,
                format!("{} labels for {n} images (count mismatch)", lab.dims[0]),
            ));
        }
        if let Some(i) = lab.values.iter().position(|&l| l as usize >= CLASSES) {
            return Err((
                false,
                format!(
                    "label {} at index {i} is out of range 0..={}",
                    lab.values[i],
                    CLASSES - 1
                ),
            ));
        }
        if let Some(i) = img.values.iter().position(|&p| p > max) {
            return Err((
                true,
                format!(
                    "pixel {} of image {} is {}, above the maximum {max}",
                    i % (rows * cols),
                    i / (rows * cols),
                    img.values[i]
                ),
            ));
        }
        if max == 0 {
            return Err((true, "a pixel maximum of 0 cannot scale".into()));
        }
        let m = max as f32;
        // p / max, correctly rounded (not p · (1/max), which is off by an ULP at times).
        let mut features = Vec::new();
        features.try_reserve_exact(img.values.len()).map_err(|_| {
            (
                true,
                format!(
                    "{} pixels: more than memory holds as f32 features",
                    img.values.len()
                ),
            )
        })?;
        features.extend(img.values.iter().map(|&p| p as f32 / m));
        Ok(Dataset {
            name: name.to_string(),
            features,
            labels: lab.values,
            dim: rows * cols,
            classes: CLASSES,
        })
    }

    /// The name given at load (a path or a built-in set's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of features per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of classes (labels are below it).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All features, row-major: sample i is `features()[i*dim .. (i+1)*dim]`.
    pub fn features(&self) -> &[f32] {
        &self.features
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The features of sample `i` (panics when out of range, as slice indexing does).
    pub fn sample(&self, i: usize) -> &[f32] {
        &self.features[i * self.dim..(i + 1) * self.dim]
    }

    /// How many samples of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The samples at `indices`, in that order, as a new data set.
    pub fn subset(&self, name: impl Into<String>, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            features.extend_from_slice(self.sample(i));
        }
        Dataset {
            name: name.into(),
            features,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            dim: self.dim,
            classes: self.classes,
        }
    }

    /// Copies the samples at `indices` into `x` (row-major, `indices.len()` rows of `dim()`)
    /// and their labels into `labels`, without allocating. Panics if the buffers are too
    /// small or an index is out of range.
    pub fn gather(&self, indices: &[usize], x: &mut [f32], labels: &mut [u8]) {
        for (r, &i) in indices.iter().enumerate() {
            x[r * self.dim..(r + 1) * self.dim].copy_from_slice(self.sample(i));
            labels[r] = self.labels[i];
        }
    }

    /// Splits into train and test by a fixed, stratified rule: within each class, in file
    /// order, every `every`-th sample (the `every`-th, the 2·`every`-th, …) goes to test.
    /// `every = 5` holds out 20% of each class.
    pub fn split_stratified(&self, every: usize) -> Split {
        let every = every.max(2);
        let mut seen = vec![0usize; self.classes];
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (i, &l) in self.labels.iter().enumerate() {
            seen[l as usize] += 1;
            if seen[l as usize].is_multiple_of(every) {
                test.push(i);
            } else {
                train.push(i);
            }
        }
        Split {
            train: self.subset(format!("{} (train)", self.name), &train),
            test: self.subset(format!("{} (test)", self.name), &test),
        }
    }
}

/// The 8×8 handwritten digits, embedded in the crate: 1,797 images (values 0..=16, scaled to
/// [0, 1]), split 80/20 per class by [`Dataset::split_stratified`]`(5)`: 1,442 to train on,
/// 355 to test. From the UCI "Optical Recognition of Handwritten Digits" data set
/// (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0) as scikit-learn ships it.
pub fn digits() -> Split {
    const IMAGES: &[u8] = include_bytes!("../../data/digits8x8-images-idx3-ubyte.gz");
    const LABELS: &[u8] = include_bytes!("../../data/digits8x8-labels-idx1-ubyte.gz");
    let img = idx::parse(IMAGES, 3).expect("the embedded digits images are valid IDX");
    let lab = idx::parse(LABELS, 1).expect("the embedded digits labels are valid IDX");
    let all =
        Dataset::from_idx("digits", img, lab, 16).expect("the embedded digits are consistent");
    all.split_stratified(5)
}

/// The file `stem` in `dir`, gzip-compressed (`stem.gz`) or raw.
fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{stem}.gz"));
    let raw = dir.join(stem);
    for p in [&gz, &raw] {
        if p.is_file() {
            return Ok(p.clone());
        }
    }
    Err(DataError::new(
        &gz,
        format!("not found (nor {})", raw.display()),
    ))
}

/// MNIST or Fashion-MNIST from a folder holding `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// gzip-compressed (`.gz`) or raw, as both sets are distributed.
///
/// # Errors
/// When a file is missing or fails [`Dataset::load_idx`], or train and test have different
/// image sizes.
pub fn mnist_layout(dir: &Path) -> Result<Split, DataError> {
    let [ti, tl, vi, vl] = mnist_layout_files(dir)?;
    let train = Dataset::load_idx(&ti, &tl)?;
    let test = Dataset::load_idx(&vi, &vl)?;
    if train.dim() != test.dim() {
        return Err(DataError::new(
            dir,
            format!(
                "train images have {} pixels, test images {}",
                train.dim(),
                test.dim()
            ),
        ));
    }
    Ok(Split { train, test })
}

/// The four files [`mnist_layout`] reads from `dir`: training images and labels, test images
/// and labels, each the `.gz` file where there is one, else the raw file.
///
/// # Errors
/// When one of the four is missing (the message names the `.gz` file).
pub fn mnist_layout_files(dir: &Path) -> Result<[PathBuf; 4], DataError> {
    Ok([
        find(dir, "train-images-idx3-ubyte")?,
        find(dir, "train-labels-idx1-ubyte")?,
        find(dir, "t10k-images-idx3-ubyte")?,
        find(dir, "t10k-labels-idx1-ubyte")?,
    ])
}

/// MNIST from `dir` (see [`mnist_layout`] for the file names).
///
/// # Errors
/// As [`mnist_layout`].
pub fn mnist(dir: &Path) -> Result<Split, DataError> {
    mnist_layout(dir)
}

/// Fashion-MNIST from `dir`, by default [`FASHION_MNIST_DIR`] (Debian:
/// `apt-get install dataset-fashion-mnist`).
///
/// # Errors
/// As [`mnist_layout`]; a missing default folder says which package provides it.
pub fn fashion_mnist(dir: Option<&Path>) -> Result<Split, DataError> {
    let dir = dir.unwrap_or(Path::new(FASHION_MNIST_DIR));
    if !dir.is_dir() {
        return Err(DataError::new(
            dir,
            "no such folder (Fashion-MNIST: `apt-get install dataset-fashion-mnist`, or give its folder)",
        ));
    }
    mnist_layout(dir)
}

/// Train and test sets from four explicit IDX files, pixels divided by `max` (255 for MNIST's
/// format; 16 for the UCI 8×8 digits).
///
/// # Errors
/// As [`Dataset::load_idx_scaled`], or when train and test have different image sizes.
pub fn from_files(
    train_images: &Path,
    train_labels: &Path,
    test_images: &Path,
    test_labels: &Path,
    max: u8,
) -> Result<Split, DataError> {
    let train = Dataset::load_idx_scaled(train_images, train_labels, max)?;
    let test = Dataset::load_idx_scaled(test_images, test_labels, max)?;
    if train.dim() != test.dim() {
        return Err(DataError::new(
            test_images,
            format!(
                "{} pixels per image, the training images have {}",
                test.dim(),
                train.dim()
            ),
        ));
    }
    Ok(Split { train, test })
}

/// Unlabelled images, as `sigmo predict` reads them: `count` rows of `dim` features in
/// [0, 1], row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    /// The features, `count × dim` of them.
    pub features: Vec<f32>,
    /// The number of images.
    pub count: usize,
    /// Pixels per image (rows × cols).
    pub dim: usize,
}

/// Reads an IDX image file (idx3, u8; gzip or raw) without labels, pixels divided by `max`
/// as [`Dataset::load_idx_scaled`] divides them.
///
/// # Errors
/// As [`idx::read`]; when there are no images, a pixel is above `max`, or `max` is 0. The
/// message names the file.
pub fn load_images(path: &Path, max: u8) -> Result<Images, DataError> {
    let img = idx::read(path, 3)?;
    let (count, dim) = (img.dims[0], img.dims[1].saturating_mul(img.dims[2]));
    let bad = |what: String| Err(DataError::new(path, what));
    if count == 0 || dim == 0 {
        return bad(format!(
            "no images ({count}×{}×{})",
            img.dims[1], img.dims[2]
        ));
    }
    if max == 0 {
        return bad("a pixel maximum of 0 cannot scale".into());
    }
    if let Some(i) = img.values.iter().position(|&p| p > max) {
        return bad(format!(
            "pixel {} of image {} is {}, above the maximum {max}",
            i % dim,
            i / dim,
            img.values[i]
        ));
    }
    let m = max as f32;
    let mut features = Vec::new();
    if features.try_reserve_exact(img.values.len()).is_err() {
        return bad(format!(
            "{} pixels: more than memory holds as f32 features",
            img.values.len()
        ));
    }
    features.extend(img.values.iter().map(|&p| p as f32 / m));
    Ok(Images {
        features,
        count,
        dim,
    })
}
