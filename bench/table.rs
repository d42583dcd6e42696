//! The human-readable table printed before the JSON line: one row per
//! figure, read from the typed report.

use serde::Serialize;
use serde_json::Value;

use crate::report::Report;
use crate::stats::{Or, Percentiles, RequestCounts};

/// A figure as the JSON has it: numbers as serde_json writes them, `-`
/// for nothing, strings bare, anything else as JSON.
fn f<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v).unwrap_or(Value::Null) {
        Value::Number(n) => n.to_string(),
        Value::Null => "-".into(),
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The value as JSON text.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// "OP count, OP count, ..." of a relay's operations.
fn by_op(c: Option<&RequestCounts>) -> String {
    c.map(|c| {
        c.by_op
            .iter()
            .map(|(op, o)| format!("{op} {}", o.count))
            .collect::<Vec<_>>()
            .join(", ")
    })
    .unwrap_or_default()
}

/// `p50 .. (min .., max .., n ..)` and friends read from percentiles.
fn pick(p: &Percentiles, which: &str) -> String {
    f(&match which {
        "min" => p.min,
        "p50" => p.p50,
        "p90" => p.p90,
        "p99" => p.p99,
        "max" => p.max,
        _ => None,
    })
}

pub fn print(r: &Report) {
    let mut rows: Vec<(String, String)> = vec![];
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    let b = &r.build;
    row(
        "build",
        format!(
            "commit {}  src changes at build: {}",
            f(&b.info.get("commit")),
            match &b.git_status_src_before_build {
                a if !a.is_empty() => a.join(", "),
                _ => "none".into(),
            }
        ),
    );
    let (m, p) = (&r.machine, &r.params);
    row(
        "machine / params",
        format!(
            "nproc {}  load {} -> {}  N={} CONCURRENCY={} parts={}",
            m.nproc,
            m.loadavg_start,
            f(&m.loadavg_end),
            p.n,
            p.concurrency,
            json(&p.parts)
        ),
    );
    if let Some(s) = &r.single {
        let t = &s.apply_to_ready_ms;
        row(
            "single apply->Ready",
            format!(
                "p50 {} ms (min {}, max {}, n {})",
                pick(t, "p50"),
                pick(t, "min"),
                pick(t, "max"),
                t.n
            ),
        );
    }
    if let Some(t) = &r.throughput {
        let (o, bare) = (&t.first.operator, &t.first.bare);
        row(
            "throughput",
            format!(
                "{} conns: first apply -> all Ready {} s ({} conn/s); by condition times {} s; apply {} s",
                o.connections,
                f(&o.first_apply_to_all_ready_s),
                f(&o.connections_per_s),
                f(&o.first_apply_to_all_ready_s_by_condition_times),
                f(&o.apply_s)
            ),
        );
        row(
            "bare client",
            format!(
                "{} s ({} conn/s); operator/bare = {}",
                f(&bare.total_s),
                f(&bare.connections_per_s),
                f(&t.first.ratio_operator_over_bare)
            ),
        );
        if let Some(floor) = &t.first.floor {
            row(
                "kubernetes floor",
                format!(
                    "{} s (the bare client's requests + 1 status apply, no operator); floor/bare = {}, operator/floor = {}",
                    f(&floor.first_apply_to_all_ready_s),
                    f(&t.first.ratio_floor_over_bare),
                    f(&t.first.ratio_operator_over_floor)
                ),
            );
        }
        row(
            "rounds",
            format!(
                "median operator/bare {}, floor/bare {}, operator/floor {}; {}",
                f(&t.ratio_median),
                f(&t.ratio_floor_over_bare_median),
                f(&t.ratio_operator_over_floor_median),
                t.rounds
                    .iter()
                    .map(|x| format!(
                        "{} first: {} / {} s = {} (floor {} s)",
                        x.first,
                        f(&x.operator_s),
                        f(&x.bare_s),
                        f(&x.ratio),
                        f(&x.floor_s)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        let v = &o.operator_log.took_ms;
        row(
            "validation took_ms",
            format!(
                "p50 {}  p90 {}  p99 {}  max {}  (n {}; bare per-connection p50 {})",
                pick(v, "p50"),
                pick(v, "p90"),
                pick(v, "p99"),
                pick(v, "max"),
                v.n,
                pick(&bare.per_connection_ms, "p50")
            ),
        );
        let a = &o.apply_to_ready_ms_per_connection;
        row(
            "apply->Ready per conn",
            format!(
                "p50 {}  p90 {}  max {} ms",
                pick(a, "p50"),
                pick(a, "p90"),
                pick(a, "max")
            ),
        );
        row(
            "moto requests/validation",
            format!(
                "operator {}  bare {}",
                f(&t.first.requests_per_validation.operator),
                f(&t.first.requests_per_validation.bare)
            ),
        );
        for (who, c) in [
            ("  operator by op", &o.moto_requests),
            ("  bare by op", &bare.moto_requests),
        ] {
            if let Some(map) = c.by_op_per("validation") {
                row(
                    who,
                    map.iter()
                        .map(|(k, v)| format!("{k} {}", f(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
        }
        row(
            "moto requests/s",
            format!(
                "operator {}  bare {}",
                f(&t.first.requests_per_s.operator),
                f(&t.first.requests_per_s.bare)
            ),
        );
        let mj = &o.metrics;
        row(
            "status writes/conn",
            format!(
                "{}  ({})",
                f(&mj.status_writes_per_connection),
                json(&mj.status_patches)
            ),
        );
        row(
            "events/conn",
            format!(
                "{}  ({} objects; distribution {})",
                f(&o.events.per_connection),
                o.events.objects,
                json(&o.events.events_per_connection_distribution)
            ),
        );
        if let Some(c) = &t.counted_pass {
            row(
                "counted pass",
                format!(
                    "{} conns through the counting relay (not in the ratios): all Ready {} s; the relay counts below and the unchanged re-validation are from it",
                    c.connections,
                    f(&c.first_apply_to_all_ready_s)
                ),
            );
        }
        let k = o.kube_requests_at_relay.measured();
        row(
            "kube API requests/conn",
            format!(
                "relay {} ({} total: {}); operator metric: {}",
                f(&k.and_then(|k| k.per("connection"))),
                f(&k.map(|k| k.requests)),
                by_op(k),
                match &mj.kube_requests_metric {
                    Or::Note(s) => s.clone(),
                    v => format!(
                        "{} per conn {}",
                        f(&mj.kube_requests_metric_per_connection),
                        json(v)
                    ),
                }
            ),
        );
        row(
            "operator RSS",
            format!(
                "VmRSS {} KiB, VmHWM {} KiB (at all Ready: {} / {})",
                o.rss_after_quiet.vm_rss_kib,
                o.rss_after_quiet.vm_hwm_kib,
                o.rss_at_all_ready.vm_rss_kib,
                o.rss_at_all_ready.vm_hwm_kib
            ),
        );
        let u = o.revalidation_unchanged.measured();
        let uk = u.and_then(|u| u.kube_requests_at_relay.measured());
        row(
            "unchanged re-validation",
            format!(
                "{} connections again in {} s: {} status writes, {} events, {} kube API requests per conn ({})",
                f(&u.map(|u| u.connections)),
                f(&u.map(|u| u.touch_to_all_revalidated_s)),
                f(&u.and_then(|u| u.metrics.status_patches.get("{outcome=\"written\"}"))),
                f(&u.map(|u| u.new_events)),
                f(&uk.and_then(|k| k.per("connection"))),
                by_op(uk),
            ),
        );
        row("cpu s (operator run)", json(&o.cpu_s));
        row("cpu s (bare run)", json(&bare.cpu_s));
    }
    if let Some(i) = &r.irsa {
        for (label, x) in [
            ("irsa round 1", &i.round1_first_validation),
            ("irsa round 2", &i.round2_after_spec_change),
        ] {
            row(
                label,
                format!(
                    "{} conns / {} SAs: {} s; AssumeRoleWithWebIdentity {} ({} per conn, {} per SA); TokenRequests {}; status writes/conn {}",
                    i.connections,
                    i.service_accounts,
                    f(&x.seconds),
                    x.assume_role_with_web_identity,
                    f(&x.assume_role_with_web_identity_per_connection),
                    f(&x.assume_role_with_web_identity_per_service_account),
                    x.token_requests,
                    f(&x.metrics.status_writes_per_connection)
                ),
            );
        }
    }
    if let Some(c) = &r.cost {
        for (label, v) in [
            ("cost first validation", &c.first_validation),
            ("cost full re-validation", &c.full_revalidation),
            ("cost light check", &c.light_check),
        ] {
            row(
                label,
                format!(
                    "{} validations; per validation: S3 {} ({}), STS+IAM {}; by op {}",
                    v.validations,
                    f(&v.s3),
                    json(&v.s3_by_class),
                    f(&v.sts_iam),
                    json(&v.by_operation)
                ),
            );
        }
        let d = &c.per_connection_day;
        row(
            "cost per connection-day",
            format!(
                "{} S3 requests ({}), {} in all with STS and IAM: {} full + {} light at {} s (light rounds with --daily-request-budget {}); operator says {} (status.requestsPerDay)",
                f(&d.s3),
                json(&d.s3_by_class),
                f(&d.all),
                f(&d.full_validations),
                f(&d.light_checks),
                c.interval_s,
                c.light_budget,
                f(&c.operator_says.status_requests_per_day_per_connection)
            ),
        );
        row(
            "cost $/month",
            format!(
                "{} by connections at {} per 1,000; operator says {} for these {} ({} a day by class)",
                json(&c.monthly_dollars),
                json(&c.prices_per_thousand),
                f(&c.operator_says.all_estimated_monthly_cost_dollars),
                c.connections,
                json(&c.operator_says.all_requests_per_day)
            ),
        );
        row(
            "cost re-validation",
            format!(
                "status writes/conn {}",
                f(&c.revalidation_status_writes_per_connection)
            ),
        );
    }
    if let Some(mm) = &r.memory {
        row(
            "memory",
            format!(
                "{} conns + {} Secrets + {} ServiceAccounts in {} namespaces; created in {} s ({} creates/s)",
                mm.connections,
                mm.secrets_unrelated,
                mm.service_accounts,
                mm.namespaces,
                f(&mm.create_total_s),
                f(&mm.creates_per_s)
            ),
        );
        row(
            "memory settle",
            format!(
                "operator start -> ready {} s -> all have a status {} s",
                f(&mm.operator_start_to_ready_s),
                f(&mm.operator_start_to_all_settled_s)
            ),
        );
        let (s, l, r) = (&mm.rss_at_settled, &mm.rss_10s_later, &mm.rss_at_ready);
        row(
            "memory RSS",
            format!(
                "VmRSS {} KiB (anonymous {}, file {}), VmHWM {} KiB at settle; 10 s later {} / {}; at /readyz {} / {}",
                s.vm_rss_kib,
                s.rss_anon_kib,
                s.rss_file_kib,
                s.vm_hwm_kib,
                l.vm_rss_kib,
                l.vm_hwm_kib,
                r.vm_rss_kib,
                r.vm_hwm_kib
            ),
        );
    }
    if let Some(x) = &r.restart {
        row(
            "restart",
            format!(
                "{} conns, interval {} s: steady {} per {} s (measured {}, busiest window {}); after a restart busiest window {} = {}x steady; all validated once after {} s; windows {:?}",
                x.connections,
                x.interval_s,
                x.steady_expected_per_window,
                x.window_s,
                x.steady_measured_per_window,
                x.steady_max_window,
                x.after_max_window,
                x.peak_to_steady,
                x.after_all_validated_once_s,
                x.after_windows
            ),
        );
    }
    if let Some(h) = &r.handover {
        let (t, rel, left) = (
            &h.sigterm_to_new_leader_ms,
            &h.release_to_new_leader_ms,
            &h.lease_left_at_release_s,
        );
        row(
            "handover",
            format!(
                "SIGTERM -> standby leads p50 {} ms (min {}, max {}, n {}); release -> leads p50 {} ms; lease ({} s) left at the release p50 {} s (min {})",
                pick(t, "p50"),
                pick(t, "min"),
                pick(t, "max"),
                t.n,
                pick(rel, "p50"),
                h.lease_duration_s,
                pick(left, "p50"),
                pick(left, "min")
            ),
        );
    }
    if let Some(e) = &r.failed {
        row("FAILED", e.lines().next().unwrap_or_default().to_string());
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<width$}  {v}");
    }
}
