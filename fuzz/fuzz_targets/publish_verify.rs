//! TUF metadata as the server's publish verification reads it: a `POST /v1/admin/publish` body
//! (`PublishRequest`: root chain, targets.json, product roles as text) through
//! `airlock_core::verify::verify_submission` against a fixed published state (the fixture
//! repository's first root, nothing published yet). Each product role text is also read with
//! `read_product_targets` whatever its signatures, so the release fields are fuzzed too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use airlock_core::api::PublishRequest;
use airlock_core::names;
use airlock_core::verify::{self, Published, Submission};

fn published() -> &'static Published {
    static PUBLISHED: OnceLock<Published> = OnceLock::new();
    PUBLISHED.get_or_init(|| {
        let fixture = airlock_fuzz::fixture();
        let root =
            verify::parse("1.root.json", fixture.root_bytes.clone()).expect("fixture root parses");
        Published {
            roots: vec![root],
            ..Published::default()
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = airlock_server::routes::parse_json::<PublishRequest>(data) else {
        return;
    };
    let fixture = airlock_fuzz::fixture();
    let submission = Submission::from(&req);
    if let Ok(verified) = verify::verify_submission(
        published(),
        &submission,
        &fixture.online_key_id,
        fixture.now,
    ) {
        for (name, sha256, _) in verified.all_targets() {
            assert!(names::split_target_name(&name).is_ok(), "{name:?}");
            assert!(names::is_sha256_hex(&sha256), "{sha256:?}");
        }
        for product in verified.products.keys() {
            assert!(names::check_product_id(product).is_ok(), "{product:?}");
        }
    }
    for (role, text) in &req.roles {
        if let Ok(file) = verify::parse::<tough::schema::Targets>(role, text.clone().into_bytes()) {
            if let Ok(read) = verify::read_product_targets(role, &file.signed.signed) {
                for release in &read.releases {
                    let (product, _) = names::split_target_name(&release.name)
                        .expect("a release read from a role has a valid target name");
                    assert_eq!(product, role, "a release outside its product's role");
                }
            }
        }
    }
});
