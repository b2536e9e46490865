//! P-256 operations behind the JOSE code, with optional accelerations that give the same
//! results as `p256`'s own (the tests compare them):
//!
//! - feature `precomputed-tables`: `k·G` (ES256 signing, ECDH-ES ephemeral keys) from a
//!   table of 1,024 multiples of the generator built once per process (96 KiB), with
//!   constant-time lookups: about four times faster than `p256`'s generic constant-time
//!   multiplication. Worth it for a long-running process (a server), not for one signature.
//!   Signatures stay deterministic (RFC 6979): the same `k`, the same `R`.
//! - feature `ring`: ES256 verification by `ring` (public inputs only: no secret, no
//!   randomness), several times faster than `p256`'s on x86-64 and AArch64.
//!
//! Without them everything goes through `p256`.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
#[cfg(any(test, not(feature = "ring")))]
use p256::ecdsa::{VerifyingKey, signature::Verifier};
use p256::{NonZeroScalar, ProjectivePoint};

use super::PublicKey;

/// `k·G`.
pub(crate) fn mul_generator(k: &NonZeroScalar) -> ProjectivePoint {
    #[cfg(feature = "precomputed-tables")]
    {
        table::mul_generator(k)
    }
    #[cfg(not(feature = "precomputed-tables"))]
    {
        ProjectivePoint::GENERATOR * k.as_ref()
    }
}

/// An ES256 signature of `message` (RFC 6979 nonce), as `p256`'s `SigningKey` makes it.
pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> Signature {
    #[cfg(feature = "precomputed-tables")]
    {
        if let Some(signature) = table::sign(key, message) {
            return signature;
        }
    }
    key.sign(message)
}

/// Whether `signature` is an ES256 signature of `message` by `key`.
pub(crate) fn verify(key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    #[cfg(feature = "ring")]
    {
        let point = key.to_sec1_bytes();
        let bytes = signature.to_bytes();
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            &point[..],
        )
        .verify(message, &bytes)
        .is_ok()
    }
    #[cfg(not(feature = "ring"))]
    {
        VerifyingKey::from(key.as_p256())
            .verify(message, signature)
            .is_ok()
    }
}

/// `p256`'s own verification, for the tests that compare.
#[cfg(test)]
pub(crate) fn verify_p256(key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    VerifyingKey::from(key.as_p256())
        .verify(message, signature)
        .is_ok()
}

#[cfg(feature = "precomputed-tables")]
mod table {
    extern crate std;

    use alloc::boxed::Box;
    use std::sync::OnceLock;

    use p256::ecdsa::{Signature, SigningKey};
    use p256::elliptic_curve::ops::Reduce;
    use p256::elliptic_curve::point::AffineCoordinates;
    use p256::elliptic_curve::subtle::{ConditionallySelectable, ConstantTimeEq};
    use p256::elliptic_curve::{Curve, Field, FieldBytesEncoding, PrimeField};
    use p256::{FieldBytes, NistP256, NonZeroScalar, ProjectivePoint, Scalar, U256};
    use sha2::{Digest, Sha256};
    use zeroize::Zeroizing;

    /// Nibbles in a scalar.
    const ROWS: usize = 64;

    /// `TABLE[i][j] = j·16^i·G` (`j = 0` is the identity, never selected but harmless), in
    /// projective coordinates: building it takes 1,024 additions and no inversion.
    type Table = [[ProjectivePoint; 16]; ROWS];

    static TABLE: OnceLock<Box<Table>> = OnceLock::new();

