//! `conf/grafana-dashboard.json` and `conf/alerts.yaml` against a real gateway and a real
//! Prometheus: promtool accepts the rules; every metric their PromQL names is one a gateway
//! with every subsystem on (ledger, chain, Redis, probes, access log) exports after some
//! traffic; Prometheus scrapes that gateway, loads the rules, and evaluates every expression
//! of the dashboard without an error.

use super::*;
use crate::common::chain::Chain;
use crate::common::ledger::{billing_yaml, credit, migrated_db};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Function and aggregation names (and keywords) of PromQL that are followed by a parenthesis
/// or stand between expressions: never metric names.
const NOT_METRICS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "histogram_quantile",
    "label_values",
    "label_replace",
    "abs",
    "absent",
    "ceil",
    "floor",
    "round",
    "clamp_min",
    "clamp_max",
    "time",
    "vector",
    "scalar",
    "sort",
    "sort_desc",
    "max_over_time",
    "min_over_time",
    "avg_over_time",
    "sum_over_time",
    "changes",
    "resets",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];

/// Keywords whose parenthesis holds label names, not expressions.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression (or a Grafana `label_values(…)` query) reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    // Past the string that starts at `i` (its closing quote included).
    let skip_string = |i: &mut usize| {
        let q = b[*i];
        *i += 1;
        while *i < b.len() && b[*i] != q {
            *i += if b[*i] == b'\\' { 2 } else { 1 };
        }
        *i += 1;
    };
    // Past the group that opens at `i`, strings inside it included.
    let skip_to = |i: &mut usize, open: u8, close: u8| {
        let mut depth = 0;
        while *i < b.len() {
            match b[*i] {
                b'"' | b'\'' | b'`' => {
                    skip_string(i);
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        *i += 1;
                        return;
                    }
                }
                _ => {}
            }
            *i += 1;
        }
    };
    while i < b.len() {
        let c = b[i];
        if c == b'{' {
            skip_to(&mut i, b'{', b'}'); // label matchers
        } else if c == b'[' {
            skip_to(&mut i, b'[', b']'); // ranges and subqueries
        } else if c == b'"' || c == b'\'' || c == b'`' {
            skip_string(&mut i);
        } else if c.is_ascii_digit() || c == b'$' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"._$".contains(&b[i])) {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b':' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            let word = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
            if LABEL_LISTS.contains(&word) && b.get(j) == Some(&b'(') {
                i = j;
                skip_to(&mut i, b'(', b')');
            } else if !NOT_METRICS.contains(&word) && b.get(j) != Some(&b'(') {
                out.insert(word.to_string());
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn promql_names_are_read_as_metrics_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le, model) (rate(tollgate_x_bucket{instance=~"$instance", a="b{c}"}[$__rate_interval]))) > 1e6 and on(instance) up{job="t"} offset 5m / count(count by (version) (tollgate_build_info))"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["tollgate_build_info", "tollgate_x_bucket", "up"]
    );
}

