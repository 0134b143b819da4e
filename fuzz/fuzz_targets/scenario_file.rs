//! Scenario files (`airlock-sim run scenario.toml`): `Scenario::parse` (TOML and the file's
//! checks), then what a run reads from an accepted file before it starts: relative dates
//! resolved against the start, rollout waves and health rules (`airlock_core::rollout`).
#![no_main]

use libfuzzer_sys::fuzz_target;

use airlock_sim::scenario::spec::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scenario) = Scenario::parse(text) else {
        return;
    };
    assert!(scenario.duration.0 > 0 && scenario.step.0 > 0);
    assert!(scenario.fleet.devices >= 1);
    let start = airlock_fuzz::fixture().now;
    for p in &scenario.products {
        let _ = p.support_start.resolve(start);
        let _ = p.feature_until.resolve(start);
        let _ = p.security_until.resolve(start);
    }
    for e in &scenario.events {
        if let Some(d) = &e.security_until {
            let _ = d.resolve(start);
        }
        if let Some(d) = &e.feature_until {
            let _ = d.resolve(start);
        }
    }
    for r in &scenario.releases {
        if let Some(rollout) = &r.rollout {
            let _ = airlock_core::rollout::parse_waves(&rollout.waves);
            if let Some(rule) = &rollout.pause_if {
                let _ = airlock_core::rollout::parse_health_rule(rule);
            }
        }
    }
});