    fn table() -> &'static Table {
        TABLE.get_or_init(|| {
            let mut table = Box::new([[ProjectivePoint::IDENTITY; 16]; ROWS]);
            let mut base = ProjectivePoint::GENERATOR;
            for row in table.iter_mut() {
                for j in 1..16 {
                    row[j] = row[j - 1] + base;
                }
                // 16·base, the next row's base.
                base = row[15] + base;
            }
            table
        })
    }

    /// `k·G`: one (complete) addition per nibble of `k`, each entry chosen by a scan of the
    /// whole row (no secret-dependent memory access or branch).
    pub(super) fn mul_generator(k: &NonZeroScalar) -> ProjectivePoint {
        mul_generator_scalar(k.as_ref())
    }

    fn mul_generator_scalar(k: &Scalar) -> ProjectivePoint {
        let table = table();
        let bytes = Zeroizing::new(k.to_bytes());
        let mut acc = ProjectivePoint::IDENTITY;
        for (i, row) in table.iter().enumerate() {
            let byte = bytes[31 - i / 2];
            let nibble = if i % 2 == 0 { byte & 0x0F } else { byte >> 4 };
            let mut entry = ProjectivePoint::IDENTITY;
            for (j, candidate) in row.iter().enumerate().skip(1) {
                entry.conditional_assign(candidate, nibble.ct_eq(&(j as u8)));
            }
            acc += entry;
        }
        acc
    }

    /// ECDSA as `ecdsa::hazmat::sign_prehashed` with the RFC 6979 nonce of
    /// `SignPrimitive::try_sign_prehashed_rfc6979`, only `k·G` from the table. `None` in
    /// the cases where `p256` itself would fail (a zero `r` or `s`: probability 2^-256).
    pub(super) fn sign(key: &SigningKey, message: &[u8]) -> Option<Signature> {
        // bits2field of a SHA-256 digest for a 256-bit order: the digest itself.
        let z: FieldBytes = Sha256::digest(message);
        let d: &NonZeroScalar = key.as_nonzero_scalar();
        let k = Zeroizing::new(Option::<Scalar>::from(Scalar::from_repr(
            rfc6979::generate_k::<Sha256, _>(
                &d.to_repr(),
                &<U256 as FieldBytesEncoding<NistP256>>::encode_field_bytes(&NistP256::ORDER),
                &z,
                &[],
            ),
        ))?);
        if bool::from(k.is_zero()) {
            return None;
        }
        let k_inv = Zeroizing::new(Option::<Scalar>::from(k.invert())?);
        let big_r = mul_generator_scalar(&k).to_affine();
        let r = <Scalar as Reduce<U256>>::reduce_bytes(&big_r.x());
        let z = <Scalar as Reduce<U256>>::reduce_bytes(&z);
        let s = *k_inv * (z + (r * d.as_ref()));
        Signature::from_scalars(r, s).ok()
    }

    #[cfg(test)]
    pub(super) fn mul_generator_for_tests(k: &Scalar) -> ProjectivePoint {
        mul_generator_scalar(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::PrivateKey;
    use p256::Scalar;
    use p256::elliptic_curve::Field;
    use rand_core::{OsRng, RngCore};

    #[test]
    fn signatures_are_p256s_byte_for_byte_and_verify_both_ways() {
        for n in 0..200 {
            let key = PrivateKey::generate(&mut OsRng);
            let mut message = alloc::vec![0u8; n * 7 % 300];
            OsRng.fill_bytes(&mut message);
            let ours = sign(key.signing_key(), &message);
            let theirs: Signature = key.signing_key().sign(&message);
            assert_eq!(ours, theirs);
            assert!(verify(&key.public_key(), &message, &ours));
            assert!(verify_p256(&key.public_key(), &message, &ours));
        }
    }

    #[test]
    fn verification_agrees_with_p256_on_bad_signatures() {
        let key = PrivateKey::generate(&mut OsRng);
        let other = PrivateKey::generate(&mut OsRng);
        for n in 0..100 {
            let mut message = alloc::vec![0u8; 1 + n];
            OsRng.fill_bytes(&mut message);
            let good = sign(key.signing_key(), &message);
            let (r, s) = good.split_scalars();
            let mut candidates = alloc::vec![
                // High S: valid for both (ECDSA does not forbid it).
                Signature::from_scalars(*r, -*s.as_ref()).unwrap(),
                // Swapped, shifted, another key's.
                Signature::from_scalars(*s, *r).unwrap(),
                Signature::from_scalars(*r.as_ref() + Scalar::ONE, *s).unwrap(),
                sign(other.signing_key(), &message),
            ];
            let mut bytes = good.to_bytes();
            bytes[n % 64] ^= 1 << (n % 8);
            if let Ok(flipped) = Signature::from_slice(&bytes) {
                candidates.push(flipped);
            }
            for candidate in &candidates {
                assert_eq!(
                    verify(&key.public_key(), &message, candidate),
                    verify_p256(&key.public_key(), &message, candidate),
                    "{candidate:?}"
                );
            }
            let mut other_message = message.clone();
            other_message[0] ^= 0x80;
            assert!(!verify(&key.public_key(), &other_message, &good));
            assert!(!verify(&other.public_key(), &message, &good));
        }
    }

    #[test]
    fn generator_multiples_are_p256s() {
        let mut scalars = alloc::vec![Scalar::ONE, -Scalar::ONE, Scalar::from(16u64)];
        scalars.extend((0..200).map(|_| Scalar::random(&mut OsRng)));
        for k in scalars {
            let Some(nz) = Option::<NonZeroScalar>::from(NonZeroScalar::new(k)) else {
                continue;
            };
            assert_eq!(
                mul_generator(&nz).to_affine(),
                (ProjectivePoint::GENERATOR * k).to_affine()
            );
            #[cfg(feature = "precomputed-tables")]
            assert_eq!(
                table::mul_generator_for_tests(&k).to_affine(),
                (ProjectivePoint::GENERATOR * k).to_affine()
            );
        }
        #[cfg(feature = "precomputed-tables")]
        assert_eq!(
            table::mul_generator_for_tests(&Scalar::ZERO),
            ProjectivePoint::IDENTITY
        );
    }
}
