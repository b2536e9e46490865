#![no_std]
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod apdu;
pub mod hex;
pub mod idstore;
pub mod scp03;
pub mod tlv;
