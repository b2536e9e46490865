#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![doc = include_str!("../README.md")]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod apdu;
pub mod envelope;
pub mod hex;
pub mod idstore;
pub mod jose;
pub mod offline;
pub mod online;
pub mod policy;
pub mod scp03;
pub mod tlv;
