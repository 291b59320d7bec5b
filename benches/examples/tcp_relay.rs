//! The calibration relay of the end-to-end benchmark: a bare tokio TCP relay that copies
//! bytes both ways with `copy_bidirectional` and looks at none of them. It shows what any
//! tokio proxy costs on the machine, before gatekit's work per message.
//!
//! ```text
//! cargo run --release -p gatekit-benches --example tcp_relay -- 127.0.0.1:6433 127.0.0.1:5432
//! ```

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: tcp_relay LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let parse = |what: &str, a: &str| {
        a.parse::<SocketAddr>().unwrap_or_else(|e| {
            eprintln!("tcp_relay: {what} {a}: {e}");
            std::process::exit(2);
        })
    };
    let (listen, upstream) = (
        parse("listen address", &listen),
        parse("upstream", &upstream),
    );
    let listener = match TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tcp_relay: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}
