//! Streaming word count over a TCP text stream: every word updates its running count.
//!
//! ```text
//! cargo run --release --example socket_word_count -- [HOST:PORT] [--parallelism N]
//! ```
//! With an address, it reads the lines a server there sends (`nc -lk 9999` is one) until the
//! server closes the connection or Ctrl-C stops the job. Without one, it starts a local server
//! on a loopback port that sends the bundled sample text once and closes, so the example runs
//! by itself.

use std::io::Write;
use std::net::TcpListener;

use dataflow::prelude::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/sample.txt");

dataflow! {
    /// Counts words arriving on a TCP socket, emitting each word's updated count.
    pub job socket_word_count(address: Option<String>) {
        socket_lines(address.unwrap_or_else(serve_sample))
            .flat_map(|line| line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>())
            .key_by(|word| word.clone())
            .count()
            .print();
    }
}

/// Serves the bundled sample once on a loopback port; returns its address.
fn serve_sample() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("local address").to_string();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let text = std::fs::read(SAMPLE).expect("read the bundled sample");
            let _ = stream.write_all(&text);
        }
    });
    address
}

fn main() -> dataflow::Result<()> {
    socket_word_count::main()
}

// A faster allocator than the system's for an engine that allocates per key and per batch
// on several threads (PageRank on 1M vertices: 19% faster; see BENCHMARKS.md section 10).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