/// Every PromQL expression of the dashboard (targets and variable queries) and the alerts.
fn expressions() -> (Vec<String>, Vec<String>) {
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("conf/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut dashboard = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            dashboard.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        // label_values(METRIC, LABEL): the metric is what must exist.
        if let Some(q) = v["query"]["query"].as_str() {
            let metric = q
                .trim_start_matches("label_values(")
                .split(',')
                .next()
                .unwrap();
            dashboard.push(metric.to_string());
        }
    }
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo().join("conf/alerts.yaml")).unwrap())
            .unwrap();
    let mut alerts = Vec::new();
    for g in rules["groups"].as_sequence().unwrap() {
        for r in g["rules"].as_sequence().unwrap() {
            alerts.push(r["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(dashboard.len() > 30 && alerts.len() > 10);
    (dashboard, alerts)
}

fn promtool() -> Command {
    Command::new("promtool")
}

#[test]
fn promtool_accepts_the_alerting_rules() {
    let out = promtool()
        .args(["check", "rules"])
        .arg(repo().join("conf/alerts.yaml"))
        .output()
        .expect("promtool (Debian package prometheus; bash scripts/install-deps.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

struct Prometheus {
    child: Child,
    dir: std::path::PathBuf,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real Prometheus scraping `target` every second as job `tollgate`, with the alerts loaded.
fn prometheus(target: &str) -> Prometheus {
    let dir = temp("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: tollgate\n    static_configs: [{{ targets: [\"{target}\"] }}]\n",
            repo().join("conf/alerts.yaml").display()
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (Debian package prometheus; bash scripts/install-deps.sh)");
    Prometheus {
        child,
        dir,
        url: format!("http://127.0.0.1:{port}"),
    }
}

impl Prometheus {
    async fn query(&self, q: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", q)])
            .send()
            .await;
        match r {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_and_alerts_query_is_exported_and_prometheus_scrapes_it() {
    // A gateway with every subsystem that registers metrics: the ledger, on-chain settlement
    // (reserve surplus), Redis (down: its error counters), probes, rate limits, the access log,
    // and a provider that fails (failovers, breaker, probe failures).
    let chain = Chain::deployed_by_cli(&[]).await;
    let url = migrated_db().await;
    let failing = MockDefaults::default();
    failing.switch.fail_with(500);
    let bad = Mock::start_with(failing).await;
    let good = Mock::start().await;
    let mut opts = GatewayOpts::new(format!(
        r#"
  - {{ id: bad, kind: openai, base_url: "http://{}/v1", priority: 1, models: [{{ id: gpt-test, probe: false, pricing: {{ prompt: 1, completion: 2 }} }}] }}
  - {{ id: good, kind: openai, base_url: "http://{}/v1", priority: 2, models: [{{ id: gpt-test, pricing: {{ prompt: 1, completion: 2 }} }}] }}
"#,
        bad.addr, good.addr
    ));
    // `bad` is found failing by a call (a failover), not by a probe.
    opts.billing = billing_yaml(&url, "");
    opts.public_url = Some(String::new());
    opts.health = "  probe_interval: 300ms\n  probe_timeout: 2s\n".into();
    let access = temp("dash-access.log");
    opts.extra = format!(
        "{}  solvency_every: 200ms\nredis: {{ url: \"redis://127.0.0.1:{}\", timeout: 20ms, connect_timeout: 50ms }}\nlimits: {{ requests_per_minute: 6 }}\nlog: {{ access: {} }}\n",
        chain.yaml(""),
        free_port(),
        access.display()
    );
    opts.env = vec![chain.env()];
    let gw = Gateway::start(opts).await;
    credit(&gw, WALLET, "5");

    // Traffic: streamed and plain calls (failing over from `bad`), a refused key, a wallet
    // over its rate limit.
    for i in 0..8 {
        // `bad` first whatever the probes found about `good` meanwhile: every call fails over.
        let mut body = chat("gpt-test", i % 2 == 0);
        body["provider"] = json!({"order": ["bad", "good"]});
        let r = gw.post("/v1/chat/completions", &body, &[]).await;
        assert!([200, 429].contains(&r.status().as_u16()), "{}", r.status());
        let _ = r.bytes().await;
    }
    let refused = post_json(
        &gw.url("/v1/chat/completions"),
        Some("sk-nobody"),
        &chat("gpt-test", false),
        &[],
    )
    .await;
    assert_eq!(refused.status(), 401);

    let (dashboard, alerts) = expressions();
    let wanted: BTreeSet<String> = dashboard
        .iter()
        .chain(&alerts)
        .flat_map(|e| metric_names(e))
        .collect();
    // Probes and the solvency watch run on their own clocks: give them a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let text = gw.metrics().await;
        let exported: BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split(['{', ' ']).next().unwrap())
            .collect();
        // `up` is written by Prometheus itself (checked below).
        let missing: BTreeSet<&String> = wanted
            .iter()
            .filter(|n| *n != "up" && !exported.contains(n.as_str()))
            .collect();
        if missing.is_empty() || std::time::Instant::now() > deadline {
            break format!("{missing:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(missing, "{}", "queried but not exported");
    assert!(
        wanted.contains("tollgate_time_to_first_token_seconds_bucket")
            && wanted.contains("process_open_fds")
    );

    // A real Prometheus scrapes the gateway and loads the rules.
    let target = gw.admin.trim_start_matches("http://").to_string();
    let prom = prometheus(&target);
    wait_for(
        "Prometheus to scrape the gateway",
        Duration::from_secs(30),
        || async {
            let up = prom.query("up{job=\"tollgate\"}").await;
            let built = prom.query("tollgate_build_info{job=\"tollgate\"}").await;
            up["data"]["result"][0]["value"][1] == "1"
                && built["data"]["result"][0]["value"][1] == "1"
        },
    )
    .await;
    let rules: Value = reqwest::get(format!("{}/api/v1/rules", prom.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .count();
    assert_eq!(loaded, alerts.len(), "every alert loaded: {rules}");
    // Every dashboard expression evaluates (Grafana's variables filled in as it would).
    for e in &dashboard {
        let q = e
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*")
            .replace("$model", ".*");
        let v = prom.query(&q).await;
        assert_eq!(v["status"], "success", "{q}: {v}");
    }
    let _ = std::fs::remove_file(&access);
}
