//! `bare-pingora`: the smallest Pingora pass-through proxy to one fixed
//! plain-HTTP upstream. It is the throughput ceiling Tollgate is compared to.

use std::net::SocketAddr;

use async_trait::async_trait;
use clap::Parser;
use pingora::prelude::{HttpPeer, ProxyHttp, Result, Session};
use pingora::proxy::http_proxy_service;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;

#[derive(Parser)]
#[command(about = "Minimal Pingora pass-through proxy (benchmark baseline)")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18002")]
    listen: String,
    #[arg(long, default_value = "127.0.0.1:18001")]
    upstream: SocketAddr,
    /// Pingora worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

struct PassThrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() {
    env_logger::init();
    let args = Args::parse();
    let conf = ServerConf {
        threads: args.threads,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = http_proxy_service(
        &server.configuration,
        PassThrough {
            upstream: args.upstream,
        },
    );
    proxy.add_tcp(&args.listen);
    server.add_service(proxy);
    println!(
        "bare-pingora listening on {} -> {}",
        args.listen, args.upstream
    );
    server.run_forever();
}
