//! Tier detection, `SIGMO_ISA` parsing and its errors, and what `Kernels` accepts.

#![allow(clippy::needless_range_loop)] // index loops read clearer in tests

use sigmo_kernels::{Isa, IsaError, Kernels};

#[test]
fn lanes_and_names() {
    let want = [("scalar", 1), ("sse4.1", 4), ("avx2", 8), ("avx512", 16)];
    for (isa, (name, lanes)) in Isa::ALL.into_iter().zip(want) {
        assert_eq!(isa.name(), name);
        assert_eq!(isa.lanes(), lanes);
        assert_eq!(name.parse::<Isa>().unwrap(), isa);
        assert_eq!(isa.to_string(), name);
    }
    assert_eq!("AVX-512".parse::<Isa>().unwrap(), Isa::Avx512);
    assert_eq!(" sse41 ".parse::<Isa>().unwrap(), Isa::Sse41);
}

#[test]
fn available_always_starts_with_scalar_and_constructs() {
    let av = Isa::available();
    assert_eq!(av[0], Isa::Scalar);
    for isa in &av {
        assert_eq!(Kernels::new(*isa).unwrap().isa(), *isa);
    }
    assert_eq!(Isa::best_available(), *av.last().unwrap());
    // Without SIGMO_ISA the best available tier is picked.
    assert_eq!(Isa::from_env_value(None).unwrap(), Isa::best_available());
    assert_eq!(
        Isa::from_env_value(Some("")).unwrap(),
        Isa::best_available()
    );
}

#[test]
fn env_value_unknown_is_a_clear_error() {
    let err = Isa::from_env_value(Some("avx1024")).unwrap_err();
    assert!(matches!(err, IsaError::Unknown { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("SIGMO_ISA") && msg.contains("avx1024") && msg.contains("avx512"),
        "{msg}"
    );
}

#[test]
fn env_value_forces_each_available_tier() {
    for isa in Isa::available() {
        assert_eq!(Isa::from_env_value(Some(isa.name())).unwrap(), isa);
    }
}

#[test]
fn unsupported_tiers_are_errors_not_fallbacks() {
    for isa in Isa::ALL {
        if isa.is_supported() {
            continue;
        }
        let e = Kernels::new(isa).unwrap_err();
        assert!(matches!(e, IsaError::Unsupported { .. }));
        assert!(e.to_string().contains(isa.name()), "{e}");
        assert!(Isa::from_env_value(Some(isa.name())).is_err());
    }
    #[cfg(not(feature = "simd"))]
    {
        assert_eq!(Isa::available(), vec![Isa::Scalar]);
        let e = Kernels::new(Isa::Avx2).unwrap_err().to_string();
        assert!(e.contains("simd"), "{e}");
    }
}

/// CI runs the whole suite once per forced tier; this checks that the force took effect
/// (and that the free functions run on it).
#[test]
fn sigmo_isa_in_the_environment_is_honoured() {
    match std::env::var("SIGMO_ISA") {
        Ok(v) if !v.trim().is_empty() => {
            let want: Isa = v.parse().expect("CI sets a valid SIGMO_ISA");
            assert_eq!(Isa::detect().unwrap(), want);
            assert_eq!(Kernels::best().isa(), want);
            assert_eq!(Kernels::try_best().unwrap().isa(), want);
        }
        _ => assert_eq!(Kernels::best().isa(), Isa::best_available()),
    }
    let mut y = [0.0f32; 2];
    sigmo_kernels::exp(&[0.0, 1.0], &mut y);
    assert_eq!(y[0], 1.0);
}
