//! Benchmark of the test API server: start-up time and requests per second.
//!
//! Run: `cargo bench -p testkit --bench apiserver` (results are written down in
//! docs/benchmarks.md). Every request goes to 127.0.0.1 through kube-rs, as the product's.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Config};
use serde_json::json;
use testkit::apiserver::TestApiServer;

const STARTS: usize = 200;
const REQUESTS: usize = 5_000;
const CONCURRENCY: usize = 8;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn rate<F, Fut>(label: &str, make: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    stream::iter(0..REQUESTS)
        .map(&make)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let elapsed = started.elapsed();
    println!(
        "{label:<28} {:>8.0} requests/s ({REQUESTS} requests, {CONCURRENCY} at a time, {:.2} s)",
        REQUESTS as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut starts = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let t = Instant::now();
        let server = TestApiServer::start().await.expect("server");
        starts.push(t.elapsed());
        drop(server);
    }
    println!(
        "start-up (median of {STARTS})   {:>8.1} µs",
        median(starts).as_secs_f64() * 1e6
    );

    let server = TestApiServer::start().await.expect("server");
    let client = Client::try_from(Config::new(server.url().parse().expect("url"))).expect("client");
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "bench"}, "data": {"a": "1"}}))
            .expect("cm");
    maps.create(&PostParams::default(), &cm)
        .await
        .expect("create");

    rate("GET one ConfigMap", |_| {
        let maps = maps.clone();
        async move {
            maps.get("bench").await.expect("get");
        }
    })
    .await;
    rate("merge PATCH (a write)", |i| {
        let maps = maps.clone();
        async move {
            let patch = Patch::Merge(json!({"data": {"n": i.to_string()}}));
            maps.patch("bench", &PatchParams::default(), &patch)
                .await
                .expect("patch");
        }
    })
    .await;
    rate("server-side apply", |i| {
        let maps = maps.clone();
        async move {
            let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"}, "data": {"m": (i % 10).to_string()}});
            maps.patch("bench", &PatchParams::apply("bench").force(), &Patch::Apply(applied))
                .await
                .expect("apply");
        }
    })
    .await;
}
