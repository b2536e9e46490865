//! A TCP proxy that delays every byte by a fixed time in each direction: a mobile link's
//! latency without its bandwidth limit.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Starts the proxy on a free loopback port; returns its address. It runs until the process
/// ends.
pub(crate) fn start(upstream: SocketAddr, delay: Duration) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                pipe(client, s2, delay);
                pipe(server, c2, delay);
            }
        }
    });
    Ok(addr)
}

/// Copies `from` to `to`, each chunk released `delay` after it was read.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        let mut queue = VecDeque::new();
        while let Ok(item) = rx.recv() {
            queue.push_back(item);
            while let Some((due, bytes)) = queue.pop_front() {
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                if to.write_all(&bytes).is_err() {
                    return;
                }
                while let Ok(more) = rx.try_recv() {
                    queue.push_back(more);
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
