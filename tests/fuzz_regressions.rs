//! Every input the fuzzers (`fuzz/`, `cargo +nightly fuzz run <target>`) found to break a
//! rule — no panic on user input, memory bounded by the bytes read, one clear line per
//! error — kept as a test of the fix. The inputs are in `tests/data/fuzz/`, named after the
//! target and the fault.

use sigmo::data::idx;
use std::path::Path;

#[path = "fuzz_harness/mod.rs"]
#[allow(dead_code)]
mod harness;

fn input(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `idx`, after 21 s: a header of 50 dimensions whose product overflows gave an error of 536
/// characters listing all 50 sizes. The shape is now abbreviated past four dimensions.
#[test]
fn idx_an_overflowing_shape_of_50_dimensions_is_one_short_line() {
    let b = input("idx-50-dims-long-error");
    assert_eq!(b[3], 50);
    let e = idx::parse(&b, 50).unwrap_err();
    assert!(
        e.starts_with("dimensions 842150450×842150450×842150450×…×"),
        "{e}"
    );
    assert!(e.ends_with("(50 dimensions) overflow"), "{e}");
    harness::clean(&e, "idx");
    assert!(harness::idx_raw(&b).iter().all(|e| e.len() < 200));
    // Shapes of up to four dimensions are written out whole.
    let e = idx::parse(&idx::encode(&[2, 3, 4, 5], &[0; 10]), 4).unwrap_err();
    assert!(e.contains(" 2×3×4×5 = 120 values"), "{e}");
}

/// Found with it: a wrong magic number for a file of other than 1 or 3 dimensions was
/// described as "images (idx3)".
#[test]
fn idx_the_wrong_magic_names_the_dimensions_asked_for() {
    let e = idx::parse(&idx::encode(&[2, 2], &[0; 4]), 4).unwrap_err();
    assert!(
        e.contains("IDX u8 4-dimensional (idx4) files start with 0x00000804"),
        "{e}"
    );
    let e = idx::parse(&idx::encode(&[2, 2], &[0; 4]), 3).unwrap_err();
    assert!(e.contains("images (idx3)"), "{e}");
}

/// `model`, after 19 s: a tensor name holding a carriage return, quoted by safetensors in its
/// error, made the error two lines. Every loader error now writes control characters as
/// escapes and stops at 300 characters.
#[test]
fn model_a_control_character_in_a_tensor_name_stays_on_one_line() {
    let b = input("model-cr-in-tensor-name");
    let e = sigmo::nn::load_bytes(&b).unwrap_err().to_string();
    assert!(e.starts_with("not a safetensors file: "), "{e}");
    assert!(!e.contains('\r') && e.contains("\\r"), "{e:?}");
    harness::clean(&e, "model");
    // The same for a checkpoint's version string, and a cap on what a file can make sigmo say.
    let mut ck = sigmo::checkpoint::MAGIC.to_vec();
    let version = format!("0.1\n{}", "9".repeat(250));
    ck.push(version.len() as u8);
    ck.extend_from_slice(version.as_bytes());
    let e = sigmo::checkpoint::Checkpoint::from_bytes(&ck)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("written by sigmo 0.1\\n999"), "{e}");
    assert!(e.ends_with('…') && e.chars().count() <= 301, "{e}");
    harness::clean(&e, "checkpoint");
}

/// `model`, 16 s into the run after that fix: 21 DEL characters in a dtype name, each escaped
/// as `\u{7f}`, made a 300-character error 451 long. The cap now counts the escapes.
#[test]
fn model_escaped_characters_count_against_the_cap() {
    let b = input("model-escapes-past-the-cap");
    let e = sigmo::nn::load_bytes(&b).unwrap_err().to_string();
    assert!(
        e.starts_with("not a safetensors file: invalid JSON in header"),
        "{e}"
    );
    assert!(e.contains("\\u{7f}") && !e.contains('\u{7f}'), "{e:?}");
    assert!(e.chars().count() <= 301, "{} characters", e.chars().count());
    harness::clean(&e, "model");
}
