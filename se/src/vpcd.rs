//! Attaching a card to pcscd through vsmartcard's vpcd driver.
//!
//! vpcd listens on TCP (35963 for "Virtual PCD 00 00"); the card side connects as a client.
//! Every frame is a 2-byte big-endian length and a payload. A 1-byte payload is a control
//! message: `00` power off, `01` power on, `02` reset, `04` get ATR (answered with the ATR).
//! Any other payload is a command APDU, answered with the response APDU.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A card as vpcd sees it.
pub trait VpcdCard {
    /// The answer to reset.
    fn atr(&self) -> Vec<u8>;
    /// Power on or reset: a warm start, the card's volatile state (selection, sessions) cleared.
    fn reset(&mut self);
    /// Power off: volatile state cleared.
    fn power_off(&mut self);
    /// A command APDU in, a response APDU out.
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8>;
}

/// Control bytes of the vpcd protocol.
mod control {
    pub(super) const POWER_OFF: u8 = 0x00;
    pub(super) const POWER_ON: u8 = 0x01;
    pub(super) const RESET: u8 = 0x02;
    pub(super) const GET_ATR: u8 = 0x04;
}

/// Serves `card` to the vpcd at `addr` until `stop` is set, reconnecting whenever the link
/// drops (pcscd restarted, or not yet started). Progress goes to stderr.
pub fn serve(card: &mut dyn VpcdCard, addr: &str, stop: &Arc<AtomicBool>) -> io::Result<()> {
    let mut announced_wait = false;
    while !stop.load(Ordering::Relaxed) {
        match TcpStream::connect(addr) {
            Ok(stream) => {
                eprintln!("kazashi-se: connected to vpcd at {addr}");
                announced_wait = false;
                match serve_connection(card, stream, stop) {
                    Ok(()) => eprintln!("kazashi-se: vpcd closed the connection; reconnecting"),
                    Err(e) => eprintln!("kazashi-se: vpcd link lost ({e}); reconnecting"),
                }
                card.power_off();
            }
            Err(e) => {
                if !announced_wait {
                    eprintln!("kazashi-se: waiting for vpcd at {addr} ({e})");
                    announced_wait = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    Ok(())
}

/// Serves one vpcd connection until it closes.
pub fn serve_connection(
    card: &mut dyn VpcdCard,
    mut stream: TcpStream,
    stop: &Arc<AtomicBool>,
) -> io::Result<()> {
    // Without these every APDU stalls ~40 ms (Nagle and delayed ACK).
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        let _ = socket2::SockRef::from(&stream).set_quickack(true);
        let mut len = [0u8; 2];
        match read_exact_or_eof(&mut stream, &mut len)? {
            ReadOutcome::Eof => return Ok(()),
            ReadOutcome::TimedOut => continue,
            ReadOutcome::Done => {}
        }
        let len = usize::from(u16::from_be_bytes(len));
        let mut payload = vec![0; len];
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.read_exact(&mut payload)?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        match payload.as_slice() {
            [control::POWER_OFF] => card.power_off(),
            [control::POWER_ON] | [control::RESET] => card.reset(),
            [control::GET_ATR] => send(&mut stream, &card.atr())?,
            [_] => {} // Unknown control byte: vpcd expects no answer.
            apdu => {
                let response = card.transmit(apdu);
                send(&mut stream, &response)?;
            }
        }
    }
}

enum ReadOutcome {
    Done,
    Eof,
    TimedOut,
}

fn read_exact_or_eof(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<ReadOutcome> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) => filled += n,
            Err(e)
                if filled == 0
                    && matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                return Ok(ReadOutcome::TimedOut);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ReadOutcome::Done)
}

fn send(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "vpcd frame over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

/// An ATR for a T=1 card with the given historical bytes (ISO/IEC 7816-3 §8.2).
pub fn atr_with_history(historical: &[u8]) -> Vec<u8> {
    let k = historical.len().min(15) as u8;
    // TS direct convention; T0: TD1 present, K historical bytes; TD1: TD2 present, T=0;
    // TD2: T=1. TCK makes the XOR of T0..TCK zero (required when T=1 is indicated).
    let mut atr = vec![0x3B, 0x80 | k, 0x80, 0x01];
    atr.extend_from_slice(&historical[..usize::from(k)]);
    let tck = atr[1..].iter().fold(0, |x, b| x ^ b);
    atr.push(tck);
    atr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_checksum() {
        let atr = atr_with_history(b"kazashi\x01");
        assert_eq!(atr[..4], [0x3B, 0x88, 0x80, 0x01]);
        assert_eq!(atr[1..].iter().fold(0u8, |x, b| x ^ b), 0);
    }
}
