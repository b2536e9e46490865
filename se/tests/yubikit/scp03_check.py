"""yubikit (PyPI yubikey-manager) as an independent SCP03 host for kazashi-se.

Over PC/SC (pyscard), through yubikit's own GlobalPlatform code:
  - SecurityDomainSession selects the ISD (A000000151000000),
  - authenticate(Scp03KeyParams(KeyRef(0x01, kvn), StaticKeys(enc, mac, dek))) runs
    INITIALIZE UPDATE and EXTERNAL AUTHENTICATE at level 0x33 (C-MAC, C-DEC, R-MAC, R-ENC),
  - GET DATA 00E0 (key information template) and 0066 (card recognition data) are read
    through the secure channel (CLA 04, encrypted and MACed; responses R-MAC checked and
    decrypted by yubikit).
A wrong key set must be refused (yubikit checks the card cryptogram).

Prints "key information template <HEX>" for the Rust test (se/tests/pcsc.rs) to check.
Exit status 0 on success. Reaches a private pcscd through PCSCLITE_CSOCK_NAME.
"""

import argparse
import sys

from smartcard.System import readers
from ykman.pcsc import ScardSmartCardConnection
from yubikit.core import Tlv
from yubikit.core.smartcard.scp import KeyRef, Scp03KeyParams, ScpKid, StaticKeys
from yubikit.securitydomain import SecurityDomainSession


def connect(name):
    for reader in readers():
        if reader.name == name:
            return ScardSmartCardConnection(reader.createConnection())
    sys.exit(f"reader {name!r} not found; readers: {[r.name for r in readers()]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", default="Virtual PCD 00 00")
    parser.add_argument("--kvn", type=int, required=True)
    parser.add_argument("--enc", required=True)
    parser.add_argument("--mac", required=True)
    parser.add_argument("--dek", required=True)
    args = parser.parse_args()

    keys = StaticKeys(
        bytes.fromhex(args.enc), bytes.fromhex(args.mac), bytes.fromhex(args.dek)
    )
    ref = KeyRef(ScpKid.SCP03, args.kvn)

    # A wrong key set: yubikit refuses the card cryptogram.
    connection = connect(args.reader)
    session = SecurityDomainSession(connection)
    wrong = StaticKeys(bytes(16), bytes(16), bytes(16))
    try:
        session.authenticate(Scp03KeyParams(ref=ref, keys=wrong))
        sys.exit("authentication with a wrong key set succeeded")
    except ValueError as e:
        print(f"wrong key set refused: {e}")
    connection.close()

    connection = connect(args.reader)
    session = SecurityDomainSession(connection)
    session.authenticate(Scp03KeyParams(ref=ref, keys=keys))
    print(f"SCP03 session open at level 33 with {ref}")

    template = session.get_data(0x00E0)
    print(f"key information template {template.hex().upper()}")
    # GP §11.3.3.1: E0 { C0 (key id, version, type 88 AES, length) ... }.
    outer = Tlv(template)
    assert outer.tag == 0xE0, f"tag {outer.tag:X}"
    for entry in Tlv.parse_list(outer.value):
        value = Tlv.unpack(0xC0, entry)
        kid, kvn, key_type, length = value
        print(f"  key {kid:#04x} version {kvn:#04x} type {key_type:#04x} length {length}")
        assert kvn == args.kvn and key_type == 0x88 and length == len(keys.key_enc)

    recognition = session.get_data(0x0066)
    print(f"card recognition data {recognition.hex().upper()}")
    assert Tlv(recognition).tag == 0x66
    connection.close()
    print("yubikit SCP03 check: ok")


if __name__ == "__main__":
    main()
