//! `switchyard-demo-backend`: the tiny backend `scripts/up` routes the demo zone to.
//!
//! Answers every request with 200 and a short text naming the host and path it was asked
//! for, so that `curl -H 'Host: demo.localhost' http://127.0.0.1:8080/` shows a request
//! that went through the proxy. Not for production: it exists to make the local stack
//! answer something on its first run. It never reads or writes anything but the socket.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    let body = format!(
        "Hello from the Switchyard demo backend.\nhost: {}\npath: {}\nforwarded for: {}\nrequest id: {}\n",
        header("x-forwarded-host"),
        req.uri().path(),
        header("x-forwarded-for"),
        header("x-request-id"),
    );
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        "content-type",
        "text/plain; charset=utf-8".parse().expect("a valid header"),
    );
    Ok(resp)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let addr: SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "switchyard-demo-backend: \"{listen}\" is not an address like 127.0.0.1:8090: {e}"
            );
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("switchyard-demo-backend: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!("switchyard-demo-backend listening on http://{addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
